"""Acrobot-v1 in pure JAX: swing a two-link chain, actuated at the middle joint, above a line.

Step-for-step equal to Gymnasium's AcrobotEnv ("book" dynamics, one RK4 step per action) plus its
500-step TimeLimit.
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
    """Joint angles ``theta1``, ``theta2`` (rad, in [-pi, pi]) and angular velocities
    ``dtheta1``, ``dtheta2``: float32 scalars. ``time``: int32 steps taken this episode."""

    theta1: jax.Array
    theta2: jax.Array
    dtheta1: jax.Array
    dtheta2: jax.Array
    time: jax.Array


@struct.dataclass
class EnvParams:
    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5  # position of each link's centre of mass
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0  # moment of inertia of each link
    gravity: float = 9.8
    max_vel_1: float = 4 * math.pi
    max_vel_2: float = 9 * math.pi
    torque_noise_max: float = 0.0  # uniform noise added to the torque (Gymnasium's default: none)
    max_steps_in_episode: int = 500


TORQUES = (-1.0, 0.0, 1.0)


def wrap_angle(x: jax.Array, low: float, high: float) -> jax.Array:
    """Shift ``x`` by whole periods ``high - low`` into ``[low, high]``, leaving in-range values alone."""
    period = high - low
    above = jnp.ceil((x - high) / period)
    below = jnp.ceil((low - x) / period)
    return jnp.where(x > high, x - above * period, jnp.where(x < low, x + below * period, x))


def derivatives(s: jax.Array, torque: jax.Array, params: EnvParams) -> jax.Array:
    """Time derivative of ``s = [theta1, theta2, dtheta1, dtheta2]`` (shape ``[4]``) under ``torque``."""
    theta1, theta2, dtheta1, dtheta2 = s
    m1, m2 = params.link_mass_1, params.link_mass_2
    l1, lc1, lc2 = params.link_length_1, params.link_com_pos_1, params.link_com_pos_2
    i1 = i2 = params.link_moi
    g = params.gravity
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - jnp.pi / 2)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - jnp.pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2) / (
        m2 * lc2**2 + i2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def rk4_step(s: jax.Array, torque: jax.Array, params: EnvParams) -> jax.Array:
    """One classical Runge-Kutta step of length ``params.dt`` with the torque held constant."""
    dt = params.dt
    k1 = derivatives(s, torque, params)
    k2 = derivatives(s + dt / 2 * k1, torque, params)
    k3 = derivatives(s + dt / 2 * k2, torque, params)
    k4 = derivatives(s + dt * k3, torque, params)
    return s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


class Acrobot(Environment[EnvState, EnvParams]):
    """Actions: ``Discrete(3)``, torque -1, 0 or +1 on the middle joint. Observation ``[6]`` float32:
    ``[cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2]``. Reward -1 per step,
    0 on the step that reaches the goal height."""

    name = "Acrobot-v1"
    version = 1

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        theta1, theta2, dtheta1, dtheta2 = jax.random.uniform(key, (4,), jnp.float32, minval=-0.1, maxval=0.1)
        state = EnvState(theta1, theta2, dtheta1, dtheta2, jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: EnvState, action, params: EnvParams):
        torque = jnp.asarray(TORQUES, jnp.float32)[action]
        noise = jax.random.uniform(key, (), jnp.float32, minval=-1.0, maxval=1.0)
        torque = torque + noise * params.torque_noise_max
        s = jnp.stack([state.theta1, state.theta2, state.dtheta1, state.dtheta2])
        theta1, theta2, dtheta1, dtheta2 = rk4_step(s, torque, params).astype(jnp.float32)
        state = EnvState(
            theta1=wrap_angle(theta1, -jnp.pi, jnp.pi),
            theta2=wrap_angle(theta2, -jnp.pi, jnp.pi),
            dtheta1=jnp.clip(dtheta1, -params.max_vel_1, params.max_vel_1),
            dtheta2=jnp.clip(dtheta2, -params.max_vel_2, params.max_vel_2),
            time=state.time + 1,
        )
        terminated = -jnp.cos(state.theta1) - jnp.cos(state.theta2 + state.theta1) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        truncated = time_limit(state.time, params.max_steps_in_episode)
        return self.get_obs(state), state, reward, terminated, truncated, {}

    def get_obs(self, state: EnvState) -> jax.Array:
        return jnp.stack(
            [
                jnp.cos(state.theta1),
                jnp.sin(state.theta1),
                jnp.cos(state.theta2),
                jnp.sin(state.theta2),
                state.dtheta1,
                state.dtheta2,
            ]
        ).astype(jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        high = np.asarray([1.0, 1.0, 1.0, 1.0, params.max_vel_1, params.max_vel_2], np.float32)
        return spaces.Box(-high, high, (6,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        return spaces.Discrete(3)

    def render_frame(self, state: EnvState, params: EnvParams | None = None) -> jax.Array:
        """Both links hanging from the pivot, and the line the tip must rise above (500 x 500)."""
        params = self.default_params if params is None else params
        l1, l2 = params.link_length_1, 1.0  # the second link's length enters only the picture (as in Gymnasium)
        bound = (l1 + l2) * 1.1
        canvas = render.Canvas(500, 500, -bound, bound, -bound, bound)
        elbow = (l1 * jnp.sin(state.theta1), -l1 * jnp.cos(state.theta1))
        tip = (elbow[0] + l2 * jnp.sin(state.theta1 + state.theta2), elbow[1] - l2 * jnp.cos(state.theta1 + state.theta2))
        image = canvas.segment(canvas.blank(), (-bound, l1), (bound, l1), 0.01, render.BLACK)
        image = canvas.segment(image, (0.0, 0.0), elbow, 0.08, render.BLUE)
        image = canvas.segment(image, elbow, tip, 0.08, render.BLUE)
        for joint in ((0.0, 0.0), elbow):
            image = canvas.disk(image, joint, 0.05, render.YELLOW)
        return canvas.image(image)
