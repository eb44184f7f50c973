"""Triangles-v0: step-for-step equality with trianglengin 1.0.6, rules on known positions, jit/vmap.

The reference (pure Python, ``trianglengin==1.0.6``) and our env draw refills
from different random generators, so the parity test plays the reference
first and hands the shapes it refilled to `Triangles.transition`, as gymnax's
tests sync states. Every step compares the legal actions, reward, game over,
the grid, the slots, the score and the triangles placed and cleared.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers
from envs.puzzles import triangles
from envs.puzzles.triangles import (
    COLS,
    EMPTY_SLOT,
    LINES,
    LIVE,
    NUM_ACTIONS,
    NUM_CELLS,
    ROWS,
    SHAPES,
    TEMPLATES,
    UP,
    Triangles,
    make_state,
    pack,
    render,
    unpack,
)

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # trianglengin imports pygame
try:
    from trianglengin.config import EnvConfig
    from trianglengin.core.environment import GameState, GridLogic, encode_action
    from trianglengin.core.environment.grid.line_cache import get_precomputed_lines_and_map
    from trianglengin.core.environment.shapes.templates import PREDEFINED_SHAPE_TEMPLATES
    from trianglengin.core.structs import SHAPE_COLORS, Shape
except ImportError:
    GameState = None
needs_reference = pytest.mark.skipif(GameState is None, reason="trianglengin not installed")

ENV = Triangles()
PARAMS = ENV.default_params
KEY = jax.random.key(0)
TRANSITION = jax.jit(ENV.transition)
STEP = jax.jit(ENV.step_env)
BATCH_TRANSITION = jax.jit(jax.vmap(ENV.transition, in_axes=(0, 0, 0, None)))
BATCH_MAKE_STATE = jax.jit(jax.vmap(make_state))
SINGLE_UP, SINGLE_DOWN = SHAPES.index(((0, 0, True),)), SHAPES.index(((0, 0, False),))
NO_REFILL = np.zeros(3, np.int32)  # passed as the refill where none is due: used by mistake, it shows


def grid_of(cells):
    grid = np.zeros((ROWS, COLS), bool)
    for row, col in cells:
        grid[row, col] = True
    return grid


def position(cells, slots):
    """The state with ``cells`` occupied and shape indices ``slots``."""
    return make_state(pack(grid_of(cells)), np.asarray(slots, np.int32))


def mask_of(actions):
    mask = np.zeros(NUM_ACTIONS, bool)
    mask[list(actions)] = True
    return mask


# -- the reference, read through its public objects ---------------------------------------


def reference_slots(game) -> np.ndarray:
    return np.array(
        [EMPTY_SLOT if shape is None else SHAPES.index(tuple(shape.triangles)) for shape in game.shapes],
        np.int32,
    )


def reference_grid(game) -> np.ndarray:
    return game.grid_data._occupied_np & ~game.grid_data._death_np


class ScriptedChoices:
    """Stands in for the reference's `random.Random`: `choice` returns the scripted values in order."""

    def __init__(self, values):
        self._values = iter(values)

    def choice(self, sequence):
        value = next(self._values)
        assert value in sequence
        return value


def reference_position(cells, slots, refills=()):
    """A reference game on the position; ``refills``: the shape indices its next refill draws."""
    game = GameState(initial_seed=0)
    game.grid_data._occupied_np[:] = grid_of(cells)
    game.shapes = [
        None if index == EMPTY_SLOT else Shape(list(SHAPES[index]), SHAPE_COLORS[0]) for index in slots
    ]
    game._valid_actions_cache = None
    scripted = []
    for index in refills:
        scripted += [
            next(t for t in PREDEFINED_SHAPE_TEMPLATES if tuple(sorted(t)) == SHAPES[index]),
            SHAPE_COLORS[1],
        ]
    game._rng = ScriptedChoices(scripted)
    return game


# -- the constants are the reference's -----------------------------------------------------


