"""Pendulum-v1 in pure JAX: swing a torque-limited pendulum up and keep it upright.

Step-for-step equal to Gymnasium's PendulumEnv plus its 200-step TimeLimit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import render, spaces
from envs.core import Environment, time_limit


@struct.dataclass
class EnvState:
    """Angle ``theta`` (rad, 0 = upright, not wrapped) and angular velocity ``theta_dot``:
    float32 scalars. ``time``: int32 steps taken this episode."""

    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


@struct.dataclass
class EnvParams:
    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0
    max_steps_in_episode: int = 200


def angle_normalize(x: jax.Array) -> jax.Array:
    """Map an angle into ``[-pi, pi)``."""
    return (x + jnp.pi) % (2 * jnp.pi) - jnp.pi


class Pendulum(Environment[EnvState, EnvParams]):
    """Action ``[1]`` float32 torque, clipped to ``[-max_torque, max_torque]``. Observation ``[3]``
    float32: ``[cos theta, sin theta, theta_dot]``. Reward ``-(theta**2 + 0.1 theta_dot**2
    + 0.001 torque**2)`` measured at the state *before* the step (theta normalised)."""

    name = "Pendulum-v1"
    version = 1

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        high = jnp.asarray([jnp.pi, 1.0], jnp.float32)
        theta, theta_dot = jax.random.uniform(key, (2,), jnp.float32, minval=-high, maxval=high)
        state = EnvState(theta, theta_dot, jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        torque = jnp.asarray(action, jnp.float32).reshape(-1)[0]
        torque = jnp.clip(torque, -params.max_torque, params.max_torque)
        cost = angle_normalize(state.theta) ** 2 + 0.1 * state.theta_dot**2 + 0.001 * torque**2
        theta_acc = (
            3 * params.g / (2 * params.l) * jnp.sin(state.theta) + 3.0 / (params.m * params.l**2) * torque
        )
        theta_dot = jnp.clip(state.theta_dot + theta_acc * params.dt, -params.max_speed, params.max_speed)
        theta = state.theta + theta_dot * params.dt
        state = EnvState(theta.astype(jnp.float32), theta_dot.astype(jnp.float32), state.time + 1)
        terminated = jnp.zeros((), bool)
        truncated = time_limit(state.time, params.max_steps_in_episode)
        return self.get_obs(state), state, (-cost).astype(jnp.float32), terminated, truncated, {}

    def get_obs(self, state: EnvState) -> jax.Array:
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        high = np.asarray([1.0, 1.0, params.max_speed], np.float32)
        return spaces.Box(-high, high, (3,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(-params.max_torque, params.max_torque, (1,), jnp.float32)

    def render_frame(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        """The rod seen face on, 0 rad pointing up (500 x 500)."""
        canvas = render.Canvas(500, 500, -2.2, 2.2, -2.2, 2.2)
        tip = (jnp.sin(state.theta), jnp.cos(state.theta))
        image = canvas.segment(canvas.blank(), (0.0, 0.0), tip, 0.1, render.RED)
        return canvas.image(canvas.disk(image, (0.0, 0.0), 0.05, render.BLACK))
