"""A CartPole whose reward turns NaN once an episode lasts ``NAN_AFTER_STEPS`` steps.

Used as ``--env tests.helpers.nan_env:NanCartPole`` to check that a non-finite
loss stops the run with one clear line and keeps the last good checkpoint.
The NaN depends only on the episode's step counter, so a fixed seed puts it at
a fixed update: early (random-policy) episodes are short, and the first one to
reach ``NAN_AFTER_STEPS`` comes a few updates into training.
"""

from __future__ import annotations

import jax.numpy as jnp

from envs.classic_control.cartpole import CartPole

NAN_AFTER_STEPS = 60


class NanCartPole(CartPole):
    name = "NanCartPole"

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step_env(key, state, action, params)
        reward = jnp.where(state.time >= NAN_AFTER_STEPS, jnp.float32(jnp.nan), reward)
        return obs, state, reward, terminated, truncated, info