@needs_reference
def test_grid_lines_templates_and_actions_match_the_reference():
    config = EnvConfig()
    assert (config.ROWS, config.COLS, config.NUM_SHAPE_SLOTS, config.ACTION_DIM) == (
        ROWS,
        COLS,
        3,
        NUM_ACTIONS,
    )
    game = GameState(config, initial_seed=0)
    np.testing.assert_array_equal(LIVE, ~game.grid_data._death_np)
    assert LIVE.sum() == 96
    rows, cols = np.indices((ROWS, COLS))
    np.testing.assert_array_equal(UP, (rows + cols) % 2 != 0)
    reference_lines, _ = get_precomputed_lines_and_map(config)
    assert {frozenset(line) for line in LINES} == {
        frozenset(line) for line in reference_lines if len(line) >= 2
    }
    assert len(LINES) == 24 and sum(map(len, LINES)) == 3 * 96  # every live cell on one line per direction
    # The same list in the same order, so sampling an index uniformly gives the same weights.
    assert list(TEMPLATES) == [tuple(sorted(template)) for template in PREDEFINED_SHAPE_TEMPLATES]
    assert len(TEMPLATES) == 31 and len(SHAPES) == 23
    for slot, row, col in [(0, 0, 0), (1, 3, 7), (2, 7, 14)]:
        assert encode_action(slot, row, col, config) == slot * 120 + row * 15 + col
    assert (
        PARAMS.reward_per_placed_triangle,
        PARAMS.reward_per_cleared_triangle,
        PARAMS.reward_per_step_alive,
        PARAMS.penalty_game_over,
    ) == (
        config.REWARD_PER_PLACED_TRIANGLE,
        config.REWARD_PER_CLEARED_TRIANGLE,
        config.REWARD_PER_STEP_ALIVE,
        config.PENALTY_GAME_OVER,
    )


@needs_reference
def test_every_shape_at_every_anchor_fits_as_in_the_reference():
    rng = np.random.default_rng(1)
    game = GameState(initial_seed=0)
    grids = [np.zeros((ROWS, COLS), bool)] + [(rng.random((ROWS, COLS)) < p) & LIVE for p in (0.2, 0.5)]
    for grid in grids:
        game.grid_data._occupied_np[:] = grid
        for index, shape in enumerate(SHAPES):
            reference_shape = Shape(list(shape), SHAPE_COLORS[0])
            expected = [
                GridLogic.can_place(game.grid_data, reference_shape, row, col)
                for row in range(ROWS)
                for col in range(COLS)
            ]
            ours = triangles.legal_actions(pack(grid), jnp.array([index, EMPTY_SLOT, EMPTY_SLOT]))
            np.testing.assert_array_equal(ours[:NUM_CELLS], expected, err_msg=f"shape {shape}")
            assert not ours[NUM_CELLS:].any()  # empty slots fit nowhere


# -- step for step against the reference ------------------------------------------------------


@jax.jit
def action_values(states):
    """``float32[B, 360]``: how much a line-building player likes each action (meaningless where illegal).

    Clearing counts most; otherwise the sum over lines of (filled cells)^2 / length,
    which packs lines and so sets up clears, several at once too.
    """
    lines = jnp.asarray(triangles._LINE_BITS)
    lengths = jnp.array([len(line) for line in LINES], jnp.float32)

    def one(state):
        def value(action):
            occupied, _, _, cleared = triangles.place(state.occupied, state.slots, action)
            filled = jnp.sum(jax.lax.population_count(occupied & lines), axis=-1).astype(jnp.float32)
            return 100.0 * cleared + jnp.sum(filled**2 / lengths)

        return jax.vmap(value)(jnp.arange(NUM_ACTIONS))

    return jax.vmap(one)(states)


