"""gymnax environments through `envs.adapters.gymnax`: our contract, our wrappers, same dynamics."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.classic_control.cartpole import EnvState as CartPoleState
from envs.wrappers import AutoReset, EpisodeStatistics

NUM_ENVS = 16
NUM_STEPS = 200


def test_gymnax_is_imported_only_when_used():
    code = (
        "import sys, envs, envs.adapters.gymnax; envs.make('CartPole-v1'); "
        "assert 'gymnax' not in sys.modules, 'imported too early'; "
        "envs.make('gymnax:CartPole-v1'); assert 'gymnax' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spaces_and_types():
    env, params = envs.make("gymnax:CartPole-v1")
    assert env.action_space(params) == envs.spaces.Discrete(2)
    assert env.observation_space(params).shape == (4,)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert bool(env.observation_space(params).contains(obs))
    _, _, reward, terminated, truncated, info = jax.jit(env.step)(jax.random.PRNGKey(1), state, 1, params)
    assert reward.dtype == jnp.float32 and terminated.dtype == truncated.dtype == jnp.bool_
    assert "discount" in info  # gymnax's own info passes through


def test_wrapped_rollout_under_jit_and_vmap():
    env, params = envs.make("gymnax:CartPole-v1", max_steps_in_episode=20)
    wrapped = AutoReset(EpisodeStatistics(env))
    batched_step = jax.vmap(wrapped.step, in_axes=(0, 0, 0, None))

    def rollout(key):
        key_reset, key_run = jax.random.split(key)
        _, state = jax.vmap(wrapped.reset, in_axes=(0, None))(jax.random.split(key_reset, NUM_ENVS), params)

        def one_step(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (NUM_ENVS,), 0, 2)
            obs, state, reward, terminated, truncated, info = batched_step(
                jax.random.split(key_step, NUM_ENVS), state, actions, params
            )
            return state, (obs, reward, terminated, truncated, info)

        return jax.lax.scan(one_step, state, jax.random.split(key_run, NUM_STEPS))[1]

    obs, reward, terminated, truncated, info = jax.jit(rollout)(jax.random.PRNGKey(0))
    terminated, truncated = np.asarray(terminated), np.asarray(truncated)
    done = terminated | truncated
    assert terminated.sum() > 10 and truncated.sum() > 10
    np.testing.assert_array_equal(reward, 1.0)
    lengths = np.asarray(info["returned_episode_lengths"])
    np.testing.assert_array_equal(info["returned_episode_returns"], lengths)  # reward 1 per step
    np.testing.assert_array_equal(lengths[truncated], 20)
    assert lengths[terminated & ~truncated].max() < 20
    # AutoReset: a fresh episode's obs after a done, the finished one's last obs kept in info.
    final_obs, obs = np.asarray(info["final_observation"]), np.asarray(obs)
    np.testing.assert_array_equal(final_obs[~done], obs[~done])
    assert np.all(np.abs(obs[done]) <= 0.05) and np.all(np.any(final_obs[done] != obs[done], axis=-1))


def from_gymnax(state) -> CartPoleState:
    time = jnp.asarray(state.time, jnp.int32)
    return CartPoleState(state.x, state.x_dot, state.theta, state.theta_dot, time)


def test_same_trajectory_as_ours():
    """From the same state and actions, gymnax CartPole and ours agree step for step; episodes
    restart from gymnax's reset state, copied into ours."""
    theirs, params = envs.make("gymnax:CartPole-v1", max_steps_in_episode=40)
    ours, our_params = envs.make("CartPole-v1", max_steps_in_episode=40)
    step_theirs = jax.vmap(theirs.step, in_axes=(0, 0, 0, None))
    step_ours = jax.vmap(ours.step, in_axes=(0, 0, 0, None))
    reset_theirs = jax.vmap(theirs.reset, in_axes=(0, None))

    def rollout(key):
        key_reset, key_run = jax.random.split(key)
        _, state = reset_theirs(jax.random.split(key_reset, NUM_ENVS), params)

        def one_step(carry, key):
            their_state, our_state = carry
            key_act, key_step, key_reset = jax.random.split(key, 3)
            actions = jax.random.randint(key_act, (NUM_ENVS,), 0, 2)
            keys = jax.random.split(key_step, NUM_ENVS)
            their_out = step_theirs(keys, their_state, actions, params)
            our_out = step_ours(keys, our_state, actions, our_params)
            done = their_out[3] | their_out[4]
            _, fresh = reset_theirs(jax.random.split(key_reset, NUM_ENVS), params)
            their_next = jax.tree.map(lambda r, s: jnp.where(done, r, s), fresh, their_out[1])
            carry = (their_next, from_gymnax(their_next))
            return carry, (their_out[0], our_out[0], their_out[2:5], our_out[2:5])

        carry = (state, from_gymnax(state))
        return jax.lax.scan(one_step, carry, jax.random.split(key_run, NUM_STEPS))[1]

    their_obs, our_obs, their_flags, our_flags = jax.jit(rollout)(jax.random.PRNGKey(1))
    np.testing.assert_allclose(our_obs, their_obs, rtol=1e-5, atol=1e-5)
    for theirs_, ours_ in zip(their_flags, our_flags):  # reward, terminated, truncated
        np.testing.assert_array_equal(ours_, theirs_)
    assert np.asarray(their_flags[1]).sum() > 20 and np.asarray(their_flags[2]).sum() > 5


def test_termination_on_the_last_step_sets_both_flags():
    env, params = envs.make("gymnax:CartPole-v1", max_steps_in_episode=10)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    # Pole about to fall past 12 degrees on the tenth step.
    state = state.replace(theta=jnp.float32(0.2094), theta_dot=jnp.float32(1.0), time=9)
    _, _, _, terminated, truncated, _ = env.step(jax.random.PRNGKey(1), state, 1, params)
    assert bool(terminated) and bool(truncated)
    _, _, _, terminated, truncated, _ = env.step(jax.random.PRNGKey(1), state.replace(time=5), 1, params)
    assert bool(terminated) and not bool(truncated)
