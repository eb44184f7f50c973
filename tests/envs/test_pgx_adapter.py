"""pgx games through `envs.adapters.pgx`: pgx's own dynamics, our game contract, and both learners on them."""

from __future__ import annotations

import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.adapters import pgx as adapter
from jaxrl.errors import ConfigError
from tests.envs import test_contract as contract

pgx = pytest.importorskip("pgx", reason="pgx not installed (pip install -e '.[pgx]')")

NUM_GAMES = 16
NUM_STEPS = 200
EXPLORE = 0.02  # chance of a uniformly random action (often illegal) instead of a legal one


@pytest.fixture(scope="module")
def fast_compilation():
    """Skip XLA's expensive backend passes while this module compiles (same semantics, faster to compile)."""
    previous = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


pytestmark = pytest.mark.usefixtures("fast_compilation")


# -- making one ---------------------------------------------------------------------------------


def test_pgx_is_imported_only_when_used():
    code = (
        "import sys, envs; envs.make('ConnectFour-v0'); "
        "assert 'pgx' not in sys.modules and 'envs.adapters.pgx' not in sys.modules, 'imported too early'; "
        "envs.make('pgx:tic_tac_toe'); assert 'pgx' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch):
    from jaxrl import alphazero, ppo

    monkeypatch.setitem(sys.modules, "pgx", None)  # `import pgx` now fails as if it were not installed
    with pytest.raises(ImportError) as error:
        envs.make("pgx:othello")
    message = str(error.value)
    assert 'pip install -e ".[pgx]"' in message and "'pgx'" in message and "\n" not in message
    for config, validate in (
        (ppo.PPOConfig(env="pgx:othello"), ppo.validate),
        (alphazero.AlphaZeroConfig(env="pgx:othello"), alphazero.validate),
    ):
        with pytest.raises(ConfigError, match=r"pip install -e \"\.\[pgx\]\""):
            validate(config)


def test_unknown_and_unsupported_ids_are_one_line():
    with pytest.raises(ValueError, match="did you mean 'pgx:othello'") as error:
        envs.make("pgx:otello")
    message = str(error.value)
    assert "\n" not in message
    for env_id in pgx.available_envs():
        assert env_id in message
    with pytest.raises(ValueError, match="3 players"):
        envs.make("pgx:sparrow_mahjong")


@pytest.mark.parametrize(
    "env_id, players, obs_shape, actions",
    [
        ("connect_four", 2, (6, 7, 2), 7),
        ("othello", 2, (8, 8, 2), 65),
        ("animal_shogi", 2, (4, 3, 194), 132),
        ("go_9x9", 2, (9, 9, 17), 82),
        ("2048", 1, (4, 4, 31), 4),
        ("minatar-breakout", 1, (10, 10, 4), 3),
    ],
)
def test_spaces_players_and_version(env_id, players, obs_shape, actions):
    env, params = envs.make(f"pgx:{env_id}")
    pgx_env = pgx.make(env_id)
    assert env.name == f"pgx:{env_id}" and env.num_players == players
    assert env.pgx_version == pgx_env.version
    assert env.version == 100 * adapter.ADAPTER_VERSION + int(pgx_env.version[1:])
    assert env.observation_space(params).shape == obs_shape
    assert env.observation_space(params).dtype == jnp.float32
    assert env.action_space(params) == envs.spaces.Discrete(actions)
    obs, state = jax.jit(env.reset)(jax.random.PRNGKey(0), params)
    assert obs.dtype == jnp.float32 and bool(env.observation_space(params).contains(obs))
    mask = env.action_mask(state, params)
    # MinAtar games take every action at every step: no mask, like our single-agent envs.
    assert (mask is None) == env_id.startswith("minatar-")


# -- the same dynamics as pgx's own step ---------------------------------------------------------


def parity_rollout(env_id: str, seed: int = 0):
    """``NUM_GAMES`` random games of ``pgx:<env_id>`` stepped by us and by pgx side by side.

    Both see the same actions (legal ones, and with probability `EXPLORE` any
    action) and step keys; a game that ends restarts in both from one reset key.
    Returns every step's outputs of both, stacked ``[T, B, ...]``.
    """
    env, params = envs.make(f"pgx:{env_id}")
    theirs = pgx.make(env_id)  # a separate instance: nothing of ours in their step
    num_actions = env.action_space(params).n
    step_ours = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    step_theirs = jax.vmap(theirs.step)
    reset_ours = jax.vmap(env.reset, in_axes=(0, None))

    def one_step(carry, key):
        ours, their = carry
        key_act, key_any, key_explore, key_step, key_reset = jax.random.split(key, 5)
        legal = jax.random.categorical(key_act, jnp.where(their.legal_action_mask, 0.0, -jnp.inf))
        anything = jax.random.randint(key_any, (NUM_GAMES,), 0, num_actions)
        action = jnp.where(jax.random.uniform(key_explore, (NUM_GAMES,)) < EXPLORE, anything, legal)
        step_keys = jax.random.split(key_step, NUM_GAMES)
        obs, ours, reward, terminated, truncated, info = step_ours(step_keys, ours, action, params)
        their = step_theirs(their, action, step_keys)
        record = {
            "ours": {
                "obs": obs,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "info": info,
                "mask": jax.vmap(env.action_mask, in_axes=(0, None))(ours, params),
                "player": jax.vmap(env.current_player, in_axes=(0, None))(ours, params),
                "first": ours.first_player,
            },
            "theirs": {
                "obs": their.observation,
                "rewards": their.rewards,
                "terminated": their.terminated,
                "truncated": their.truncated,
                "mask": their.legal_action_mask,
                "player": their.current_player,
            },
        }
        done = their.terminated | their.truncated
        reset_keys = jax.random.split(key_reset, NUM_GAMES)
        fresh_ours = reset_ours(reset_keys, params)[1]
        fresh_theirs = jax.vmap(theirs.init)(reset_keys)

        def restart(fresh, state):
            return jax.tree.map(
                lambda f, s: jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s), fresh, state
            )

        return (restart(fresh_ours, ours), restart(fresh_theirs, their)), record

    @jax.jit
    def run(key):
        key_reset, key_run = jax.random.split(key)
        reset_keys = jax.random.split(key_reset, NUM_GAMES)
        start = (reset_ours(reset_keys, params)[1], jax.vmap(theirs.init)(reset_keys))
        return jax.lax.scan(one_step, start, jax.random.split(key_run, NUM_STEPS))[1]

    return jax.tree.map(np.asarray, run(jax.random.PRNGKey(seed)))


