"""Every registered classic-control env honours the `Environment` contract under jit and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.registry import _REGISTRY
from envs.wrappers import AutoReset, EpisodeStatistics

CLASSIC = sorted(name for name, entry in _REGISTRY.items() if entry.startswith("envs.classic_control."))
NUM_ENVS = 8
NUM_STEPS = 64


def test_all_five_classic_envs_registered():
    assert CLASSIC == sorted(
        ["Acrobot-v1", "CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
    )


@pytest.mark.parametrize("name", CLASSIC)
def test_reset_and_step_types_under_jit_and_vmap(name):
    env, params = envs.make(name)
    assert env.name == name and env.version >= 1
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    keys = jax.random.split(jax.random.PRNGKey(0), NUM_ENVS)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    assert obs.shape == (NUM_ENVS, *obs_space.shape) and obs.dtype == jnp.float32
    assert state.time.dtype == jnp.int32 and np.all(state.time == 0)
    assert bool(jnp.all(jax.vmap(obs_space.contains)(obs)))

    actions = jax.vmap(action_space.sample)(keys)
    assert actions.shape == (NUM_ENVS, *action_space.shape) and actions.dtype == action_space.dtype
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs, state, reward, terminated, truncated, info = step(keys, state, actions, params)
    assert obs.shape == (NUM_ENVS, *obs_space.shape) and obs.dtype == jnp.float32
    assert reward.shape == (NUM_ENVS,) and reward.dtype == jnp.float32
    assert terminated.shape == truncated.shape == (NUM_ENVS,)
    assert terminated.dtype == truncated.dtype == jnp.bool_
    assert info == {}
    assert np.all(state.time == 1)
    assert bool(jnp.all(jax.vmap(obs_space.contains)(obs)))
    # Every state leaf is float32 or the int32 step counter: no float64 or weak types leak in.
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (jnp.float32, jnp.int32) and not leaf.weak_type


def rollout(env, params, key, num_steps=NUM_STEPS):
    """Random actions through ``AutoReset(EpisodeStatistics(env))`` for ``num_steps`` x NUM_ENVS."""
    wrapped = AutoReset(EpisodeStatistics(env))
    action_space = env.action_space(params)
    key_reset, key_run = jax.random.split(key)
    _, state = jax.vmap(wrapped.reset, in_axes=(0, None))(jax.random.split(key_reset, NUM_ENVS), params)

    def one_step(state, key):
        key_act, key_step = jax.random.split(key)
        actions = jax.vmap(action_space.sample)(jax.random.split(key_act, NUM_ENVS))
        keys = jax.random.split(key_step, NUM_ENVS)
        next_obs, next_state, reward, terminated, truncated, info = jax.vmap(
            wrapped.step, in_axes=(0, 0, 0, None)
        )(keys, state, actions, params)
        out = {
            "obs": next_obs,
            "prev_time": state.env_state.time,
            "time": next_state.env_state.time,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
            "reset_obs": jax.vmap(env.get_obs)(next_state.env_state),
        }
        return next_state, out

    _, out = jax.lax.scan(one_step, state, jax.random.split(key_run, num_steps))
    return out


@pytest.mark.parametrize("name", CLASSIC)
def test_auto_reset_and_determinism(name):
    env, params = envs.make(name, max_steps_in_episode=10)  # short episodes: many resets
    run = jax.jit(lambda key: rollout(env, params, key))
    out = run(jax.random.PRNGKey(3))
    info = out["info"]
    assert set(info) == {
        "final_observation",
        "returned_episode",
        "returned_episode_returns",
        "returned_episode_lengths",
    }
    done = np.asarray(out["terminated"] | out["truncated"])
    assert done.sum() >= NUM_ENVS * (NUM_STEPS // 10)  # every env truncated at least every 10 steps
    assert np.array_equal(info["returned_episode"], done)
    final_obs, obs = np.asarray(info["final_observation"]), np.asarray(out["obs"])
    # Not done: the final observation is the observation. Done: the observation starts a new episode.
    np.testing.assert_array_equal(final_obs[~done], obs[~done])
    assert np.all(np.any(final_obs[done] != obs[done], axis=-1))
    np.testing.assert_array_equal(np.asarray(out["time"])[done], 0)
    np.testing.assert_array_equal(np.asarray(out["time"])[~done], np.asarray(out["prev_time"])[~done] + 1)
    np.testing.assert_array_equal(obs, np.asarray(out["reset_obs"]))  # obs belongs to the returned state
    # Episode lengths reported at a done are at most the time limit and count the steps taken.
    lengths = np.asarray(info["returned_episode_lengths"])[done]
    assert lengths.min() >= 1 and lengths.max() <= 10
    np.testing.assert_array_equal(lengths[np.asarray(out["truncated"])[done]], 10)

    again = run(jax.random.PRNGKey(3))
    other = run(jax.random.PRNGKey(4))
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(out["obs"], other["obs"])
