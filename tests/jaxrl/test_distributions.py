"""Action distributions: Categorical, MaskedCategorical and DiagGaussian against numpy closed forms."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks import Categorical, DiagGaussian, MaskedCategorical, make_distribution

NUM_SAMPLES = 20_000


# Each helper compiles once per distribution type and shape (eager dispatch is slow on CPU).
@jax.jit
def eval_log_prob(dist, actions):
    return dist.log_prob(actions)


@jax.jit
def eval_entropy(dist):
    return dist.entropy()


@jax.jit
def draw(dist, key):
    return dist.sample(key)


def np_softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# -- Categorical ------------------------------------------------------------------

LOGITS = np.array([[2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]], np.float32)


def test_categorical_log_prob_and_entropy():
    dist = Categorical(jnp.asarray(LOGITS))
    probs = np_softmax(LOGITS.astype(np.float64))
    for action in range(4):
        actions = jnp.full((2,), action, jnp.int32)
        np.testing.assert_allclose(eval_log_prob(dist, actions), np.log(probs[:, action]), rtol=1e-5)
    expected_entropy = -(probs * np.log(probs)).sum(-1)
    np.testing.assert_allclose(eval_entropy(dist), expected_entropy, rtol=1e-5)
    assert float(eval_entropy(dist)[1]) == pytest.approx(math.log(4), rel=1e-6)
    np.testing.assert_array_equal(dist.mode(), [0, 0])


def test_categorical_sample_frequencies():
    logits = jnp.broadcast_to(jnp.asarray(LOGITS[0]), (NUM_SAMPLES, 4))
    samples = np.asarray(draw(Categorical(logits), jax.random.PRNGKey(0)))
    assert samples.dtype == np.int32 and samples.shape == (NUM_SAMPLES,)
    frequencies = np.bincount(samples, minlength=4) / NUM_SAMPLES
    # Standard error <= 0.0036 at 20k samples; allow ~4 sigma.
    np.testing.assert_allclose(frequencies, np_softmax(LOGITS[0].astype(np.float64)), atol=0.015)


# -- MaskedCategorical ------------------------------------------------------------

# The illegal actions carry the *largest* logits, so any leak would show.
MASKED_LOGITS = np.array([[5.0, 1.0, 0.0, 8.0, -1.0], [3.0, 3.0, 9.0, 0.5, 0.5]], np.float32)
MASK = np.array([[False, True, True, False, True], [True, False, False, True, True]])


def renormalised(logits, mask):
    probs = np.where(mask, np.exp(logits.astype(np.float64)), 0.0)
    return probs / probs.sum(-1, keepdims=True)


def test_masked_categorical_never_samples_illegal_actions():
    logits = jnp.broadcast_to(jnp.asarray(MASKED_LOGITS), (NUM_SAMPLES // 2, 2, 5))
    mask = jnp.broadcast_to(jnp.asarray(MASK), (NUM_SAMPLES // 2, 2, 5))
    samples = np.asarray(draw(MaskedCategorical(logits, mask), jax.random.PRNGKey(1)))
    for row in range(2):
        counts = np.bincount(samples[:, row], minlength=5)
        assert counts[~MASK[row]].sum() == 0, f"illegal action sampled in row {row}: {counts}"
        frequencies = counts / samples.shape[0]
        np.testing.assert_allclose(frequencies, renormalised(MASKED_LOGITS[row], MASK[row]), atol=0.02)


def test_masked_categorical_log_prob_is_renormalised_softmax_over_legal():
    dist = MaskedCategorical(jnp.asarray(MASKED_LOGITS), jnp.asarray(MASK))
    probs = renormalised(MASKED_LOGITS, MASK)
    for row in range(2):
        for action in np.flatnonzero(MASK[row]):
            value = eval_log_prob(dist, jnp.full((2,), action, jnp.int32))[row]
            assert float(value) == pytest.approx(math.log(probs[row, action]), rel=1e-5, abs=1e-6)
    # Legal probabilities sum to one.
    legal_total = [
        sum(
            math.exp(float(eval_log_prob(dist, jnp.full((2,), a, jnp.int32))[row]))
            for a in np.flatnonzero(MASK[row])
        )
        for row in range(2)
    ]
    np.testing.assert_allclose(legal_total, 1.0, rtol=1e-5)
    # Illegal actions: probability exactly zero.
    for row in range(2):
        for action in np.flatnonzero(~MASK[row]):
            value = float(eval_log_prob(dist, jnp.full((2,), action, jnp.int32))[row])
            assert math.exp(value) == 0.0
    # Mode is the best legal action, not the best logit.
    np.testing.assert_array_equal(dist.mode(), [1, 0])


def test_masked_categorical_entropy_over_legal_actions_only():
    dist = MaskedCategorical(jnp.asarray(MASKED_LOGITS), jnp.asarray(MASK))
    probs = renormalised(MASKED_LOGITS, MASK)
    expected = [-sum(p * math.log(p) for p in probs[row][MASK[row]]) for row in range(2)]
    np.testing.assert_allclose(eval_entropy(dist), expected, rtol=1e-5)
    # Equal logits on the legal actions: entropy is log(number of legal actions).
    uniform = MaskedCategorical(jnp.zeros((1, 5)), jnp.asarray([[True, False, True, False, False]]))
    assert float(eval_entropy(uniform)[0]) == pytest.approx(math.log(2), rel=1e-6)


def test_masked_categorical_single_legal_action():
    mask = jnp.asarray([[False, False, True, False, False]])
    dist = MaskedCategorical(jnp.asarray(MASKED_LOGITS[:1]), mask)
    many = MaskedCategorical(jnp.broadcast_to(dist.logits, (1000, 5)), jnp.broadcast_to(mask, (1000, 5)))
    np.testing.assert_array_equal(draw(many, jax.random.PRNGKey(2)), 2)
    assert float(eval_log_prob(dist, jnp.asarray([2]))[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(eval_entropy(dist)[0]) == pytest.approx(0.0, abs=1e-6)


def test_masked_categorical_gradients_finite_and_zero_on_illegal_logits():
    mask = jnp.asarray(MASK)
    actions = jnp.asarray([2, 3])  # legal in each row

    def objective(logits):
        dist = MaskedCategorical(logits, mask)
        return eval_log_prob(dist, actions).sum() + eval_entropy(dist).sum()

    grads = np.asarray(jax.jit(jax.grad(objective))(jnp.asarray(MASKED_LOGITS)))
    assert np.all(np.isfinite(grads))
    np.testing.assert_array_equal(grads[~MASK], 0.0)
    assert np.abs(grads[MASK]).sum() > 1e-3
    # d log p(a) / d logits = onehot(a) - p over the legal actions.
    entropy_free = jax.jit(jax.grad(lambda x: eval_log_prob(MaskedCategorical(x, mask), actions).sum()))(
        jnp.asarray(MASKED_LOGITS)
    )
    probs = renormalised(MASKED_LOGITS, MASK)
    np.testing.assert_allclose(entropy_free, np.eye(5)[[2, 3]] - probs, atol=1e-6)


def test_masked_categorical_with_all_legal_equals_categorical():
    logits = jnp.asarray(LOGITS)
    masked = MaskedCategorical(logits, jnp.ones_like(logits, bool))
    plain = Categorical(logits)
    actions = jnp.asarray([3, 1])
    np.testing.assert_allclose(eval_log_prob(masked, actions), eval_log_prob(plain, actions), rtol=1e-6)
    np.testing.assert_allclose(eval_entropy(masked), eval_entropy(plain), rtol=1e-6)


# -- DiagGaussian -----------------------------------------------------------------

MEAN = np.array([[0.0, 1.0, -2.0], [0.5, 0.5, 0.5]], np.float32)
LOG_STD = np.array([0.0, -1.0, 0.7], np.float32)


def np_gaussian_log_prob(x, mean, log_std):
    std = np.exp(log_std.astype(np.float64))
    density = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
    return np.log(density).sum(-1)


def test_gaussian_log_prob_closed_form():
    dist = DiagGaussian(jnp.asarray(MEAN), jnp.asarray(LOG_STD))
    actions = np.array([[0.3, 0.9, -1.0], [-0.5, 2.0, 0.0]], np.float32)
    expected = np_gaussian_log_prob(actions, MEAN, LOG_STD)
    np.testing.assert_allclose(eval_log_prob(dist, jnp.asarray(actions)), expected, rtol=1e-5)
    # At the mean of a standard normal in 1-D: -0.5 log(2 pi).
    unit = DiagGaussian(jnp.zeros((1, 1)), jnp.zeros((1,)))
    at_mean = float(eval_log_prob(unit, jnp.zeros((1, 1)))[0])
    assert at_mean == pytest.approx(-0.5 * math.log(2 * math.pi), rel=1e-6)


def test_gaussian_entropy_closed_form():
    dist = DiagGaussian(jnp.asarray(MEAN), jnp.asarray(LOG_STD))
    std = np.exp(LOG_STD.astype(np.float64))
    expected = np.sum(0.5 * np.log(2 * np.pi * np.e * std**2))
    entropies = np.asarray(eval_entropy(dist))
    assert entropies.shape == (2,)  # one per batch row, log_std broadcast
    np.testing.assert_allclose(entropies, [expected, expected], rtol=1e-5)


def test_gaussian_sample_moments_and_mode():
    mean = jnp.broadcast_to(jnp.asarray(MEAN[0]), (NUM_SAMPLES, 3))
    dist = DiagGaussian(mean, jnp.asarray(LOG_STD))
    samples = np.asarray(draw(dist, jax.random.PRNGKey(3)))
    assert samples.shape == (NUM_SAMPLES, 3) and samples.dtype == np.float32
    std = np.exp(LOG_STD)
    np.testing.assert_allclose(samples.mean(0), MEAN[0], atol=4 * std.max() / np.sqrt(NUM_SAMPLES))
    np.testing.assert_allclose(samples.std(0), std, rtol=0.03)
    np.testing.assert_array_equal(dist.mode(), mean)


def test_gaussian_log_prob_gradient_matches_closed_form():
    action = jnp.asarray([[0.3, 0.9, -1.0]])

    def log_prob(mean, log_std):
        return DiagGaussian(mean, log_std).log_prob(action).sum()

    grad_fn = jax.jit(jax.grad(log_prob, argnums=(0, 1)))
    grad_mean, grad_log_std = grad_fn(jnp.asarray(MEAN[:1]), jnp.asarray(LOG_STD))
    std = np.exp(LOG_STD.astype(np.float64))
    z = (np.asarray(action) - MEAN[:1]) / std
    np.testing.assert_allclose(grad_mean, z / std, rtol=1e-5)
    np.testing.assert_allclose(grad_log_std, (z**2 - 1)[0], rtol=1e-5, atol=1e-6)


# -- dispatch ---------------------------------------------------------------------


def test_make_distribution_dispatch():
    logits = jnp.zeros((2, 3))
    assert isinstance(make_distribution((logits, None)), Categorical)
    assert isinstance(make_distribution((logits, None), jnp.ones((2, 3), bool)), MaskedCategorical)
    assert isinstance(make_distribution((logits, jnp.zeros(3))), DiagGaussian)
    # A Gaussian head ignores the mask argument (continuous actions have none).
    assert isinstance(make_distribution((logits, jnp.zeros(3)), jnp.ones((2, 3), bool)), DiagGaussian)