@pytest.mark.parametrize("env_id", ["connect_four", "othello", "animal_shogi"])
def test_steps_equal_pgx_own_steps(env_id):
    out = parity_rollout(env_id)
    ours, theirs = out["ours"], out["theirs"]
    first = ours["first"]
    np.testing.assert_array_equal(ours["obs"], theirs["obs"].astype(np.float32))
    np.testing.assert_array_equal(ours["mask"], theirs["mask"])
    np.testing.assert_array_equal(ours["terminated"], theirs["terminated"])
    assert not ours["truncated"].any() and not theirs["truncated"].any()
    # Seats are pgx's player ids relabelled so that seat 0 moves first.
    np.testing.assert_array_equal(ours["player"], theirs["player"] ^ first)
    np.testing.assert_array_equal(
        ours["reward"], np.where(first[..., None] == 1, theirs["rewards"][..., ::-1], theirs["rewards"])
    )
    np.testing.assert_array_equal(ours["reward"].sum(-1), 0.0)
    over = ours["terminated"]
    winner, draw = ours["info"]["winner"], ours["info"]["draw"]
    np.testing.assert_array_equal(winner[~over], -1)
    np.testing.assert_array_equal(
        winner[over], np.where(ours["reward"][over].max(-1) > 0, ours["reward"][over].argmax(-1), -1)
    )
    np.testing.assert_array_equal(draw, over & (winner < 0))
    # The games covered what matters: both labellings of the first mover, wins of either seat.
    assert set(np.unique(first)) == {0, 1}
    assert over.sum() >= 20 and set(np.unique(winner[over])) >= {0, 1}


