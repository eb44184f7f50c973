"""Every environment honours the `Environment` contract under jit and vmap (pgx's ``api_test``).

The first tests hold for classic control only (their ``time`` counter); the
rest run on every registered env and on one gymnax env through the adapter.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.registry import _REGISTRY
from envs.wrappers import AutoReset, EpisodeStatistics, Wrapper

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


# -- every env: registered ones, plus gymnax through the adapter ---------------------------------

GYMNAX_NAME = "gymnax:CartPole-v1"
ALL = [
    *envs.registered_names(),
    pytest.param(
        GYMNAX_NAME,
        marks=pytest.mark.skipif(importlib.util.find_spec("gymnax") is None, reason="gymnax not installed"),
    ),
]
CONTRACT_ENVS = 4
CONTRACT_STEPS = 24
EXPLORE = 0.1  # games: chance of a uniformly random (often illegal) action, to reach terminal states
SHORT_EPISODES = {"max_steps_in_episode": 10, "max_moves": 16}  # whichever of these an env's params have


def make_short(name):
    """``envs.make(name)`` with time limits short enough that episodes end within ``CONTRACT_STEPS``."""
    fields = {field.name for field in dataclasses.fields(envs.make(name)[1])}
    return envs.make(name, **{key: value for key, value in SHORT_EPISODES.items() if key in fields})


def is_game(env):
    return env.num_players > 1


def has_mask(env, params):
    """Whether ``env`` gives a legal-action mask: games, and puzzles with legal moves."""
    state = jax.eval_shape(lambda key: env.reset(key, params)[1], jax.random.PRNGKey(0))
    return jax.eval_shape(lambda state: env.action_mask(state, params), state) is not None


def draw_actions(env, params, key):
    """What picks every step's ``[B]`` actions, drawn up front: few PRNG calls in a scan body compile fast.

    Envs without a mask: the actions themselves, ``[T, B, ...]`` samples of the
    action space. Envs with one (games, puzzles): uniform scores ``[T, B, A]``
    (the best-scored legal action is played), and where ``explore`` is set,
    ``any`` action instead.
    """
    space = env.action_space(params)
    key_action, key_score, key_explore = jax.random.split(key, 3)
    shape = (CONTRACT_STEPS, CONTRACT_ENVS)
    actions = jax.vmap(space.sample)(jax.random.split(key_action, np.prod(shape))).reshape(
        *shape, *space.shape
    )
    if not has_mask(env, params):
        return {"action": actions}
    return {
        "any": actions,
        "score": jax.random.uniform(key_score, (*shape, space.n)),
        "explore": jax.random.uniform(key_explore, shape) < EXPLORE,
    }


def pick_actions(env, params, state, drawn):
    """``[B]`` actions for one step from one step's slice of `draw_actions`."""
    if "score" not in drawn:
        return drawn["action"]
    mask = jax.vmap(env.action_mask, in_axes=(0, None))(state, params)
    legal = jnp.argmax(jnp.where(mask, drawn["score"], -1.0), axis=-1).astype(jnp.int32)
    return jnp.where(drawn["explore"], drawn["any"], legal)


