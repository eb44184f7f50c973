"""Fixed opponents on Connect Four: random play stays legal, negamax wins and blocks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.games.connect_four import COLS, ConnectFour
from jaxrl.games.opponents import minimax_opponent, random_opponent

ENV = ConnectFour()
PARAMS = ENV.default_params
KEY = jax.random.key(0)
STEP = jax.jit(ENV.step_env)


def position(moves):
    """The state after ``moves`` (0-based columns) from the empty board."""
    _, state = ENV.reset(KEY, PARAMS)
    for action in moves:
        _, state, _, terminated, _, _ = STEP(KEY, state, action, PARAMS)
        assert not bool(terminated)
    return state


def stack(states):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def choices(act, state, num_keys=64):
    """Actions chosen by ``act`` at ``state`` for ``num_keys`` keys (jit of vmap over keys)."""
    keys = jax.random.split(jax.random.key(1), num_keys)
    return np.asarray(jax.jit(jax.vmap(act, in_axes=(0, None)))(keys, state))


# X (to move) has three on the bottom row, open on both sides: columns 0 and 4 win at once.
DOUBLE_THREAT = [1, 1, 2, 2, 3, 3]
# O (to move) faces X's three on the bottom row; only column 3 blocks.
MUST_BLOCK = [0, 6, 1, 6, 2]


def test_minimax_depth_1_takes_an_immediate_win():
    state = position([0, 0, 1, 1, 2, 2])  # X to move; column 3 is the only win
    assert set(choices(minimax_opponent(ENV, PARAMS, depth=1), state)) == {3}


def test_minimax_breaks_ties_at_random():
    picks = choices(minimax_opponent(ENV, PARAMS, depth=1), position(DOUBLE_THREAT))
    assert set(picks) == {0, 4}


def test_minimax_depth_2_blocks_an_immediate_threat():
    state = position(MUST_BLOCK)
    assert int(state.current_player) == 1
    assert set(choices(minimax_opponent(ENV, PARAMS, depth=2), state)) == {3}
    # Depth 1 cannot see the threat: every column scores 0 and it plays at random.
    assert len(set(choices(minimax_opponent(ENV, PARAMS, depth=1), state))) > 1


def test_minimax_prefers_the_faster_win():
    # At depth 3 most moves also win (two threats cannot both be blocked), but later.
    picks = choices(minimax_opponent(ENV, PARAMS, depth=3), position(DOUBLE_THREAT), num_keys=16)
    assert set(picks) <= {0, 4}


def test_minimax_rejects_a_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        minimax_opponent(ENV, PARAMS, depth=0)


def test_random_opponent_is_uniform_over_legal_actions():
    state = position([0] * 6 + [5] * 6)  # columns 0 and 5 full, X to move
    counts = np.bincount(choices(random_opponent(), state, num_keys=4000), minlength=COLS)
    assert counts[0] == 0 and counts[5] == 0
    legal_counts = counts[[1, 2, 3, 4, 6]]
    assert legal_counts.min() > 700 and legal_counts.max() < 900  # 800 expected each
    # Through the env's mask (works for wrapped states too): the same choices.
    np.testing.assert_array_equal(
        choices(random_opponent(ENV, PARAMS), state), choices(random_opponent(), state)
    )


def test_opponents_vmap_over_states():
    states = stack([position(DOUBLE_THREAT), position(MUST_BLOCK), position([0] * 6)])
    keys = jax.random.split(KEY, 3)
    minimax = jax.jit(jax.vmap(minimax_opponent(ENV, PARAMS, depth=2)))
    np.testing.assert_array_equal(minimax(keys, states)[1], 3)
    assert int(minimax(keys, states)[0]) in (0, 4)
    random_picks = jax.jit(jax.vmap(random_opponent()))(keys, states)
    assert bool(jnp.all(jnp.take_along_axis(states.legal_action_mask, random_picks[:, None], 1)))


def play_games(first, second, num_games, key):
    """Plays ``num_games`` full games (``first`` as seat 0); returns the per-game winners and legality."""

    def turn(state, key):
        act_key, step_key = jax.random.split(key)
        actions = jnp.stack([first(act_key, state), second(act_key, state)])
        action = actions[state.current_player]
        was_legal = state.legal_action_mask[action] | state.terminated
        _, state, _, _, _, _ = ENV.step_env(step_key, state, action, PARAMS)
        return state, was_legal

    @jax.jit
    @jax.vmap
    def game(key):
        _, state = ENV.reset(key, PARAMS)
        state, was_legal = jax.lax.scan(turn, state, jax.random.split(key, 42))
        return state.terminated, state.winner, jnp.all(was_legal)

    return game(jax.random.split(key, num_games))


def test_random_opponent_plays_only_legal_moves_in_full_games():
    terminated, winner, all_legal = play_games(random_opponent(), random_opponent(ENV, PARAMS), 256, KEY)
    assert bool(jnp.all(terminated)) and bool(jnp.all(all_legal))
    assert bool(jnp.all(winner >= -1))


def test_minimax_beats_random():
    terminated, winner, all_legal = play_games(
        minimax_opponent(ENV, PARAMS, depth=2), random_opponent(), 64, KEY
    )
    assert bool(jnp.all(terminated)) and bool(jnp.all(all_legal))
    assert float(jnp.mean(winner == 0)) >= 0.8
