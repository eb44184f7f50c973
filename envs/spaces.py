"""Action and observation spaces: what values an environment takes and returns.

Spaces are plain Python objects (not pytrees): they describe shapes and bounds
and can sample or check values under `jit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Discrete:
    """Integers in ``[0, n)``; scalar shape."""

    n: int
    dtype: Any = jnp.int32

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.logical_and(x >= 0, x < self.n) & (jnp.floor(x) == x)


@dataclass(frozen=True)
class Box:
    """Real vectors with element-wise bounds ``low <= x <= high``.

    ``low`` and ``high`` are scalars or arrays broadcastable to ``shape``;
    they are stored as numpy arrays so the space stays hashable-free of
    tracers and can be built under `jit`.
    """

    low: Any
    high: Any
    shape: tuple[int, ...]
    dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", np.broadcast_to(np.asarray(self.low, np.float32), self.shape))
        object.__setattr__(self, "high", np.broadcast_to(np.asarray(self.high, np.float32), self.shape))

    def sample(self, key: jax.Array) -> jax.Array:
        # Infinite bounds are sampled from a standard normal, like Gymnasium.
        low = jnp.asarray(self.low)
        high = jnp.asarray(self.high)
        bounded = jnp.isfinite(low) & jnp.isfinite(high)
        key_u, key_n = jax.random.split(key)
        uniform = jax.random.uniform(
            key_u, self.shape, minval=jnp.where(bounded, low, 0.0), maxval=jnp.where(bounded, high, 1.0)
        )
        normal = jax.random.normal(key_n, self.shape)
        return jnp.where(bounded, uniform, normal).astype(self.dtype)

    def __repr__(self) -> str:
        def bound(b):
            return f"{float(b.flat[0]):g}" if b.size and np.all(b == b.flat[0]) else "[...]"

        return f"Box({bound(self.low)}, {bound(self.high)}, {tuple(self.shape)})"

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all(x >= self.low) & jnp.all(x <= self.high) & (x.shape == tuple(self.shape))


Space = Discrete | Box
