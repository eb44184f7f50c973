"""Pure-functional JAX environments (no dependency on `jaxrl`)."""

from envs import spaces, wrappers
from envs.core import Environment
from envs.registry import make, register, registered_names

__all__ = ["Environment", "make", "register", "registered_names", "spaces", "wrappers"]
