"""The PPO loss on tiny hand-built batches, against numbers worked out by hand and in numpy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks import Categorical, DiagGaussian
from jaxrl.ppo import losses

# Compiled once per flag combination instead of dispatching every op eagerly.
ppo_loss = jax.jit(losses.ppo_loss, static_argnames=("clip_value_loss", "normalize_advantages"))

CLIP_EPS = 0.2
VF_COEF = 0.5
ENT_COEF = 0.01

LOGITS = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-2.0, 1.0, 0.3], [0.0, 0.0, 0.0]], np.float32)
ACTIONS = np.array([0, 1, 2, 1], np.int32)
# Chosen probability ratios new/old: above, below, inside and below the clip range.
RATIOS = np.array([1.25, 0.5, 1.15, 0.5])
ADVANTAGES = np.array([1.0, -2.0, 0.5, 1.0], np.float32)
# Value clipping: pushed past the range towards a far target (clipped term is worse),
# pushed past the range away from the target (unclipped is worse), inside, and negative.
VALUES = np.array([1.0, 1.0, 0.5, -1.0], np.float32)
OLD_VALUES = np.array([0.0, 0.0, 0.45, 0.0], np.float32)
TARGETS = np.array([2.0, 0.0, 1.0, -3.0], np.float32)


def np_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


NEW_LOG_PROBS = np_log_softmax(LOGITS.astype(np.float64))[np.arange(4), ACTIONS]
OLD_LOG_PROBS = (NEW_LOG_PROBS - np.log(RATIOS)).astype(np.float32)


def np_entropy(logits):
    log_probs = np_log_softmax(logits.astype(np.float64))
    return float(-(np.exp(log_probs) * log_probs).sum(axis=-1).mean())


def reference_loss(advantages, clip_value_loss=True, normalize=False):
    """The documented PPO objective, sample by sample in plain Python."""
    adv = np.asarray(advantages, np.float64)
    if normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(NEW_LOG_PROBS - OLD_LOG_PROBS.astype(np.float64))
    policy_terms, value_terms = [], []
    for i in range(len(adv)):
        clipped_ratio = min(max(ratio[i], 1 - CLIP_EPS), 1 + CLIP_EPS)
        policy_terms.append(max(-adv[i] * ratio[i], -adv[i] * clipped_ratio))
        error = (VALUES[i] - TARGETS[i]) ** 2
        if clip_value_loss:
            clipped_value = OLD_VALUES[i] + min(max(VALUES[i] - OLD_VALUES[i], -CLIP_EPS), CLIP_EPS)
            error = max(error, (clipped_value - TARGETS[i]) ** 2)
        value_terms.append(error)
    policy = float(np.mean(policy_terms))
    value = 0.5 * float(np.mean(value_terms))
    entropy = np_entropy(LOGITS)
    return {
        "total_loss": policy + VF_COEF * value - ENT_COEF * entropy,
        "policy_loss": policy,
        "value_loss": value,
        "entropy": entropy,
        "approx_kl": float(np.mean((ratio - 1) - np.log(ratio))),
        "clip_fraction": float(np.mean(np.abs(ratio - 1) > CLIP_EPS)),
    }


def run_loss(advantages=ADVANTAGES, logits=LOGITS, **kwargs):
    kwargs = {"clip_eps": CLIP_EPS, "vf_coef": VF_COEF, "ent_coef": ENT_COEF, **kwargs}
    return ppo_loss(
        Categorical(jnp.asarray(logits)),
        jnp.asarray(VALUES),
        jnp.asarray(ACTIONS),
        jnp.asarray(OLD_LOG_PROBS),
        jnp.asarray(OLD_VALUES),
        jnp.asarray(advantages),
        jnp.asarray(TARGETS),
        **kwargs,
    )


def test_hand_computed_policy_loss_with_clipping():
    _, info = run_loss(normalize_advantages=False)
    # Per sample max(-A r, -A clip(r, 0.8, 1.2)):
    #   A=1,  r=1.25: max(-1.25, -1.2) = -1.2   (clipped: no credit past 1.2)
    #   A=-2, r=0.5:  max( 1.0,   1.6) =  1.6   (clipped: no credit past 0.8)
    #   A=.5, r=1.15: -0.575                    (inside the range)
    #   A=1,  r=0.5:  max(-0.5,  -0.8) = -0.5   (outside the range but the unclipped term is worse)
    # mean = (-1.2 + 1.6 - 0.575 - 0.5) / 4 = -0.16875
    assert float(info.policy_loss) == pytest.approx(-0.16875, abs=1e-5)
    # |r - 1| > 0.2 for samples 0, 1 and 3.
    assert float(info.clip_fraction) == pytest.approx(0.75)
    expected_kl = ((0.25 - math.log(1.25)) + 2 * (-0.5 - math.log(0.5)) + (0.15 - math.log(1.15))) / 4
    assert float(info.approx_kl) == pytest.approx(expected_kl, rel=1e-4)


def test_hand_computed_clipped_value_loss():
    _, info = run_loss(normalize_advantages=False)
    # Per sample max((V - G)^2, (V_old + clip(V - V_old, -0.2, 0.2) - G)^2):
    #   max(1, (0.2 - 2)^2 = 3.24) = 3.24;  max(1, 0.2^2) = 1;
    #   0.5^2 = 0.25;                       max(4, (-0.2 + 3)^2 = 7.84) = 7.84
    # 0.5 * mean = 0.5 * 12.33 / 4
    assert float(info.value_loss) == pytest.approx(0.5 * 12.33 / 4, rel=1e-5)
    _, unclipped = run_loss(normalize_advantages=False, clip_value_loss=False)
    # 0.5 * (1 + 1 + 0.25 + 4) / 4
    assert float(unclipped.value_loss) == pytest.approx(0.78125, rel=1e-5)


def test_entropy_and_total():
    total, info = run_loss(normalize_advantages=False)
    # Uniform over 3 actions (last row) has entropy log 3.
    row_entropies = -(np.exp(np_log_softmax(LOGITS)) * np_log_softmax(LOGITS)).sum(-1)
    assert row_entropies[3] == pytest.approx(math.log(3))
    assert float(info.entropy) == pytest.approx(row_entropies.mean(), rel=1e-5)
    expected_total = -0.16875 + VF_COEF * (0.5 * 12.33 / 4) - ENT_COEF * row_entropies.mean()
    assert float(total) == pytest.approx(expected_total, rel=1e-5)
    assert float(info.total_loss) == float(total)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("clip_value_loss", [False, True])
def test_matches_reference(normalize, clip_value_loss):
    _, info = run_loss(normalize_advantages=normalize, clip_value_loss=clip_value_loss)
    expected = reference_loss(ADVANTAGES, clip_value_loss, normalize)
    for name, value in expected.items():
        assert float(getattr(info, name)) == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_advantage_normalisation():
    advantages = np.array([3.0, -1.0, 0.0, 10.0], np.float32)
    _, info = run_loss(advantages, normalize_advantages=True)
    expected = reference_loss(advantages, normalize=True)
    assert float(info.policy_loss) == pytest.approx(expected["policy_loss"], rel=1e-5)
    # Normalisation makes the loss invariant to shifting and scaling the advantages.
    _, shifted = run_loss(advantages * 7.0 - 4.0, normalize_advantages=True)
    assert float(shifted.policy_loss) == pytest.approx(float(info.policy_loss), rel=1e-4)
    # ... which the raw loss is not.
    _, raw = run_loss(advantages, normalize_advantages=False)
    assert float(raw.policy_loss) != pytest.approx(float(info.policy_loss), rel=1e-2)
    # With ratio 1 everywhere the normalised policy loss is -mean(normalised A) = 0.
    _, at_old_policy = ppo_loss(
        Categorical(jnp.asarray(LOGITS)), jnp.asarray(VALUES), jnp.asarray(ACTIONS),
        jnp.asarray(NEW_LOG_PROBS, jnp.float32), jnp.asarray(OLD_VALUES), jnp.asarray(advantages),
        jnp.asarray(TARGETS), clip_eps=CLIP_EPS, vf_coef=VF_COEF, ent_coef=ENT_COEF,
    )
    assert float(at_old_policy.policy_loss) == pytest.approx(0.0, abs=1e-6)
    assert float(at_old_policy.approx_kl) == pytest.approx(0.0, abs=1e-6)
    assert float(at_old_policy.clip_fraction) == 0.0


def test_clipped_samples_give_no_policy_gradient():
    def policy_loss(logits):
        return run_loss(logits=logits, normalize_advantages=False)[1].policy_loss

    grads = np.asarray(jax.jit(jax.grad(policy_loss))(jnp.asarray(LOGITS)))
    # Samples 0 and 1 take the clipped branch: zero gradient. Samples 2 and 3 do not.
    np.testing.assert_array_equal(grads[:2], 0.0)
    assert np.all(np.abs(grads[2:]).sum(-1) > 1e-3)
    # Sample 3 (A=1, r=0.5, unclipped branch): d/dlogits of -A r / 4 = -(r / 4) (onehot(a) - p).
    probs = np.exp(np_log_softmax(LOGITS[3]))
    expected = -(0.5 / 4) * (np.eye(3)[ACTIONS[3]] - probs)
    np.testing.assert_allclose(grads[3], expected, rtol=1e-4, atol=1e-7)


def test_value_clip_gradient():
    def value_loss(values):
        return ppo_loss(
            Categorical(jnp.asarray(LOGITS)), values, jnp.asarray(ACTIONS), jnp.asarray(OLD_LOG_PROBS),
            jnp.asarray(OLD_VALUES), jnp.asarray(ADVANTAGES), jnp.asarray(TARGETS),
            clip_eps=CLIP_EPS, vf_coef=VF_COEF, ent_coef=ENT_COEF,
        )[1].value_loss

    grads = np.asarray(jax.jit(jax.grad(value_loss))(jnp.asarray(VALUES)))
    # d/dV of 0.5 * mean(.): the clipped term is flat in V outside the range (samples 0, 3);
    # the unclipped term gives (V - G) / 4 (samples 1, 2).
    np.testing.assert_allclose(grads, [0.0, (1.0 - 0.0) / 4, (0.5 - 1.0) / 4, 0.0], atol=1e-6)


def test_gaussian_actions_sum_log_prob_over_dimensions():
    mean = np.array([[0.0, 1.0], [0.5, -0.5], [1.0, 1.0]], np.float32)
    log_std = np.array([0.0, -0.5], np.float32)
    actions = np.array([[0.3, 0.9], [0.0, 0.0], [2.0, 1.5]], np.float32)
    std = np.exp(log_std.astype(np.float64))
    log_probs = (-0.5 * ((actions - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    ratios = np.array([1.3, 1.0, 0.7])
    old_log_probs = (log_probs - np.log(ratios)).astype(np.float32)
    advantages = np.array([1.0, 2.0, -1.0], np.float32)
    values = np.zeros(3, np.float32)
    _, info = ppo_loss(
        DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std)), jnp.asarray(values), jnp.asarray(actions),
        jnp.asarray(old_log_probs), jnp.asarray(values), jnp.asarray(advantages), jnp.asarray(values),
        clip_eps=CLIP_EPS, vf_coef=VF_COEF, ent_coef=ENT_COEF, normalize_advantages=False,
    )
    # max(-1.3, -1.2) = -1.2; -2; max(0.7, 0.8) = 0.8  -> mean -0.8
    assert float(info.policy_loss) == pytest.approx(-0.8, abs=1e-5)
    assert float(info.clip_fraction) == pytest.approx(2 / 3)
    # Entropy of the Gaussian: sum over dims of log_std + 0.5 log(2 pi e).
    expected_entropy = float(np.sum(log_std + 0.5 * np.log(2 * np.pi * np.e)))
    assert float(info.entropy) == pytest.approx(expected_entropy, rel=1e-5)