def play_against_reference(num_games, seed, max_steps):
    """Plays ``num_games`` reference games and ours in lockstep; returns counts of what was compared.

    Even games pick uniformly among legal actions; odd ones mostly pick the
    action `action_values` likes best, so lines get cleared often.
    """
    rng = np.random.default_rng(seed)
    games = [GameState(initial_seed=seed * 100_000 + i) for i in range(num_games)]
    greedy = np.arange(num_games) % 2 == 1
    zeros = np.zeros((num_games, triangles.WORDS), np.uint32)
    state = BATCH_MAKE_STATE(zeros, np.stack([reference_slots(g) for g in games]))
    stats = {
        "games": num_games,
        "steps": 0,
        "clears": 0,
        "multi_line_clears": 0,
        "refills": 0,
        "game_overs": 0,
    }
    for _ in range(max_steps):
        live = np.array([not g.is_over() for g in games])
        np.testing.assert_array_equal(np.asarray(state.terminated), ~live)
        if not live.any():
            break
        masks = np.asarray(state.legal_action_mask)
        for i in np.flatnonzero(live):
            np.testing.assert_array_equal(masks[i], mask_of(games[i].valid_actions()), err_msg=f"game {i}")
        values = np.asarray(action_values(state))
        noise = rng.random(masks.shape)
        pick_greedy = greedy & (rng.random(num_games) < 0.97)
        scores = np.where(pick_greedy[:, None], values + noise, noise)
        actions = np.argmax(np.where(masks, scores, -1.0), axis=1).astype(np.int32)

        before_grid = np.stack([reference_grid(g) for g in games])
        before_slots = np.asarray(state.slots)
        before_score = np.array([g.game_score() for g in games])
        drawn = np.tile(NO_REFILL, (num_games, 1))
        ref_reward, ref_done = np.zeros(num_games), ~live
        for i in np.flatnonzero(live):
            refill_due = sum(shape is not None for shape in games[i].shapes) == 1
            ref_reward[i], ref_done[i] = games[i].step(int(actions[i]))
            if refill_due:
                drawn[i] = reference_slots(games[i])
                stats["refills"] += 1
        state, reward, info = BATCH_TRANSITION(state, actions, drawn, PARAMS)

        after_grid = np.stack([reference_grid(g) for g in games])
        np.testing.assert_array_equal(np.asarray(unpack(state.occupied)), after_grid)
        np.testing.assert_array_equal(np.asarray(state.slots), np.stack([reference_slots(g) for g in games]))
        np.testing.assert_array_equal(np.asarray(state.terminated), ref_done)
        np.testing.assert_allclose(np.asarray(reward)[live], ref_reward[live], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(reward)[~live], 0.0)
        np.testing.assert_array_equal(np.asarray(info["score"]), [g.game_score() for g in games])
        placed, cleared = np.asarray(info["placed"]), np.asarray(info["cleared"])
        np.testing.assert_array_equal(placed[~live], 0)
        np.testing.assert_array_equal(cleared[~live], 0)
        for i in np.flatnonzero(live):
            cells = shape_cells(before_slots[i], actions[i])
            cleared_cells = (before_grid[i] | grid_of(cells)) & ~after_grid[i]
            assert placed[i] == len(cells) and cleared[i] == cleared_cells.sum()
            assert placed[i] + 2 * cleared[i] == games[i].game_score() - before_score[i]
            full = [line for line in LINES if all(cleared_cells[cell] for cell in line)]
            np.testing.assert_array_equal(cleared_cells, grid_of([cell for line in full for cell in line]))
            stats["clears"] += int(len(full) > 0)
            stats["multi_line_clears"] += int(len(full) > 1)
        stats["steps"] += int(live.sum())
        stats["game_overs"] += int((np.asarray(state.terminated) & live).sum())
    return stats


def shape_cells(slots, action):
    """The cells the shape of ``slots[action // 120]`` covers when played by ``action``."""
    slot, anchor = divmod(int(action), NUM_CELLS)
    row, col = divmod(anchor, COLS)
    return [(row + dr, col + dc) for dr, dc, _ in SHAPES[slots[slot]]]


@needs_reference
def test_matches_reference_step_for_step():
    stats = play_against_reference(num_games=400, seed=0, max_steps=2000)
    assert stats["game_overs"] == stats["games"]  # every game played to its end
    assert stats["steps"] > 10_000 and stats["refills"] > 3000
    assert stats["clears"] > 800 and stats["multi_line_clears"] >= 5


@needs_reference
@pytest.mark.slow
def test_matches_reference_step_for_step_many_games():
    stats = play_against_reference(num_games=4000, seed=1, max_steps=5000)
    assert stats["game_overs"] == stats["games"]
    assert stats["steps"] > 100_000 and stats["multi_line_clears"] >= 50


# -- known positions -----------------------------------------------------------------------------

ROW_0 = [(0, col) for col in range(3, 12)]
ROW_3 = [(3, col) for col in range(15)]
# Maximal diagonals, read off the zig-zag: an up cell steps down to the down cell under it,
# a down cell steps right (down-right line) or up to the up cell above it (up-right line).
DOWN_RIGHT = [(0, 3), (1, 3), (1, 4), (2, 4), (2, 5), (3, 5), (3, 6), (4, 6),
              (4, 7), (5, 7), (5, 8), (6, 8), (6, 9), (7, 9), (7, 10)]  # fmt: skip
UP_RIGHT = [(7, 3), (6, 3), (6, 4), (5, 4), (5, 5), (4, 5), (4, 6), (3, 6),
            (3, 7), (2, 7), (2, 8), (1, 8), (1, 9), (0, 9), (0, 10)]  # fmt: skip
