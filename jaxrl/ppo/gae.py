"""Generalised advantage estimation with termination and truncation kept apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _recurrence(rewards, values, next_values, terminated, truncated, gamma, gae_lambda, next_sign):
    """``(d, c)`` of the recurrence ``A_t = d_t + c_t * A_{t+1}``."""
    not_terminated = 1.0 - terminated.astype(values.dtype)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(values.dtype)
    sign = jnp.ones_like(values) if next_sign is None else next_sign.astype(values.dtype)
    deltas = rewards + gamma * sign * next_values * not_terminated - values
    return deltas, gamma * gae_lambda * sign * not_done


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: float | jax.Array,
    gae_lambda: float | jax.Array,
    next_sign: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets, all arrays ``[T, B]`` (time first).

    ``next_values[t]`` is the value of the observation that followed step t
    *before* any auto-reset (the value of ``info["final_observation"]``), so:

        delta_t = r_t + gamma * s_t * V(next_t) * (1 - terminated_t) - V(obs_t)
        A_t     = delta_t + gamma * lambda * s_t * (1 - done_t) * A_{t+1}

    with ``done = terminated | truncated``: a termination does not bootstrap,
    a truncation bootstraps from the final observation, and neither lets the
    advantage of the next episode leak back. ``s_t`` (``next_sign``, default 1)
    is -1 where the player to move changes after step t in a zero-sum game,
    since the next value is then from the opponent's point of view.
    Returns ``(advantages, targets = advantages + values)``.
    """
    deltas, decay = _recurrence(rewards, values, next_values, terminated, truncated, gamma, gae_lambda, next_sign)

    # A_t = d_t + c_t * A_{t+1} is a linear recurrence: compose the affine maps
    # x -> d_t + c_t x with a log-depth associative scan instead of T
    # sequential steps (on a GPU the sequential loop costs ~10 us per step).
    def compose(later, earlier):
        return later[0] * earlier[0], earlier[1] + earlier[0] * later[1]

    _, advantages = jax.lax.associative_scan(compose, (decay, deltas), reverse=True)
    return advantages, advantages + values


def gae_sequential(
    rewards, values, next_values, terminated, truncated, gamma, gae_lambda, next_sign=None
) -> tuple[jax.Array, jax.Array]:
    """The same quantity as `gae` with a plain reverse `lax.scan` (reference and tests)."""
    deltas, decay = _recurrence(rewards, values, next_values, terminated, truncated, gamma, gae_lambda, next_sign)

    def step(next_advantage, inputs):
        delta, factor = inputs
        advantage = delta + factor * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(step, jnp.zeros_like(values[0]), (deltas, decay), reverse=True)
    return advantages, advantages + values
