"""The PPO objective: clipped surrogate, clipped value loss and entropy bonus."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.networks import Distribution


class LossInfo(NamedTuple):
    """Scalars from one minibatch loss evaluation."""

    total_loss: jax.Array
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array


def standardize(advantages: jax.Array, batch_axes: int = 0) -> jax.Array:
    """``(A - mean) / (std + 1e-8)`` over every axis after the first ``batch_axes`` (each minibatch apart)."""
    axes = tuple(range(batch_axes, advantages.ndim))
    mean = advantages.mean(axis=axes, keepdims=True)
    return (advantages - mean) / (advantages.std(axis=axes, keepdims=True) + 1e-8)


def ppo_loss(
    dist: Distribution,
    values: jax.Array,
    actions: jax.Array,
    old_log_probs: jax.Array,
    old_values: jax.Array,
    advantages: jax.Array,
    targets: jax.Array,
    *,
    clip_eps: float | jax.Array,
    vf_coef: float | jax.Array,
    ent_coef: float | jax.Array,
    clip_value_loss: bool = True,
    normalize_advantages: bool = True,
) -> tuple[jax.Array, LossInfo]:
    """PPO loss over a minibatch ``[N]`` (``actions`` ``[N]`` or ``[N, D]``).

    policy: mean(max(-A r, -A clip(r, 1-eps, 1+eps))), r = exp(logp - old_logp)
    value:  0.5 * mean(max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2))
    total:  policy + vf_coef * value - ent_coef * entropy
    approx_kl is the low-variance estimator mean((r - 1) - log r).
    """
    if normalize_advantages:
        advantages = standardize(advantages)
    log_probs = dist.log_prob(actions)
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    policy_loss = jnp.maximum(
        -advantages * ratio, -advantages * jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    ).mean()

    value_error = jnp.square(values - targets)
    if clip_value_loss:
        clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
        value_error = jnp.maximum(value_error, jnp.square(clipped - targets))
    value_loss = 0.5 * value_error.mean()

    entropy = dist.entropy().mean()
    total = policy_loss + vf_coef * value_loss - ent_coef * entropy
    approx_kl = jax.lax.stop_gradient(((ratio - 1.0) - log_ratio).mean())
    clip_fraction = jax.lax.stop_gradient((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32).mean())
    return total, LossInfo(total, policy_loss, value_loss, entropy, approx_kl, clip_fraction)