NO_REFILL_SLOTS = [SINGLE_UP, SINGLE_DOWN, SINGLE_UP]  # playing one leaves two: no refill


def action_at(slot, cell):
    return slot * NUM_CELLS + cell[0] * COLS + cell[1]


@pytest.mark.parametrize(
    "line, last",
    [(ROW_0, (0, 3)), (DOWN_RIGHT, (7, 10)), (UP_RIGHT, (0, 10))],
    ids=["horizontal", "down-right", "up-right"],
)
def test_each_direction_clears(line, last):
    assert tuple(line) in LINES
    others = [(7, 5), (6, 12)]  # off the line: they stay
    state = position([cell for cell in line if cell != last] + others, NO_REFILL_SLOTS)
    slot = 0 if UP[last] else 1
    assert state.legal_action_mask[action_at(slot, last)]
    after, reward, info = TRANSITION(state, action_at(slot, last), NO_REFILL, PARAMS)
    assert int(info["placed"]) == 1 and int(info["cleared"]) == len(line)
    np.testing.assert_array_equal(unpack(after.occupied), grid_of(others))
    np.testing.assert_allclose(float(reward), 0.01 + 0.5 * len(line) + 0.005, rtol=1e-6)
    assert int(after.score) == int(info["score"]) == 1 + 2 * len(line)
    assert not bool(after.terminated)
    np.testing.assert_array_equal(
        after.slots, [EMPTY_SLOT if s == slot else x for s, x in enumerate(NO_REFILL_SLOTS)]
    )


def test_two_lines_at_once_count_shared_cells_once():
    shared = set(ROW_3) & set(DOWN_RIGHT)
    assert shared == {(3, 5), (3, 6)}
    last = (3, 6)  # on both lines, points up
    cells = (set(ROW_3) | set(DOWN_RIGHT)) - {last}
    state = position(sorted(cells), NO_REFILL_SLOTS)
    after, reward, info = TRANSITION(state, action_at(0, last), NO_REFILL, PARAMS)
    assert int(info["cleared"]) == 15 + 15 - 2
    assert not bool(jnp.any(unpack(after.occupied)))
    np.testing.assert_allclose(float(reward), 0.01 + 0.5 * 28 + 0.005, rtol=1e-6)


def test_two_lines_completed_by_two_triangles_of_one_shape():
    pair = SHAPES.index(((0, 0, True), (1, 0, False)))  # an up cell and the down cell under it
    top, bottom = (3, 6), (4, 6)  # on row 3 and row 4 respectively
    cells = (set(ROW_3) | {(4, col) for col in range(15)}) - {top, bottom}
    state = position(sorted(cells), [pair, SINGLE_UP, SINGLE_UP])
    after, _, info = TRANSITION(state, action_at(0, top), NO_REFILL, PARAMS)
    assert int(info["placed"]) == 2 and int(info["cleared"]) == 30
    assert not bool(jnp.any(unpack(after.occupied)))


def test_a_full_line_without_a_new_triangle_stays():
    # Never reached in play (a line is cleared the step it fills up), but the rule is the reference's.
    state = position(ROW_0, NO_REFILL_SLOTS)
    after, _, info = TRANSITION(state, action_at(0, (5, 6)), NO_REFILL, PARAMS)
    assert int(info["cleared"]) == 0
    np.testing.assert_array_equal(unpack(after.occupied), grid_of(ROW_0 + [(5, 6)]))


def test_shapes_fit_only_their_own_orientation():
    empty = jnp.zeros(triangles.WORDS, jnp.uint32)
    for index, shape in enumerate(SHAPES):
        mask = np.asarray(triangles.legal_actions(empty, jnp.array([index, EMPTY_SLOT, EMPTY_SLOT])))
        anchors = mask[:NUM_CELLS].reshape(ROWS, COLS)
        assert anchors.any()
        # The (0, 0) triangle decides the anchor's orientation: the other one never fits.
        assert not (anchors & (UP != shape[0][2])).any(), shape
    up, down = (
        np.asarray(triangles.legal_actions(empty, jnp.array([s, EMPTY_SLOT, EMPTY_SLOT])))[:NUM_CELLS]
        for s in (SINGLE_UP, SINGLE_DOWN)
    )
    np.testing.assert_array_equal(up.reshape(ROWS, COLS), LIVE & UP)
    np.testing.assert_array_equal(down.reshape(ROWS, COLS), LIVE & ~UP)
    # An up-pointing pair (up cell over the down cell under it) needs a live cell below.
    pair = SHAPES.index(((0, 0, True), (1, 0, False)))
    fits = np.asarray(triangles.legal_actions(empty, jnp.array([pair, EMPTY_SLOT, EMPTY_SLOT])))[:NUM_CELLS]
    below = np.zeros_like(LIVE)
    below[:-1] = LIVE[1:]
    np.testing.assert_array_equal(fits.reshape(ROWS, COLS), LIVE & UP & below)