@pytest.mark.parametrize("env_id", ["connect_four", "othello"])
def test_reset_gives_one_buffer_per_field_of_fixed_dtype(env_id):
    """A training state is donated to the jitted update: no buffer may back two fields, and a field's
    dtype must not depend on whether reset ran under jit (pgx's othello holds a Python int)."""
    env, params = envs.make(f"pgx:{env_id}")
    for reset in (env.reset, jax.jit(env.reset)):
        leaves = jax.tree.leaves(reset(jax.random.PRNGKey(0), params)[1])
        assert all(isinstance(leaf, jax.Array) and not leaf.weak_type for leaf in leaves)
        assert len({leaf.unsafe_buffer_pointer() for leaf in leaves}) == len(leaves)


def test_seat_zero_moves_first():
    env, params = envs.make("pgx:connect_four")
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), 32), params)
    assert set(np.unique(np.asarray(states.pgx_state.current_player))) == {0, 1}  # pgx's labels vary
    np.testing.assert_array_equal(jax.vmap(env.current_player, in_axes=(0, None))(states, params), 0)


# -- terminal rules ------------------------------------------------------------------------------


def play(env, params, state, actions):
    step = jax.jit(env.step)
    out = None
    for t, action in enumerate(actions):
        out = step(jax.random.PRNGKey(t), state, jnp.int32(action), params)
        state = out[1]
    return out


def test_a_finished_game_is_frozen():
    env, params = envs.make("pgx:connect_four")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    _, won, reward, terminated, _, info = play(env, params, state, [0, 1, 0, 1, 0, 1, 0])  # four in column 0
    assert bool(terminated) and int(info["winner"]) == 0 and not bool(info["draw"])
    np.testing.assert_array_equal(reward, [1.0, -1.0])
    assert bool(jnp.all(env.action_mask(won, params)))  # every action legal at the end, as pgx has it
    step = jax.jit(env.step)
    for action in (3, -1, 7, 0):  # legal, out of range either side, a full column
        obs, again, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(9), won, jnp.int32(action), params
        )
        chex.assert_trees_all_equal(again, won)
        np.testing.assert_array_equal(reward, 0.0)
        np.testing.assert_array_equal(obs, env.get_obs(won))
        assert bool(terminated) and not bool(truncated)
        assert int(info["winner"]) == -1 and not bool(info["draw"])


@pytest.mark.parametrize("action", [-1, 7])
def test_an_action_out_of_range_loses(action):
    env, params = envs.make("pgx:connect_four")
    _, state = env.reset(jax.random.PRNGKey(1), params)
    _, state, *_ = play(env, params, state, [3])  # seat 1 to move
    obs, lost, reward, terminated, truncated, info = jax.jit(env.step)(
        jax.random.PRNGKey(5), state, jnp.int32(action), params
    )
    assert bool(terminated) and not bool(truncated)
    np.testing.assert_array_equal(reward, [1.0, -1.0])
    assert int(info["winner"]) == 0 and not bool(info["draw"])
    assert bool(jnp.all(env.action_mask(lost, params)))
    np.testing.assert_array_equal(obs, env.get_obs(state))  # the position stays as it was
    assert int(env.current_player(lost, params)) == 1
    assert int(lost.pgx_state._step_count) == int(state.pgx_state._step_count) + 1  # counted, as pgx counts


def test_a_masked_action_loses_as_in_pgx():
    env, params = envs.make("pgx:connect_four")
    _, state = env.reset(jax.random.PRNGKey(2), params)
    _, state, *_ = play(env, params, state, [0] * 6)  # column 0 full, seat 0 to move
    assert not bool(env.action_mask(state, params)[0])
    _, lost, reward, terminated, _, info = jax.jit(env.step)(
        jax.random.PRNGKey(3), state, jnp.int32(0), params
    )
    assert bool(terminated) and int(info["winner"]) == 1
    np.testing.assert_array_equal(reward, [-1.0, 1.0])
    assert bool(jnp.all(env.action_mask(lost, params)))