class ExposeMask(Wrapper):
    """Adds ``info["next_mask"]``: the mask of the state a step reaches, before AutoReset replaces it."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self._env.step_env(key, state, action, params)
        mask = self._env.action_mask(state, params)
        return obs, state, reward, terminated, truncated, info if mask is None else dict(info, next_mask=mask)


@functools.cache
def contract_run(name):
    """One compiled program per env, run twice on one key and once on another.

    It resets ``CONTRACT_ENVS`` envs (and the first alone), then takes
    ``CONTRACT_STEPS`` random steps of ``AutoReset(env)``, recording what each
    step's auto-reset should give. Returns the env, its params and the three
    runs' outputs, every leaf of ``"steps"`` stacked ``[T, B, ...]``.
    """
    env, params = make_short(name)
    auto = AutoReset(ExposeMask(env))
    batched_reset = jax.vmap(env.reset, in_axes=(0, None))
    batched_mask = jax.vmap(env.action_mask, in_axes=(0, None))

    def one_step(state, xs):
        step_keys, drawn = xs
        actions = pick_actions(env, params, state, drawn)
        obs, next_state, reward, terminated, truncated, info = jax.vmap(auto.step, in_axes=(0, 0, 0, None))(
            step_keys, state, actions, params
        )
        # AutoReset resets with the second half of the step key.
        reset_obs, reset_state = batched_reset(jax.vmap(jax.random.split)(step_keys)[:, 1], params)
        out = {
            "mask_before": batched_mask(state, params),
            "obs": obs,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
            "state": next_state,
            "player": jax.vmap(env.current_player, in_axes=(0, None))(next_state, params),
            "reset_obs": reset_obs,
            "reset_state": reset_state,
        }
        return next_state, out

    @jax.jit
    def run(key):
        key_reset, key_step, key_act = jax.random.split(key, 3)
        reset_keys = jax.random.split(key_reset, CONTRACT_ENVS)
        obs, state = batched_reset(reset_keys, params)
        step_keys = jax.random.split(key_step, CONTRACT_STEPS * CONTRACT_ENVS)
        step_keys = step_keys.reshape(CONTRACT_STEPS, CONTRACT_ENVS, *step_keys.shape[1:])
        xs = (step_keys, draw_actions(env, params, key_act))
        return {
            "reset_obs": obs,
            "reset_state": state,
            "reset_mask": batched_mask(state, params),
            "single_reset": env.reset(reset_keys[0], params),
            "steps": jax.lax.scan(one_step, state, xs)[1],
        }

    runs = [run(jax.random.PRNGKey(seed)) for seed in (0, 0, 1)]
    return env, params, jax.tree.map(np.asarray, runs)


@pytest.mark.parametrize("name", ALL)
def test_name_version_and_seats(name):
    env, _params, _runs = contract_run(name)
    assert env.name == name
    assert isinstance(env.version, int) and env.version >= 0
    assert env.num_players in (1, 2)


@pytest.mark.parametrize("name", ALL)
def test_jit_vmap_shapes_dtypes_and_finite_observations(name):
    env, params, (run, _, _) = contract_run(name)
    obs_space = env.observation_space(params)
    steps = run["steps"]
    batch = (CONTRACT_STEPS, CONTRACT_ENVS)
    assert run["reset_obs"].shape == (CONTRACT_ENVS, *obs_space.shape)
    for obs in (steps["obs"], steps["info"]["final_observation"]):
        assert obs.shape == (*batch, *obs_space.shape)
        assert obs.dtype == run["reset_obs"].dtype == obs_space.dtype
        assert np.all(np.isfinite(obs))
    assert np.all(np.isfinite(run["reset_obs"]))
    reward_shape = (*batch, 2) if is_game(env) else batch
    assert steps["reward"].shape == reward_shape and steps["reward"].dtype == np.float32
    assert np.all(np.isfinite(steps["reward"]))
    for flag in ("terminated", "truncated"):
        assert steps[flag].shape == batch and steps[flag].dtype == np.bool_
    contains = jax.vmap(obs_space.contains)
    assert bool(jnp.all(contains(run["reset_obs"])))
    assert bool(jnp.all(contains(steps["obs"].reshape(-1, *obs_space.shape))))
    # vmap changes nothing: the first env of the batch is the env reset alone.
    first = jax.tree.map(lambda x: x[0], (run["reset_obs"], run["reset_state"]))
    chex.assert_trees_all_equal(first, run["single_reset"])


@pytest.mark.parametrize("name", ALL)
def test_legal_action_mask_before_acting(name):
    env, params, (run, _, _) = contract_run(name)
    steps = run["steps"]
    if not has_mask(env, params):
        assert run["reset_mask"] is None and steps["mask_before"] is None
        assert "next_mask" not in steps["info"]
        return
    num_actions = env.action_space(params).n
    next_mask = steps["info"]["next_mask"]  # of the state reached, before any reset
    for mask in (run["reset_mask"], steps["mask_before"], next_mask):
        assert mask.shape[-1] == num_actions and mask.dtype == np.bool_
    # A live state has a legal action; a terminal one allows every action.
    assert np.all(run["reset_mask"].any(-1)) and np.all(steps["mask_before"].any(-1))
    over = steps["terminated"]
    assert over.any(), "random play reached no terminal state"
    assert np.all(next_mask[over]) and np.all(next_mask[~over].any(-1))
    assert np.all(np.isin(steps["player"], (0, 1) if is_game(env) else (0,)))
    if is_game(env):
        np.testing.assert_array_equal(steps["reward"].sum(-1), 0.0)  # two seats, zero sum


@pytest.mark.parametrize("name", ALL)
def test_auto_reset_restarts_episodes(name):
    env, _params, (run, _, _) = contract_run(name)
    steps = run["steps"]
    info = steps["info"]
    assert "final_observation" in info
    assert ("final_player" in info) == is_game(env)
    done = steps["terminated"] | steps["truncated"]
    assert done.any(), "no episode ended"
    np.testing.assert_array_equal(info["final_observation"][~done], steps["obs"][~done])
    # At a done, the step returns what `reset` gives; otherwise the episode goes on.
    np.testing.assert_array_equal(steps["obs"][done], steps["reset_obs"][done])
    chex.assert_trees_all_equal(
        jax.tree.map(lambda x: x[done], steps["state"]), jax.tree.map(lambda x: x[done], steps["reset_state"])
    )
    if is_game(env):
        assert not steps["state"].terminated.any()  # a game that ended was replaced by a new one


@pytest.mark.parametrize("name", ALL)
def test_same_key_same_results(name):
    _env, _params, (run, again, other) = contract_run(name)
    chex.assert_trees_all_equal(run, again)
    assert not np.array_equal(run["steps"]["obs"], other["steps"]["obs"])
