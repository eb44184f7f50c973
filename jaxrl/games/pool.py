"""A pool of past policy snapshots on device: a ring buffer of parameter pytrees for evaluation matches."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class OpponentPool:
    """A ring buffer of past parameter snapshots, stacked on device.

    params: the network parameters with a leading ``[capacity]`` axis on every leaf.
    added: ``int32[]``, snapshots added so far; slot ``added % capacity`` is written next,
        so once full the oldest snapshot is replaced.
    """

    params: Any
    added: jax.Array

    @property
    def capacity(self) -> int:
        return int(jax.tree.leaves(self.params)[0].shape[0])

    def size(self) -> int:
        """Filled slots (host side)."""
        return min(int(self.added), self.capacity)


def pool_init(params: Any, capacity: int) -> OpponentPool:
    """An empty pool for snapshots shaped like ``params`` (slots hold zeros until filled)."""
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"opponent pool capacity must be a positive int, got {capacity!r}")
    stacked = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), params)
    return OpponentPool(params=stacked, added=jnp.zeros((), jnp.int32))


def pool_add(pool: OpponentPool, params: Any) -> OpponentPool:
    """Writes ``params`` into slot ``added % capacity`` (jit-able; the pool stays on device)."""
    capacity = jax.tree.leaves(pool.params)[0].shape[0]
    slot = pool.added % capacity
    stacked = jax.tree.map(lambda stack, x: stack.at[slot].set(x), pool.params, params)
    return OpponentPool(params=stacked, added=pool.added + 1)


def pool_member(pool: OpponentPool, slot: int | jax.Array) -> Any:
    """The parameters in ``slot`` (may be traced)."""
    return jax.tree.map(lambda stack: stack[slot], pool.params)


__all__ = ["OpponentPool", "pool_add", "pool_init", "pool_member"]