def test_one_free_place_in_the_right_orientation():
    # Every live cell occupied but an up/down pair at (5, 6)-(5, 7): a down single fits only at (5, 7).
    free = {(5, 6), (5, 7)}
    cells = [(r, c) for r in range(ROWS) for c in range(COLS) if LIVE[r, c] and (r, c) not in free]
    state = position(cells, [SINGLE_DOWN, SINGLE_UP, EMPTY_SLOT])
    np.testing.assert_array_equal(
        state.legal_action_mask, mask_of([action_at(0, (5, 7)), action_at(1, (5, 6))])
    )


CHECKERBOARD_DOWN = [(r, c) for r in range(ROWS) for c in range(COLS) if LIVE[r, c] and not UP[r, c]]


@pytest.mark.parametrize(
    "refill, over", [([SINGLE_DOWN] * 3, True), ([SINGLE_DOWN, SINGLE_UP, SINGLE_DOWN], False)]
)
def test_game_over_on_refill(refill, over):
    # Every down cell occupied: up singles fit anywhere up, down singles nowhere; no line fills.
    state = position(CHECKERBOARD_DOWN, [EMPTY_SLOT, SINGLE_UP, EMPTY_SLOT])
    after, reward, info = TRANSITION(state, action_at(1, (3, 0)), np.array(refill), PARAMS)
    np.testing.assert_array_equal(after.slots, refill)
    assert bool(after.terminated) == over and int(info["cleared"]) == 0
    np.testing.assert_allclose(float(reward), 0.01 + (-10.0 if over else 0.005), rtol=1e-6)
    assert bool(jnp.all(after.legal_action_mask)) == over
    if GameState is not None:
        game = reference_position(CHECKERBOARD_DOWN, [EMPTY_SLOT, SINGLE_UP, EMPTY_SLOT], refills=refill)
        ref_reward, ref_done = game.step(action_at(1, (3, 0)))
        assert ref_done == over and ref_reward == pytest.approx(float(reward), rel=1e-6)
        np.testing.assert_array_equal(reference_grid(game), unpack(after.occupied))


def test_no_refill_while_a_slot_is_filled():
    state = position([], [SINGLE_UP, SINGLE_UP, EMPTY_SLOT])
    after, _, _ = TRANSITION(state, action_at(0, (3, 0)), np.array([SINGLE_DOWN] * 3), PARAMS)
    np.testing.assert_array_equal(after.slots, [EMPTY_SLOT, SINGLE_UP, EMPTY_SLOT])


# -- terminal rules, illegal actions, time limit --------------------------------------------------


# Up singles in slots 0 and 1 on a board with (3, 0) occupied: a dead cell, an occupied one, a
# cell pointing down, the empty slot 2, and actions off the range.
ILLEGAL = [
    action_at(0, (0, 0)),
    action_at(1, (3, 0)),
    action_at(0, (4, 0)),
    action_at(2, (3, 2)),
    -1,
    360,
    10_000,
]


@pytest.mark.parametrize("action", ILLEGAL)
def test_illegal_action_ends_the_game_with_the_penalty(action):
    state = position([(3, 0)], [SINGLE_UP, SINGLE_UP, EMPTY_SLOT])
    assert not bool(jnp.any(state.legal_action_mask & (jnp.arange(NUM_ACTIONS) == action)))
    assert state.legal_action_mask[action_at(0, (3, 2))]  # what slot 2 would do is legal for slot 0
    obs, after, reward, terminated, truncated, info = STEP(KEY, state, action, PARAMS)
    assert bool(terminated) and not bool(truncated)
    assert float(reward) == pytest.approx(-10.0)
    assert int(info["placed"]) == int(info["cleared"]) == 0 and int(info["score"]) == 0
    np.testing.assert_array_equal(after.occupied, state.occupied)  # nothing placed
    np.testing.assert_array_equal(after.slots, state.slots)
    assert bool(jnp.all(after.legal_action_mask)) and int(after.time) == 1


