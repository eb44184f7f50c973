"""Wrappers on small hand-built environments whose every number is known."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from envs import spaces
from envs.core import Environment, time_limit
from envs.wrappers import (
    AutoReset,
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeObservation,
    NormalizeReward,
)


@struct.dataclass
class ToyState:
    time: jax.Array


@struct.dataclass
class ToyParams:
    terminate_at: int = 3  # the episode ends (terminated) after this many steps
    max_steps_in_episode: int = 100


class Toy(Environment):
    """Reward = sum of the action; obs ``[2, 3]`` random normals around 5 (or a given shape);
    terminates after ``terminate_at`` steps."""

    name = "Toy-v0"
    version = 1

    def __init__(self, action_shape=(), obs_shape=(2, 3)):
        self.action_shape = action_shape
        self.obs_shape = obs_shape

    @property
    def default_params(self):
        return ToyParams()

    def _obs(self, key):
        return 5.0 + 2.0 * jax.random.normal(key, self.obs_shape, jnp.float32)

    def reset_env(self, key, params):
        return self._obs(key), ToyState(jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        time = state.time + 1
        reward = jnp.sum(jnp.asarray(action, jnp.float32))
        terminated = time >= params.terminate_at
        truncated = time_limit(time, params.max_steps_in_episode)
        return self._obs(key), ToyState(time), reward, terminated, truncated, {}

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, self.obs_shape)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, self.action_shape)


def run(env, params, actions, seed=0):
    """Steps ``env`` through ``actions`` (leading axis: time) under jit; returns per-step outputs."""
    obs, state = env.reset(jax.random.PRNGKey(seed), params)

    def one_step(state, xs):
        key, action = xs
        obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
        outputs = {"obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated}
        return state, {**outputs, "info": info}

    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(actions))
    return obs, jax.jit(lambda s: jax.lax.scan(one_step, s, (keys, actions)))(state)[1]


def test_episode_statistics_on_a_hand_built_episode():
    env = AutoReset(EpisodeStatistics(Toy()))
    params = ToyParams(terminate_at=3, max_steps_in_episode=100)
    actions = jnp.asarray([1, 2, 3, 4, 5, 6, 7, 8], jnp.float32)
    _, out = run(env, params, actions)
    info = out["info"]
    np.testing.assert_array_equal(info["returned_episode"], [0, 0, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(info["returned_episode_returns"], [1, 3, 6, 4, 9, 15, 7, 15])
    np.testing.assert_array_equal(info["returned_episode_lengths"], [1, 2, 3, 1, 2, 3, 1, 2])
    assert info["returned_episode_returns"].dtype == jnp.float32
    assert info["returned_episode_lengths"].dtype == jnp.int32

    # A time limit ends episodes the same way (truncated, not terminated).
    _, out = run(env, ToyParams(terminate_at=100, max_steps_in_episode=2), actions[:4])
    np.testing.assert_array_equal(out["truncated"], [0, 1, 0, 1])
    np.testing.assert_array_equal(out["terminated"], [0, 0, 0, 0])
    np.testing.assert_array_equal(out["info"]["returned_episode_returns"], [1, 3, 3, 7])


def numpy_running_stats(batches, epsilon=1e-4):
    """Mean and variance of the prior (mean 0, var 1, weight ``epsilon``) pooled with every sample
    seen so far, after each batch: what a running mean/std must produce."""
    seen, means, variances = [], [], []
    for batch in batches:
        seen.append(np.asarray(batch, np.float64))
        data = np.concatenate(seen)
        n = len(data)
        total = epsilon + n
        mean = data.mean(0) * n / total
        m2 = epsilon + data.var(0) * n + data.mean(0) ** 2 * epsilon * n / total
        means.append(mean)
        variances.append(m2 / total)
    return np.asarray(means), np.asarray(variances)


def test_normalize_observation_matches_numpy():
    inner = AutoReset(Toy(obs_shape=(3,)))
    params = ToyParams(terminate_at=4)
    actions = jnp.zeros((20,), jnp.float32)
    raw_first, raw = run(inner, params, actions)
    first, normalized = run(NormalizeObservation(inner), params, actions)
    raw_obs = np.concatenate([np.asarray(raw_first)[None], np.asarray(raw["obs"])])  # [21, 3]
    means, variances = numpy_running_stats(raw_obs[:, None])
    expected = (raw_obs - means) / np.sqrt(variances + 1e-8)
    np.testing.assert_allclose(first, expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(normalized["obs"], expected[1:], rtol=1e-4, atol=1e-4)
    # The last observation of a finished episode is normalised with the same statistics.
    raw_final = np.asarray(raw["info"]["final_observation"])
    np.testing.assert_allclose(
        normalized["info"]["final_observation"],
        (raw_final - means[1:]) / np.sqrt(variances[1:] + 1e-8),
        rtol=1e-4,
        atol=1e-4,
    )
    assert abs(expected[-1].mean()) < 1.0  # the obs are centred near 5: normalisation did something


def test_normalize_reward_matches_numpy():
    gamma = 0.9
    env = NormalizeReward(AutoReset(Toy()), gamma=gamma)
    params = ToyParams(terminate_at=4)
    actions = jnp.asarray(np.random.default_rng(0).uniform(-3, 3, 20), jnp.float32)
    _, out = run(env, params, actions)
    rewards = np.asarray(out["info"]["raw_reward"], np.float64)
    np.testing.assert_allclose(rewards, actions, rtol=1e-6)
    done = np.asarray(out["terminated"] | out["truncated"])
    assert done.sum() == 5
    returns, discounted = [], 0.0
    for reward, end in zip(rewards, done):
        discounted = gamma * discounted + reward
        returns.append(discounted)
        discounted = 0.0 if end else discounted
    _, variances = numpy_running_stats(np.asarray(returns)[:, None, None])
    expected = rewards / np.sqrt(variances[:, 0] + 1e-8)
    np.testing.assert_allclose(out["reward"], expected, rtol=1e-4, atol=1e-5)


def test_flatten_observation():
    env = AutoReset(Toy(obs_shape=(2, 3)))
    params = ToyParams(terminate_at=2)
    actions = jnp.zeros((4,), jnp.float32)
    raw_first, raw = run(env, params, actions)
    flat_env = FlattenObservation(env)
    first, flat = run(flat_env, params, actions)
    assert first.shape == (6,) and flat["obs"].shape == (4, 6)
    np.testing.assert_array_equal(first, np.asarray(raw_first).reshape(6))
    np.testing.assert_array_equal(flat["obs"], np.asarray(raw["obs"]).reshape(4, 6))
    np.testing.assert_array_equal(
        flat["info"]["final_observation"], np.asarray(raw["info"]["final_observation"]).reshape(4, 6)
    )
    assert flat_env.observation_space(params).shape == (6,)


def test_clip_action():
    env = ClipAction(Toy(action_shape=(3,)))
    params = env.default_params
    _, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    _, _, reward, *_ = step(jax.random.PRNGKey(1), state, jnp.asarray([5.0, -3.0, 0.25]), params)
    np.testing.assert_allclose(reward, 1.0 - 1.0 + 0.25)  # clipped into [-1, 1] before stepping
    _, _, unclipped, *_ = Toy(action_shape=(3,)).step(
        jax.random.PRNGKey(1), state, jnp.asarray([5.0, -3.0, 0.25]), params
    )
    np.testing.assert_allclose(unclipped, 2.25)


def test_material_reward_pays_captures_zero_sum_and_not_on_the_last_move():
    import envs as registry
    from envs.wrappers import MaterialReward

    shogi, params = registry.make("Shogi-v0")
    env = MaterialReward(shogi, 0.01)
    # Sente's rook on 5h takes gote's rook on 5e: gote loses 10 on the board, sente gains 10 in hand.
    state = shogi.init_from_sfen("4k4/9/9/9/4r4/9/9/4R4/4K4 b - 1")
    key = jax.random.PRNGKey(0)
    _, after, reward, terminated, truncated, _ = env.step_env(key, state, shogi.usi_to_action(state, "5h5e"), params)
    np.testing.assert_allclose(np.asarray(reward), [0.2, -0.2], atol=1e-6)
    assert not bool(terminated | truncated)
    # A quiet move changes nothing.
    _, _, reward, *_ = env.step_env(key, after, shogi.usi_to_action(after, "5a4a"), params)
    np.testing.assert_allclose(np.asarray(reward), [0.0, 0.0])
    # A capture that mates: the result alone is paid (the winner's +1, the loser's -1).
    mate = shogi.init_from_sfen("8k/8p/7GP/9/9/9/9/9/4K4 b - 1")  # the gold takes on 1b, guarded by the pawn
    _, end, reward, terminated, _, _ = env.step_env(key, mate, shogi.usi_to_action(mate, "2c1b"), params)
    assert bool(terminated)
    np.testing.assert_allclose(np.asarray(reward), [1.0, -1.0])
    # Connect Four counts no material.
    with pytest.raises(ValueError, match="counts no material"):
        MaterialReward(registry.make("ConnectFour-v0")[0], 0.01)
