"""CartPole-v1 in pure JAX: balance a pole on a cart pushed left or right.

Step-for-step equal to Gymnasium's CartPoleEnv (Euler integration) plus its 500-step TimeLimit.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import render, spaces
from envs.core import Environment, time_limit


@struct.dataclass
class EnvState:
    """Cart position ``x``, velocity ``x_dot``, pole angle ``theta`` (rad), angular velocity
    ``theta_dot``: float32 scalars. ``time``: int32 steps taken this episode."""

    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


@struct.dataclass
class EnvParams:
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds per step
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500

    @property
    def total_mass(self):
        return self.masspole + self.masscart

    @property
    def polemass_length(self):
        return self.masspole * self.length


class CartPole(Environment[EnvState, EnvParams]):
    """Actions: ``Discrete(2)`` (0 pushes left, 1 right). Observation ``[4]`` float32:
    ``[x, x_dot, theta, theta_dot]``. Reward 1 every step, the terminating one included."""

    name = "CartPole-v1"
    version = 1

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), jnp.float32, minval=-0.05, maxval=0.05)
        state = EnvState(x, x_dot, theta, theta_dot, jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        cos_theta, sin_theta = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + params.polemass_length * state.theta_dot**2 * sin_theta) / params.total_mass
        theta_acc = (params.gravity * sin_theta - cos_theta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * cos_theta**2 / params.total_mass)
        )
        x_acc = temp - params.polemass_length * theta_acc * cos_theta / params.total_mass
        # Explicit Euler: positions advance with the old velocities.
        x, x_dot, theta, theta_dot = jnp.stack(
            [
                state.x + params.tau * state.x_dot,
                state.x_dot + params.tau * x_acc,
                state.theta + params.tau * state.theta_dot,
                state.theta_dot + params.tau * theta_acc,
            ]
        ).astype(jnp.float32)
        state = EnvState(x, x_dot, theta, theta_dot, state.time + 1)
        terminated = (jnp.abs(state.x) > params.x_threshold) | (
            jnp.abs(state.theta) > params.theta_threshold_radians
        )
        truncated = time_limit(state.time, params.max_steps_in_episode)
        reward = jnp.ones((), jnp.float32)
        return self.get_obs(state), state, reward, terminated, truncated, {}

    def get_obs(self, state: EnvState) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        high = [2 * params.x_threshold, jnp.inf, 2 * params.theta_threshold_radians, jnp.inf]
        return spaces.Box(-np.asarray(high, np.float32), np.asarray(high, np.float32), (4,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        return spaces.Discrete(2)

    def render_frame(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        """The cart on its track and the pole (Gymnasium's picture: 600 x 400, the track +-1.2 x the bound)."""
        params = self.default_params if params is None else params
        span = params.x_threshold * 1.2
        canvas = render.Canvas(400, 600, -span, span, -1.0, 2.0 * span * 400 / 600 - 1.0)
        image = canvas.segment(canvas.blank(), (-span, -0.15), (span, -0.15), 0.01, render.BLACK)
        image = canvas.box(image, (state.x, 0.0), (0.25, 0.15), render.BLACK)
        tip = (state.x + 2 * params.length * jnp.sin(state.theta), 0.1 + 2 * params.length * jnp.cos(state.theta))
        image = canvas.segment(image, (state.x, 0.1), tip, 0.05, render.BROWN)
        return canvas.image(canvas.disk(image, (state.x, 0.1), 0.04, render.BLUE))
