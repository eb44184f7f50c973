"""MountainCar-v0 in pure JAX: drive an underpowered car up a hill by rocking back and forth.

Step-for-step equal to Gymnasium's MountainCarEnv plus its 200-step TimeLimit.
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
    """``position`` and ``velocity``: float32 scalars. ``time``: int32 steps taken this episode."""

    position: jax.Array
    velocity: jax.Array
    time: jax.Array


@struct.dataclass
class EnvParams:
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_steps_in_episode: int = 200


class MountainCar(Environment[EnvState, EnvParams]):
    """Actions: ``Discrete(3)``: accelerate left, don't, accelerate right. Observation ``[2]``
    float32: ``[position, velocity]``. Reward -1 every step."""

    name = "MountainCar-v0"
    version = 1

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        position = jax.random.uniform(key, (), jnp.float32, minval=-0.6, maxval=-0.4)
        state = EnvState(position, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        velocity = state.velocity + (action - 1) * params.force - jnp.cos(3 * state.position) * params.gravity
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # Hitting the left wall stops the car.
        velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
        state = EnvState(position.astype(jnp.float32), velocity.astype(jnp.float32), state.time + 1)
        terminated = (state.position >= params.goal_position) & (state.velocity >= params.goal_velocity)
        truncated = time_limit(state.time, params.max_steps_in_episode)
        reward = jnp.full((), -1.0, jnp.float32)
        return self.get_obs(state), state, reward, terminated, truncated, {}

    def get_obs(self, state: EnvState) -> jax.Array:
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        low = np.asarray([params.min_position, -params.max_speed], np.float32)
        high = np.asarray([params.max_position, params.max_speed], np.float32)
        return spaces.Box(low, high, (2,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        return spaces.Discrete(3)

    def render_frame(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        return render_valley(state.position, self.default_params if params is None else params)


def render_valley(position: jax.Array, params) -> jax.Array:
    """The valley ``0.45 sin(3x) + 0.55``, the car at ``position`` on it and the flag at the goal
    (600 x 400), for both mountain cars."""
    lo, hi = params.min_position, params.max_position
    canvas = render.Canvas(400, 600, lo, hi, -0.1, -0.1 + (hi - lo) * 400 / 600)
    xs = np.linspace(lo, hi, 48)
    image = canvas.curve(canvas.blank(), xs, 0.45 * np.sin(3 * xs) + 0.55, 0.006, render.BLACK)
    goal = params.goal_position
    ground = 0.45 * np.sin(3 * goal) + 0.55
    image = canvas.segment(image, (goal, ground), (goal, ground + 0.12), 0.004, render.BLACK)
    image = canvas.box(image, (goal + 0.03, ground + 0.105), (0.03, 0.015), render.YELLOW)
    height = 0.45 * jnp.sin(3 * position) + 0.55
    return canvas.image(canvas.disk(image, (position, height + 0.04), 0.04, render.GREY))
