"""Our classic-control envs against Gymnasium's, step for step.

Gymnasium integrates in float64 and we in float32, so free-running trajectories of chaotic systems
(CartPole falling, Acrobot) drift apart; every step therefore starts both envs from Gymnasium's
state (cast to float32), and then compares obs, reward, terminated, truncated and the full next
state. Gymnasium's reset state is copied into ours, so each episode starts from its reset
distribution. Time limits are lowered so truncations happen often; a step counter kept here plays
Gymnasium's TimeLimit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs

NUM_STEPS = 2000


@dataclasses.dataclass
class Case:
    name: str
    max_steps: int  # lowered time limit, so that truncation happens often
    policy: Callable[[np.random.Generator, np.ndarray], object]  # (rng, gym state) -> gym action
    state_fields: tuple[str, ...]  # our EnvState fields, in the order of Gymnasium's state vector
    angle_fields: tuple[str, ...] = ()  # compared modulo 2 pi (wrapped differently at +-pi)
    expect_terminations: bool = True


def cartpole_policy(rng, state):
    # Mostly a balancing controller so episodes reach the time limit; sometimes random so they fall.
    if rng.random() < 0.5:
        return int(rng.integers(2))
    return int(state[2] + 0.5 * state[3] > 0)


def acrobot_policy(rng, state):
    # Torque along the second joint's motion pumps energy in; random actions mixed in.
    if rng.random() < 0.3:
        return int(rng.integers(3))
    return 2 if state[3] > 0 else 0


def mountain_car_policy(rng, state):
    if rng.random() < 0.3:
        return int(rng.integers(3))
    return 2 if state[1] >= 0 else 0


def continuous_mountain_car_policy(rng, state):
    # Actions beyond [-1, 1] check that the reward penalises the unclipped action.
    push = 1.0 if state[1] >= 0 else -1.0
    return np.asarray([push * rng.uniform(0.5, 1.6)], np.float32)


def pendulum_policy(rng, state):
    return np.asarray([rng.uniform(-3.0, 3.0)], np.float32)  # beyond the torque limit of 2


CASES = [
    Case("CartPole-v1", 120, cartpole_policy, ("x", "x_dot", "theta", "theta_dot")),
    Case("Acrobot-v1", 100, acrobot_policy, ("theta1", "theta2", "dtheta1", "dtheta2"), ("theta1", "theta2")),
    Case("MountainCar-v0", 150, mountain_car_policy, ("position", "velocity")),
    Case("MountainCarContinuous-v0", 107, continuous_mountain_car_policy, ("position", "velocity")),
    Case("Pendulum-v1", 100, pendulum_policy, ("theta", "theta_dot"), expect_terminations=False),
]


def to_ours(gym_state, fields, time, state_cls):
    values = {f: np.float32(v) for f, v in zip(fields, np.asarray(gym_state, np.float64))}
    return state_cls(**values, time=np.int32(time))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_step_for_step_parity(case: Case):
    env, params = envs.make(case.name, max_steps_in_episode=case.max_steps)
    state_cls = type(env.reset(jax.random.PRNGKey(0), params)[1])
    step = jax.jit(env.step)
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(0), NUM_STEPS))
    gym_env = gymnasium.make(case.name).unwrapped
    gym_env.reset(seed=123)
    rng = np.random.default_rng(0)
    time, terminations, truncations = 0, 0, 0
    for t in range(NUM_STEPS):
        gym_state = np.array(gym_env.state, np.float64)
        state = to_ours(gym_state, case.state_fields, time, state_cls)
        action = case.policy(rng, gym_state)
        gym_obs, gym_reward, gym_terminated, _, _ = gym_env.step(action)
        time += 1
        gym_truncated = time >= case.max_steps
        obs, state, reward, terminated, truncated, _ = jax.device_get(
            step(keys[t], state, np.asarray(action), params)
        )
        where = f"{case.name} step {t} (episode step {time})"
        np.testing.assert_allclose(obs, gym_obs, rtol=1e-5, atol=1e-5, err_msg=where)
        np.testing.assert_allclose(reward, gym_reward, rtol=1e-5, atol=1e-5, err_msg=where)
        assert bool(terminated) == gym_terminated, where
        assert bool(truncated) == gym_truncated, where
        assert int(state.time) == time, where
        for field, expected in zip(case.state_fields, np.asarray(gym_env.state, np.float64)):
            ours = float(getattr(state, field))
            if field in case.angle_fields:
                ours = expected + np.remainder(ours - expected + np.pi, 2 * np.pi) - np.pi
            np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5, err_msg=f"{where}: {field}")
        terminations += gym_terminated
        truncations += gym_truncated and not gym_terminated
        if gym_terminated or gym_truncated:
            gym_env.reset()
            time = 0
    # The run must have crossed both kinds of episode boundary for the comparison to mean much.
    assert truncations >= 3, truncations
    if case.expect_terminations:
        assert terminations >= 3, terminations


RESET_BOUNDS = {  # Gymnasium's reset distribution: (low, high) per state field
    "CartPole-v1": {f: (-0.05, 0.05) for f in ("x", "x_dot", "theta", "theta_dot")},
    "Acrobot-v1": {f: (-0.1, 0.1) for f in ("theta1", "theta2", "dtheta1", "dtheta2")},
    "MountainCar-v0": {"position": (-0.6, -0.4), "velocity": (0.0, 0.0)},
    "MountainCarContinuous-v0": {"position": (-0.6, -0.4), "velocity": (0.0, 0.0)},
    "Pendulum-v1": {"theta": (-np.pi, np.pi), "theta_dot": (-1.0, 1.0)},
}


@pytest.mark.parametrize("name", sorted(RESET_BOUNDS))
def test_reset_distribution(name):
    env, params = envs.make(name)
    keys = jax.random.split(jax.random.PRNGKey(7), 4096)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    assert np.all(np.asarray(state.time) == 0)
    assert obs.dtype == jnp.float32
    for field, (low, high) in RESET_BOUNDS[name].items():
        values = np.asarray(getattr(state, field))
        assert values.min() >= np.float32(low) and values.max() <= np.float32(high), field
        if high > low:  # uniform over the whole range, not a corner of it
            span = high - low
            assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span, field
            assert abs(values.mean() - (low + high) / 2) < 0.03 * span, field
        else:
            assert np.all(values == low), field
    # Independent coordinates: CartPole's and Acrobot's four draws must not be one number repeated.
    fields = list(RESET_BOUNDS[name])
    if len(fields) > 2:
        a, b = (np.asarray(getattr(state, f)) for f in fields[:2])
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.1
