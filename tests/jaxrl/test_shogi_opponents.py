"""Shogi's evaluation opponents: material, capture-greedy, the legal-only material search, memory bounds.

Every opponent is compiled once for `GAMES` games (module-level caches) and
each test fills that batch with its positions, so a Shogi compile is paid once
per opponent. The 2-ply search runs ~25 700 env steps per game and move, a few
seconds per call on a CPU; its tests are marked slow.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import wrappers
from envs.games.connect_four import ConnectFour
from envs.games.shogi import Shogi, rules
from jaxrl.games.opponents import (
    MINIMAX_BYTES_LIMIT,
    SEARCH_BATCH,
    SEARCH_MOVES,
    capture_greedy_opponent,
    check_minimax,
    compiled_move_bytes,
    fixed_opponents,
    legal_candidates,
    material_balance,
    minimax_memory_bytes,
    minimax_opponent,
    minimax_state_bytes,
    search_options,
    search_states,
)

ENV = Shogi()
PARAMS = ENV.default_params
GAMES = 8  # states per call of a compiled opponent

# Sente's bishop on 5e can take gote's rook on 3c or a pawn on 7c (both squares promote).
ROOK_OR_PAWN = "4k4/9/2p3r2/9/4B4/9/9/9/4K4 b - 1"
# The same for gote, whose frame is rotated: its bishop on 5e takes sente's rook on 7g or a pawn on 3g.
ROOK_OR_PAWN_GOTE = "4k4/9/9/9/4b4/9/2R3P2/9/4K4 w - 1"
# Sente's rook on 3e can take a pawn on 3c that gote's silver on 3b guards (and 3d is the pawn's).
DEFENDED_PAWN = "4k4/6s2/6p2/9/6R2/9/9/9/4K4 b - 1"
# Gote's rook on 5b attacks sente's gold on 5g down the open file; the gold cannot promote.
ATTACKED_GOLD = "8k/4r4/9/9/9/9/4G4/9/K8 b - 1"
# Sente's rook on 3e takes a loose bishop on 7e.
FREE_BISHOP = "4k4/9/9/9/2b3R2/9/9/9/4K4 b - 1"
# G*5b mates (the pawn on 5c guards the gold); 1i1e would take a rook instead.
MATE_OR_ROOK = "4k4/9/4P4/9/8r/9/9/9/4K3R b G 1"
# The position with the most legal moves (593), more than SEARCH_MOVES.
MAX_MOVES_POSITION = "R8/2K1S1SSk/4B4/9/9/9/9/9/1L1L1L3 b RBGSNLP3g3n17p 1"


def state_of(text: str):
    return ENV.init_from_sfen(text)


def stack(states):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


@functools.cache
def compiled(name: str):
    """``jit(vmap(act))`` of one of the opponents, built once (compiled at its first call)."""
    if name == "capture_greedy":
        act = capture_greedy_opponent(ENV, PARAMS)
    elif name.startswith("minimax"):
        act = minimax_opponent(ENV, PARAMS, int(name.removeprefix("minimax")), **search_options(ENV, PARAMS))
    else:
        raise KeyError(name)
    return jax.jit(jax.vmap(act))


def choose(name: str, states, seed: int = 0) -> np.ndarray:
    """The actions of opponent ``name`` for up to `GAMES` states (padded with the first)."""
    states = list(states)
    assert 1 <= len(states) <= GAMES
    batch = stack(states + [states[0]] * (GAMES - len(states)))
    keys = jax.random.split(jax.random.key(seed), GAMES)
    return np.asarray(compiled(name)(keys, batch))[: len(states)]


def picks(name: str, text: str, seed: int = 0) -> set[str]:
    """The USI moves opponent ``name`` plays at ``text`` for `GAMES` different keys."""
    state = state_of(text)
    return {ENV.action_to_usi(state, int(a)) for a in choose(name, [state] * GAMES, seed)}


@functools.cache
def random_positions() -> tuple:
    """Positions of random play (24 states after 20, 60 and 100 plies of 8 games) and the 593-move one."""

    def turn(state, key):
        action = jax.random.categorical(key, jnp.where(state.legal_action_mask, 0.0, -jnp.inf))
        state = ENV.step_env(key, state, action, PARAMS)[1]
        return state, state

    @jax.jit
    def game(key):
        state = ENV.reset(key, PARAMS)[1]
        return jax.lax.scan(turn, state, jax.random.split(key, 100))[1]

    trajectories = jax.vmap(game)(jax.random.split(jax.random.key(7), 8))  # [8, 100, ...]
    out = [jax.tree.map(lambda x, g=g, t=t: x[g, t], trajectories) for t in (19, 59, 99) for g in range(8)]
    return tuple(out) + (state_of(MAX_MOVES_POSITION),)


def assert_legal(name: str) -> None:
    positions = random_positions()
    for start in range(0, len(positions), GAMES):
        batch = positions[start : start + GAMES]
        actions = choose(name, batch, seed=start)
        for state, action in zip(batch, actions):
            assert bool(state.legal_action_mask[action]), (name, ENV.to_sfen(state), int(action))


# -- material ------------------------------------------------------------------------------------


def test_material_counts_board_and_hand_per_seat():
    np.testing.assert_array_equal(ENV.material(state_of("startpos")), [63.0, 63.0])  # 9 + 2*(3+4+5+6) + 8 + 10
    # Sente: a dragon (13) and a pawn in hand (1); gote, to move: a tokin (6), a rook and a bishop in hand (18).
    state = state_of("4k4/9/9/9/9/9/4+p4/9/+R3K4 w Prb 1")
    np.testing.assert_array_equal(ENV.material(state), [14.0, 24.0])
    np.testing.assert_array_equal(rules.material(state.board, state.hand), [24.0, 14.0])  # mover first
    assert rules.PIECE_VALUES[rules.KING] == 0


def test_material_balance_reads_through_a_stateful_wrapper():
    wrapped = wrappers.EpisodeStatistics(ENV)
    state = wrapped.reset(jax.random.key(0), PARAMS)[1]
    np.testing.assert_array_equal(material_balance(wrapped, PARAMS)(state), [0.0, 0.0])
    assert material_balance(ConnectFour(), ConnectFour().default_params) is None


def test_legal_candidates_keep_every_legal_move_up_to_k_and_a_random_subset_beyond():
    key = jax.random.key(0)
    few = state_of("startpos").legal_action_mask  # 30 legal moves
    actions, valid = legal_candidates(key, few, SEARCH_MOVES)
    assert actions.shape == (SEARCH_MOVES,) and int(valid.sum()) == 30
    assert set(np.asarray(actions)[np.asarray(valid)]) == set(np.flatnonzero(np.asarray(few)))
    many = state_of(MAX_MOVES_POSITION).legal_action_mask
    assert int(many.sum()) == 593
    subsets = [legal_candidates(k, many, SEARCH_MOVES) for k in jax.random.split(key, 2)]
    for actions, valid in subsets:
        assert bool(jnp.all(valid)) and bool(jnp.all(many[actions])) and len(set(np.asarray(actions))) == SEARCH_MOVES
    assert set(np.asarray(subsets[0][0])) != set(np.asarray(subsets[1][0]))


# -- capture-greedy ------------------------------------------------------------------------------


def test_capture_greedy_takes_the_rook_rather_than_the_pawn():
    assert picks("capture_greedy", ROOK_OR_PAWN) == {"5e3c+"}  # rook 10 + 10 in hand + promotion 3
    assert picks("capture_greedy", ROOK_OR_PAWN_GOTE) == {"5e7g+"}
    # It counts material only: it grabs the rook where a gold drop mates.
    assert picks("capture_greedy", MATE_OR_ROOK) == {"1i1e"}


def test_capture_greedy_plays_at_random_when_nothing_gains():
    assert len(picks("capture_greedy", "startpos")) >= 4


def test_capture_greedy_plays_only_legal_moves():
    assert_legal("capture_greedy")


# -- the material search -------------------------------------------------------------------------


def test_depth_1_search_prefers_a_mate_to_any_material():
    assert picks("minimax1", MATE_OR_ROOK) == {"G*5b"}
    assert picks("minimax1", ROOK_OR_PAWN) == {"5e3c+"}


def test_depth_1_search_plays_only_legal_moves():
    assert_legal("minimax1")


@pytest.mark.slow
def test_depth_2_search_keeps_its_pieces_and_takes_free_ones():
    # Depth 1 and capture-greedy take the guarded pawn; two plies see the silver retake the dragon.
    assert picks("minimax1", DEFENDED_PAWN) == {"3e3c+"}
    defended = picks("minimax2", DEFENDED_PAWN)
    assert defended and not defended & {"3e3c", "3e3c+", "3e3d"}, defended
    # The attacked gold steps off the rook's file (and the king's moves would leave it hanging).
    assert picks("minimax2", ATTACKED_GOLD) <= {"5g4f", "5g6f", "5g4g", "5g6g"}
    assert picks("minimax2", FREE_BISHOP) == {"3e7e"}
    assert picks("minimax2", MATE_OR_ROOK) == {"G*5b"}
    assert picks("minimax2", ROOK_OR_PAWN_GOTE) == {"5e7g+"}


@pytest.mark.slow
def test_depth_2_search_plays_only_legal_moves():
    assert_legal("minimax2")


def test_legal_only_search_agrees_with_the_full_one_on_connect_four():
    env = ConnectFour()
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    for action in [0, 6, 1, 6, 2]:  # O to move must block column 3
        state = env.step_env(jax.random.key(0), state, action, params)[1]
    # K = 7 covers every move; root moves two at a time (the `lax.map` path).
    act = minimax_opponent(env, params, 2, max_moves=7, batch=2)
    keys = jax.random.split(jax.random.key(1), 16)
    assert set(np.asarray(jax.jit(jax.vmap(act, in_axes=(0, None)))(keys, state))) == {3}


# -- memory and the evaluation's opponents -------------------------------------------------------


def test_search_states_count_legal_moves_only():
    assert search_states(2187, 2) == 2187**2
    assert search_states(2187, 1, SEARCH_MOVES, SEARCH_BATCH) == SEARCH_MOVES
    assert search_states(2187, 2, SEARCH_MOVES) == SEARCH_MOVES**2
    assert search_states(2187, 2, SEARCH_MOVES, SEARCH_BATCH) == SEARCH_MOVES + SEARCH_BATCH * SEARCH_MOVES
    assert search_states(7, 3, 160) == 7**3  # K is capped at the number of actions
    assert search_states(7, 3, 160, 2) == 7 + 2 * 7**2
    one_state = minimax_state_bytes(ENV, PARAMS, 0, 1)
    assert minimax_state_bytes(ENV, PARAMS, 2, 256) == (SEARCH_MOVES + SEARCH_BATCH * SEARCH_MOVES) * 256 * one_state


@pytest.mark.parametrize("name, depth", [("capture_greedy", 1), ("minimax1", 1)])
def test_compiled_memory_of_a_one_ply_opponent_is_within_the_bound(name, depth):
    act = fixed_opponents(ENV, PARAMS, 1)[name]
    used = compiled_move_bytes(ENV, PARAMS, act, 64)
    assert 0 < used["total"] <= minimax_memory_bytes(ENV, PARAMS, depth, 64), used


@pytest.mark.slow
def test_compiled_memory_of_the_two_ply_search_is_within_the_bound():
    used = compiled_move_bytes(ENV, PARAMS, fixed_opponents(ENV, PARAMS, 2)["minimax2"], 64)
    bound = minimax_memory_bytes(ENV, PARAMS, 2, 64)
    # The states alone are a floor: each step's scratch comes on top.
    assert minimax_state_bytes(ENV, PARAMS, 2, 64) < used["total"] <= bound, (used, bound)


def test_fixed_opponents_of_shogi_add_capture_greedy_and_name_the_search_minimax():
    assert list(fixed_opponents(ENV, PARAMS, 2)) == ["random", "capture_greedy", "minimax2"]
    assert list(fixed_opponents(ENV, PARAMS, 0)) == ["random", "capture_greedy"]
    c4 = ConnectFour()
    assert list(fixed_opponents(c4, c4.default_params, 2)) == ["random", "minimax2"]
    assert set(search_options(ENV, PARAMS)) == {"evaluate", "max_moves", "batch"}
    assert search_options(c4, c4.default_params) == {}


def test_the_config_check_accepts_the_shogi_default_and_refuses_depth_3():
    from jaxrl.config import preset_config
    from jaxrl.errors import ConfigError
    from jaxrl.registry import make_algorithm
    from jaxrl.run.build import check_evaluation

    config = preset_config("ppo", "Shogi-v0")
    algo = make_algorithm("ppo", config.ppo)
    assert config.minimax_depth == 2 and config.eval_every > 0
    check_evaluation(config, algo)  # 2 * eval_games games at once
    assert minimax_memory_bytes(ENV, PARAMS, 2, 2 * config.eval_games) <= MINIMAX_BYTES_LIMIT
    with pytest.raises(ValueError, match=r"^--minimax-depth 3 searches up to 160\^3 positions .* use --minimax-depth 2 or 0"):
        check_minimax(ENV, PARAMS, 3, 2 * config.eval_games)
    deep = dataclasses.replace(config, minimax_depth=3)
    with pytest.raises(ConfigError) as error:
        check_evaluation(deep, algo)
    assert len(str(error.value).splitlines()) == 1
