"""MountainCarContinuous-v0 in pure JAX: MountainCar with a continuous engine force.

Step-for-step equal to Gymnasium's Continuous_MountainCarEnv plus its 999-step TimeLimit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.classic_control.mountain_car import render_valley
from envs.core import Environment, time_limit


@struct.dataclass
class EnvState:
    """``position`` and ``velocity``: float32 scalars. ``time``: int32 steps taken this episode."""

    position: jax.Array
    velocity: jax.Array
    time: jax.Array


@struct.dataclass
class EnvParams:
    min_action: float = -1.0
    max_action: float = 1.0
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015
    gravity: float = 0.0025
    max_steps_in_episode: int = 999


class ContinuousMountainCar(Environment[EnvState, EnvParams]):
    """Action ``[1]`` float32 force, clipped to ``[-1, 1]`` for the dynamics. Observation ``[2]``
    float32: ``[position, velocity]``. Reward ``100`` on reaching the goal minus ``0.1 * action**2``
    (Gymnasium penalises the action as given, before clipping)."""

    name = "MountainCarContinuous-v0"
    version = 1

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        position = jax.random.uniform(key, (), jnp.float32, minval=-0.6, maxval=-0.4)
        state = EnvState(position, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        raw_action = jnp.asarray(action, jnp.float32).reshape(-1)[0]
        force = jnp.clip(raw_action, params.min_action, params.max_action)
        velocity = state.velocity + force * params.power - params.gravity * jnp.cos(3 * state.position)
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # Hitting the left wall stops the car.
        velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
        state = EnvState(position.astype(jnp.float32), velocity.astype(jnp.float32), state.time + 1)
        terminated = (state.position >= params.goal_position) & (state.velocity >= params.goal_velocity)
        reward = (jnp.where(terminated, 100.0, 0.0) - 0.1 * raw_action**2).astype(jnp.float32)
        truncated = time_limit(state.time, params.max_steps_in_episode)
        return self.get_obs(state), state, reward, terminated, truncated, {}

    def get_obs(self, state: EnvState) -> jax.Array:
        return jnp.stack([state.position, state.velocity]).astype(jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        low = np.asarray([params.min_position, -params.max_speed], np.float32)
        high = np.asarray([params.max_position, params.max_speed], np.float32)
        return spaces.Box(low, high, (2,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(params.min_action, params.max_action, (1,), jnp.float32)

    def render_frame(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        return render_valley(state.position, self.default_params if params is None else params)