def test_terminal_state_is_frozen():
    state = position(CHECKERBOARD_DOWN, [SINGLE_DOWN, EMPTY_SLOT, EMPTY_SLOT])
    assert bool(state.terminated) and bool(jnp.all(ENV.action_mask(state, PARAMS)))
    for action in (0, 42, 359, -5):
        obs, again, reward, terminated, truncated, info = STEP(
            jax.random.key(action + 9), state, action, PARAMS
        )
        assert bool(terminated) and not bool(truncated) and float(reward) == 0.0
        assert int(info["placed"]) == int(info["cleared"]) == 0
        jax.tree.map(np.testing.assert_array_equal, again, state)
        np.testing.assert_array_equal(obs, ENV.get_obs(state))


def test_time_limit_truncates():
    env, params = envs.make("Triangles-v0", max_steps_in_episode=3)
    _, state = env.reset(KEY, params)
    step = jax.jit(env.step)
    truncations = []
    for t in range(3):
        action = jnp.argmax(state.legal_action_mask)
        _, state, _, terminated, truncated, _ = step(jax.random.key(t), state, action, params)
        truncations.append((bool(terminated), bool(truncated)))
    assert truncations == [(False, False), (False, False), (False, True)]


# -- sampling, observations, render -------------------------------------------------------------


def test_refills_follow_the_template_weights():
    draws = np.asarray(jax.vmap(triangles.draw_slots)(jax.random.split(KEY, 40_000))).ravel()
    counts = np.bincount(draws, minlength=len(SHAPES))
    weights = np.array([TEMPLATES.count(shape) for shape in SHAPES]) / len(TEMPLATES)
    expected = weights * draws.size
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    assert sorted(set(weights * len(TEMPLATES))) == [1, 2]


def test_observation_planes():
    cells = [(0, 3), (4, 0)]
    state = position(cells, [SINGLE_UP, EMPTY_SLOT, SHAPES.index(((0, 0, False), (0, 1, True)))])
    obs = ENV.get_obs(state, PARAMS)
    assert obs.shape == (ROWS, COLS, 6) and obs.dtype == jnp.float32
    assert bool(ENV.observation_space(PARAMS).contains(obs))
    np.testing.assert_array_equal(obs[..., 0], grid_of(cells))
    np.testing.assert_array_equal(obs[..., 1], ~LIVE)
    np.testing.assert_array_equal(obs[..., 2], UP)
    np.testing.assert_array_equal(obs[..., 3], grid_of([(3, 6)]))  # an up single on the up cell (3, 6)
    np.testing.assert_array_equal(obs[..., 4], 0.0)
    np.testing.assert_array_equal(obs[..., 5], grid_of([(3, 7), (3, 8)]))  # a down-up pair from (3, 7)
    # Every shape's drawing has its own orientations on the up plane.
    planes = triangles._SLOT_PLANES[: len(SHAPES)].astype(bool)
    for plane, shape in zip(planes, SHAPES):
        assert plane.sum() == len(shape) and sorted(UP[plane]) == sorted(up for _, _, up in shape)


def test_render_known_position():
    state = position(
        [(0, 3), (0, 4), (7, 11)],
        [SHAPES.index(((0, 0, True), (1, -1, True), (1, 0, False))), EMPTY_SLOT, SINGLE_DOWN],
    )
    expected = "\n".join(
        [
            "score 0  steps 0",
            "   ▲▼△▽△▽△▽△",
            "  △▽△▽△▽△▽△▽△",
            " △▽△▽△▽△▽△▽△▽△",
            "△▽△▽△▽△▽△▽△▽△▽△",
            "▽△▽△▽△▽△▽△▽△▽△▽",
            " ▽△▽△▽△▽△▽△▽△▽",
            "  ▽△▽△▽△▽△▽△▽",
            "   ▽△▽△▽△▽△▼",
            "slot 0:  ▲",
            "        ▲▼",
            "slot 1: -",
            "slot 2: ▼",
        ]
    )
    assert render(state) == expected
    assert ENV.render(state) == expected


# -- jit / vmap invariants, registry, wrappers ---------------------------------------------------


