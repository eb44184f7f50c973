"""The search on known Connect Four positions with an untrained (uniform) evaluator, and its conventions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jaxrl.alphazero.search import MASKED_LOGIT, Search

pytestmark = pytest.mark.usefixtures("fast_compilation")

GAME, PARAMS = envs.make("ConnectFour-v0")
NUM_ACTIONS = 7


def uniform(params, obs):
    """An untrained network: uniform prior, value 0 everywhere."""
    return jnp.zeros(obs.shape[:1] + (NUM_ACTIONS,)), jnp.zeros(obs.shape[:1])


_step = jax.jit(lambda state, column: GAME.step(jax.random.PRNGKey(0), state, column, PARAMS)[:2])


def position(moves):
    """The state and observation after playing ``moves`` (columns) from the empty board."""
    obs, state = GAME.reset(jax.random.PRNGKey(0), PARAMS)
    for column in moves:
        obs, state = _step(state, jnp.int32(column))
    return obs, state


def batch(*positions):
    obs = jnp.stack([o for o, _ in positions])
    states = jax.tree.map(lambda *x: jnp.stack(x), *(s for _, s in positions))
    return obs, states


def random_positions(key, num_games, num_moves):
    """Games of ``num_moves`` random legal moves, mostly in columns 0 and 1 so that they fill up."""
    obs, states = jax.vmap(GAME.reset, in_axes=(0, None))(jax.random.split(key, num_games), PARAMS)

    def move(carry, key):
        obs, states = carry
        key_act, key_step = jax.random.split(key)
        logits = jnp.where(states.legal_action_mask, jnp.array([3.0, 3.0, 0, 0, 0, 0, 0]), -jnp.inf)
        action = jax.random.categorical(key_act, logits)
        obs, states, *_ = jax.vmap(GAME.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key_step, num_games), states, action, PARAMS
        )
        return (obs, states), None

    (obs, states), _ = jax.lax.scan(move, (obs, states), jax.random.split(key, num_moves))
    return obs, states


# X (seat 0) to move with three in the bottom row: column 3 wins.
WIN_IN_ONE = ([0, 0, 1, 1, 2, 2], 3)
# O to move, X threatens four in column 6: only column 6 blocks (X's first-tried reply, column 0, does not win).
BLOCK = ([6, 0, 6, 0, 6], 6)
# O to move against X's open three in the bottom row (columns 0 and 4 both win for X): the game is lost.
LOST = [1, 1, 2, 2, 3]


# MuZero's search is the option, Gumbel the default: its copy of these checks runs in the slow set.
@pytest.fixture(scope="module", params=["gumbel", pytest.param("muzero", marks=pytest.mark.slow)])
def searched(request):
    """Greedy and self-play searches of the known positions (games 0-2) and random ones (the rest)."""
    search = Search(GAME, PARAMS, uniform, num_simulations=256, kind=request.param, max_num_considered_actions=7)
    known_obs, known_states = batch(position(WIN_IN_ONE[0]), position(BLOCK[0]), position(LOST))
    random_obs, random_states = random_positions(jax.random.PRNGKey(3), 29, 14)
    obs = jnp.concatenate([known_obs, random_obs])
    states = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), known_states, random_states)

    # Self-play's noisy search only for Gumbel, the default (MuZero samples its visit counts, which are 0
    # for illegal actions); one program less to compile.
    @jax.jit
    def run(key):
        greedy = search(None, key, states, obs, greedy=True)
        return (greedy, search(None, key, states, obs, greedy=False)) if request.param == "gumbel" else (greedy,)

    outs = jax.device_get(run(jax.random.PRNGKey(1)))
    return request.param, jax.device_get(states), *outs


def test_plays_a_win_in_one_and_blocks_a_loss_in_one(searched):
    kind, _, out, *_ = searched
    assert int(out.action[0]) == WIN_IN_ONE[1], (kind, out.action_weights[0])
    assert int(out.action[1]) == BLOCK[1], (kind, out.action_weights[1])


def test_root_value_is_from_the_movers_view(searched):
    kind, _, out, *_ = searched
    assert float(out.root_value[0]) > 0.3, kind  # the mover wins
    assert float(out.root_value[2]) < -0.3, kind  # the mover loses whatever it plays
    np.testing.assert_allclose(out.action_weights.sum(-1), 1.0, rtol=1e-5)


def test_never_picks_an_illegal_action(searched):
    kind, states, *outs = searched
    running = ~np.asarray(states.terminated)
    mask = np.asarray(states.legal_action_mask)
    assert running[3:].sum() > 10 and (~mask[running]).any(), "the positions should include full columns"
    for out in outs:
        action = np.asarray(out.action)
        assert mask[np.arange(len(action)), action][running].all(), kind
        assert (np.asarray(out.action_weights)[running] * ~mask[running]).max() == 0.0


step = jax.jit(Search(GAME, PARAMS, uniform, num_simulations=2).recurrent_fn)


def test_recurrent_fn_signs_and_terminal_states():
    _, states = batch(position(WIN_IN_ONE[0]), position(WIN_IN_ONE[0]))
    # Seat 0 plays the winning column in game 0 and another column in game 1.
    out, after = step(None, jax.random.PRNGKey(0), jnp.array([3, 5]), states)
    np.testing.assert_array_equal(out.reward, [1.0, 0.0])  # the mover's reward
    np.testing.assert_array_equal(out.discount, [0.0, -1.0])  # 0 at the end, -1 as the turn passes
    np.testing.assert_array_equal(out.value, [0.0, 0.0])
    assert bool(after.terminated[0]) and not bool(after.terminated[1])
    # Game 1's prior masks nothing (all columns open); a full column would get MASKED_LOGIT.
    assert (np.asarray(out.prior_logits[1]) > MASKED_LOGIT).all()
    # Simulating past the end stays at the end: no reward, discount 0, value 0, the same board.
    again, later = step(None, jax.random.PRNGKey(1), jnp.array([0, 0]), after)
    assert float(again.reward[0]) == 0.0 and float(again.discount[0]) == 0.0 and float(again.value[0]) == 0.0
    assert bool(later.terminated[0])
    np.testing.assert_array_equal(later.board[0], after.board[0])


def test_recurrent_fn_masks_illegal_actions_of_the_expanded_state():
    # Column 0 filled to the top but one stone: dropping the last one fills it.
    _, states = batch(position([0, 0, 0, 0, 0]), position([]))
    out, _ = step(None, jax.random.PRNGKey(0), jnp.array([0, 0]), states)
    logits = np.asarray(out.prior_logits)
    assert logits[0, 0] == MASKED_LOGIT and (logits[0, 1:] == 0.0).all() and (logits[1] == 0.0).all()


def test_single_player_rewards_and_discount():
    game, params = envs.make("Triangles-v0")
    search = Search(game, params, lambda p, o: (jnp.zeros((o.shape[0], 360)), jnp.ones(o.shape[0])),
                    num_simulations=2, discount=0.9)

    @jax.jit
    def run(key):
        _, state = game.reset(key, params)
        action = jnp.argmax(state.legal_action_mask)
        out, after = search.recurrent_fn(None, key, action[None], jax.tree.map(lambda x: x[None], state))
        # The same step outside the tree (mctx's key is split per game: the same draw for one game).
        reward = game.step(jax.random.split(key, 1)[0], state, action, params)[2]
        return out, after, reward

    out, after, reward = run(jax.random.PRNGKey(0))
    np.testing.assert_allclose(out.reward, [reward], rtol=1e-6)
    np.testing.assert_allclose(out.discount, [0.9], rtol=1e-6)
    np.testing.assert_allclose(out.value, [1.0])
    assert int(after.time[0]) == 1
