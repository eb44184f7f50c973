"""puzzle environments: single-player games with a legal-action mask."""
