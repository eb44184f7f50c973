"""An on-device replay buffer: a fixed-capacity ring of samples, uniform sampling of the filled slots.

A buffer is a plain pytree (`Buffer`), so it lives in the training state,
checkpoints with it and is updated by pure functions: `init`, `add`, `sample`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Buffer:
    """``data``: a pytree of ``[capacity, ...]`` arrays; ``insert``: ``int32[]`` the next slot written;
    ``size``: ``int32[]`` slots filled (grows to the capacity, then stays)."""

    data: Any
    insert: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(example: Any, capacity: int) -> Buffer:
    """An empty buffer of ``capacity`` samples shaped like ``example`` (one sample, no batch axis)."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return Buffer(data=data, insert=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def add(buffer: Buffer, rows: Any, valid: jax.Array) -> Buffer:
    """Write the rows of ``rows`` (leaves ``[N, ...]``) where ``valid`` (``bool[N]``), in order, after the last.

    Fixed shapes under jit: invalid rows are scattered out of bounds and dropped.
    At most ``capacity`` rows may be valid at once (else slots would collide).
    """
    capacity = buffer.capacity
    valid = valid.astype(bool)
    count = valid.sum(dtype=jnp.int32)
    position = (buffer.insert + jnp.cumsum(valid, dtype=jnp.int32) - 1) % capacity
    index = jnp.where(valid, position, capacity)
    data = jax.tree.map(lambda store, new: store.at[index].set(new.astype(store.dtype), mode="drop"),
                        buffer.data, rows)
    return Buffer(data=data, insert=(buffer.insert + count) % capacity,
                  size=jnp.minimum(buffer.size + count, capacity))


def sample(buffer: Buffer, key: jax.Array, batch_size: int) -> Any:
    """``batch_size`` samples drawn uniformly, with replacement, from the filled slots (slot 0 when empty)."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda store: store[index], buffer.data)


__all__ = ["Buffer", "add", "init", "sample"]
