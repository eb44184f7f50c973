"""Adapters that run other libraries' JAX environments through our contract (imported lazily)."""
