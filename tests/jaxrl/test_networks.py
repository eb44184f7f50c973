"""The orthogonal initialiser: same values as flax's, orthonormal, and no LAPACK under vmap."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks import orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (3, 3, 2, 32), (256, 7)])
def test_orthogonal_matches_flax(shape):
    key = jax.random.PRNGKey(3)
    ours = jax.jit(lambda k: orthogonal(1.4)(k, shape))(key)
    theirs = nn.initializers.orthogonal(1.4)(key, shape)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)


def test_orthogonal_columns_are_orthonormal():
    w = orthogonal(2.0)(jax.random.PRNGKey(0), (64, 64)) / 2.0
    np.testing.assert_allclose(w.T @ w, np.eye(64), atol=1e-5)
    wide = orthogonal(1.0)(jax.random.PRNGKey(1), (4, 64))
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)


def test_vmapped_initialiser_has_no_lapack_call():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    hlo = jax.jit(jax.vmap(lambda k: orthogonal(1.0)(k, (64, 64)))).lower(keys).as_text()
    assert "lapack" not in hlo.lower() and "householder" not in hlo.lower()
    batched = jax.vmap(lambda k: orthogonal(1.0)(k, (64, 64)))(keys)
    single = jnp.stack([orthogonal(1.0)(k, (64, 64)) for k in keys])
    np.testing.assert_allclose(batched, single, atol=1e-6)