def test_vmap_changes_nothing():
    batch, num_steps = 3, 12  # four refills per game
    keys = jax.random.split(KEY, batch)
    _, batched = jax.jit(jax.vmap(ENV.reset_env, in_axes=(0, None)))(keys, PARAMS)
    step = jax.jit(jax.vmap(ENV.step_env, in_axes=(0, 0, 0, None)))
    singles = [ENV.reset(key, PARAMS)[1] for key in keys]
    for t in range(num_steps):
        step_keys = jax.random.split(jax.random.fold_in(KEY, t), batch)
        actions = jnp.argmax(batched.legal_action_mask, axis=-1).astype(jnp.int32)
        out_batched = step(step_keys, batched, actions, PARAMS)
        batched = out_batched[1]
        for game in range(batch):
            out_single = STEP(step_keys[game], singles[game], actions[game], PARAMS)
            singles[game] = out_single[1]
            row = jax.tree.map(lambda x, g=game: x[g], out_batched)
            jax.tree.map(np.testing.assert_array_equal, row, out_single)


def test_step_key_matters_only_for_refills():
    state = position([], [SINGLE_UP, SINGLE_UP, EMPTY_SLOT])
    out_a = STEP(jax.random.key(1), state, action_at(0, (3, 0)), PARAMS)
    out_b = STEP(jax.random.key(2), state, action_at(0, (3, 0)), PARAMS)
    jax.tree.map(np.testing.assert_array_equal, out_a, out_b)
    last = position([], [SINGLE_UP, EMPTY_SLOT, EMPTY_SLOT])
    refills = {
        tuple(np.asarray(STEP(jax.random.key(k), last, action_at(0, (3, 0)), PARAMS)[1].slots))
        for k in range(8)
    }
    assert len(refills) > 1 and all(EMPTY_SLOT not in slots for slots in refills)


def test_spaces_state_dtypes_and_registry():
    env, params = envs.make("Triangles-v0")
    assert isinstance(env, Triangles) and envs.Triangles is Triangles
    assert env.name == "Triangles-v0" and env.version == 1 and env.num_players == 1
    assert env.action_space(params).n == NUM_ACTIONS == 360
    obs, state = env.reset(KEY, params)
    assert bool(env.observation_space(params).contains(obs))
    assert state.occupied.dtype == jnp.uint32 and state.occupied.shape == (triangles.WORDS,)
    assert state.slots.dtype == jnp.int32 and bool(jnp.all(state.slots >= 0))
    assert state.legal_action_mask.shape == (NUM_ACTIONS,) and state.legal_action_mask.dtype == jnp.bool_
    for field in (state.score, state.time):
        assert field.shape == () and field.dtype == jnp.int32
    assert int(env.current_player(state, params)) == 0
    # Reset is a function of the key, and its table-lookup mask is the general rule's.
    jax.tree.map(np.testing.assert_array_equal, env.reset(KEY, params), env.reset(KEY, params))
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(KEY, 256), params)
    empty = np.zeros((256, triangles.WORDS), np.uint32)
    jax.tree.map(np.testing.assert_array_equal, states, BATCH_MAKE_STATE(empty, states.slots))


def test_auto_reset_scan_with_masked_random_play():
    env = wrappers.AutoReset(wrappers.EpisodeStatistics(Triangles()))
    num_games, num_steps = 16, 80

    def random_step(state, key):
        action_key, step_key = jax.random.split(key)
        mask = env.action_mask(state, PARAMS)
        action = jax.random.categorical(action_key, jnp.where(mask, 0.0, -jnp.inf))
        _, state, reward, terminated, _, info = env.step(step_key, state, action, PARAMS)
        return state, (
            reward,
            terminated,
            info["returned_episode_returns"],
            info["returned_episode_lengths"],
            info["score"],
        )

    @jax.jit
    def run(key):
        _, state = env.reset(key, PARAMS)
        return jax.lax.scan(random_step, state, jax.random.split(key, num_steps))[1]

    reward, terminated, returns, lengths, score = jax.vmap(run)(jax.random.split(KEY, num_games))
    terminated = np.asarray(terminated)
    assert terminated.sum() >= num_games  # random games end within 80 steps
    # Every finished episode took at least 4 steps (three slots, then one fits) and ended with the penalty.
    np.testing.assert_array_less(np.asarray(reward)[terminated], -9.0)
    assert np.asarray(lengths)[terminated].min() >= 4
    assert np.all(np.asarray(score)[terminated] > 0)
    assert np.all(np.isfinite(np.asarray(returns)))
