"""classic control environments."""