def test_the_step_limit_truncates_as_a_draw_and_freezes():
    env, params = envs.make("pgx:connect_four", max_steps_in_episode=6)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    flags = []
    for t in range(6):  # column 0 filled, no four
        _, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(t), state, jnp.int32(0), params
        )
        flags.append((bool(terminated), bool(truncated), bool(info["draw"])))
    assert flags == [(False, False, False)] * 5 + [(False, True, True)]
    np.testing.assert_array_equal(reward, 0.0)
    assert bool(state.pgx_state.truncated)  # pgx's own flag: pgx would not step it on either
    # Not a terminal state: the mask is the position's (the full column illegal).
    np.testing.assert_array_equal(env.action_mask(state, params), [False] + [True] * 6)
    # The full column: pgx alone would score this illegal move on the truncated game as a loss.
    _, again, reward, terminated, truncated, info = step(jax.random.PRNGKey(7), state, jnp.int32(0), params)
    chex.assert_trees_all_equal(again, state)
    assert not bool(terminated) and bool(truncated) and not bool(info["draw"])
    np.testing.assert_array_equal(reward, 0.0)


def test_a_win_on_the_last_allowed_step_terminates_only():
    env, params = envs.make("pgx:connect_four", max_steps_in_episode=7)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    _, _, reward, terminated, truncated, info = play(env, params, state, [0, 1, 0, 1, 0, 1, 0])
    assert bool(terminated) and not bool(truncated)
    assert int(info["winner"]) == 0 and not bool(info["draw"])
    np.testing.assert_array_equal(reward, [1.0, -1.0])


# -- the shared contract tests, on pgx games -----------------------------------------------------

# Games that end within the contract's short runs (10-step limit, 24 steps): tic-tac-toe lasts 9 plies.
CONTRACT_NAMES = ["pgx:tic_tac_toe", "pgx:minatar-breakout"]


@pytest.mark.parametrize("name", CONTRACT_NAMES)
@pytest.mark.parametrize(
    "check",
    [
        contract.test_name_version_and_seats,
        contract.test_jit_vmap_shapes_dtypes_and_finite_observations,
        contract.test_legal_action_mask_before_acting,
        contract.test_auto_reset_restarts_episodes,
        contract.test_same_key_same_results,
    ],
    ids=lambda check: check.__name__.removeprefix("test_"),
)
def test_contract(check, name):
    check(name)


# -- the learners, unchanged ---------------------------------------------------------------------


def test_self_play_ppo_trains_on_pgx_connect_four():
    from jaxrl import ppo

    config = ppo.PPOConfig(
        env="pgx:connect_four",
        network="mlp",
        hidden_sizes=(16,),
        num_envs=8,
        num_steps=16,
        num_minibatches=2,
        update_epochs=1,
        total_timesteps=8 * 16 * 2,
    )
    ppo.validate(config)
    algo = ppo.make(config)
    assert algo.num_players == 2
    state, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0))
    assert algo.env_steps(state) == 8 * 16 * 2
    for name in algo.checked_metrics:
        assert np.isfinite(np.asarray(metrics[name])).all(), name
    games = int(np.asarray(metrics["games"]).sum())
    assert games > 0
    outcomes = sum(int(np.asarray(metrics[key]).sum()) for key in ("black_wins", "white_wins", "draws"))
    assert outcomes == games


def test_alphazero_trains_on_pgx_connect_four():
    from jaxrl import alphazero

    config = alphazero.AlphaZeroConfig(
        env="pgx:connect_four",
        num_envs=4,
        num_steps=12,
        num_simulations=4,
        eval_num_simulations=4,
        max_num_considered_actions=4,
        channels=8,
        num_blocks=1,
        buffer_capacity=1024,
        min_buffer_size=16,
        batch_size=32,
        train_steps=8,
        lr=1e-2,
        total_timesteps=4 * 12 * 3,
    )
    alphazero.validate(config)
    algo = alphazero.make(config)
    start = jax.jit(algo.init)(jax.random.PRNGKey(0))
    after, metrics = jax.jit(algo.train_from, static_argnums=1)(start, 3, jnp.int32(3))
    np.testing.assert_array_equal(metrics["update"], [1, 2, 3])
    for name in algo.checked_metrics:
        assert np.isfinite(np.asarray(metrics[name])).all(), name
    assert int(np.asarray(metrics["games"]).sum()) > 0
    assert int(after.buffer.size) >= config.min_buffer_size
    changed = jax.tree.map(lambda a, b: bool((a != b).any()), after.params, start.params)
    assert any(jax.tree.leaves(changed))
