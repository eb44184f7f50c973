"""The replay buffer: ring writes of the valid rows only, uniform samples of the filled slots."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.alphazero import buffer

pytestmark = pytest.mark.usefixtures("fast_compilation")
add = jax.jit(buffer.add)


def rows(values):
    values = jnp.asarray(values, jnp.float32)
    return {"x": values, "y": jnp.stack([values, -values], axis=-1)}


def test_writes_valid_rows_in_order_and_wraps_around():
    buf = buffer.init({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=5)
    buf = add(buf, rows([0, 99, 1, 2]), jnp.array([True, False, True, True]))
    assert int(buf.size) == 3 and int(buf.insert) == 3
    np.testing.assert_array_equal(buf.data["x"], [0, 1, 2, 0, 0])
    buf = add(buf, rows([3, 4, 5, 6]), jnp.ones(4, bool))
    assert int(buf.size) == 5 and int(buf.insert) == 2
    np.testing.assert_array_equal(buf.data["x"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buf.data["y"][:, 1], -buf.data["x"])
    buf = add(buf, rows([7, 8]), jnp.zeros(2, bool))  # nothing valid: nothing changes
    assert int(buf.size) == 5 and int(buf.insert) == 2
    np.testing.assert_array_equal(buf.data["x"], [5, 6, 2, 3, 4])


def test_samples_only_filled_slots_uniformly():
    buf = buffer.init({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=16)
    buf = add(buf, rows([1, 2, 3]), jnp.ones(3, bool))
    drawn = np.asarray(jax.jit(buffer.sample, static_argnums=2)(buf, jax.random.PRNGKey(0), 3000)["x"])
    assert set(np.unique(drawn)) == {1.0, 2.0, 3.0}
    counts = np.bincount(drawn.astype(int))[1:]
    assert counts.min() > 850, counts  # about 1000 each


def test_is_a_plain_pytree_of_arrays():
    buf = buffer.init({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=4)
    leaves, treedef = jax.tree.flatten(buf)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves) and len(leaves) == 4
    again = jax.tree.unflatten(treedef, leaves)
    assert again.capacity == 4 and jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), buf, again))
