"""Value targets on scripted episodes, computed by hand: outcomes per mover, n-step and Monte-Carlo returns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.alphazero import trajectory

pytestmark = pytest.mark.usefixtures("fast_compilation")

OBS = jnp.zeros(1)
record, advance = jax.jit(trajectory.record), jax.jit(trajectory.advance)


def play(length, num_players, steps, discount=1.0):
    """Drive one game's ring through ``steps``: (seat, root_value, seat_reward, terminated, truncated) each.

    Returns the samples written, in order, as (obs id, value, value_mask) tuples; the obs of move t is [t].
    """
    pending = trajectory.init(1, length, OBS, 2)
    written = []

    def collect(samples, valid):
        for i in np.flatnonzero(np.asarray(valid)):
            written.append((int(samples.obs[i, 0]), float(samples.value[i]), bool(samples.value_mask[i])))

    for t, (seat, root_value, reward, terminated, truncated) in enumerate(steps):
        pending, samples, valid = record(
            pending, jnp.full((1, 1), t, jnp.float32), jnp.full((1, 2), 0.5), jnp.array([seat]),
            jnp.array([root_value], jnp.float32),
        )
        collect(samples, valid)
        pending, samples, valid = advance(
            pending, jnp.asarray([reward], jnp.float32).reshape(1, num_players), jnp.array([terminated]),
            jnp.array([truncated]), discount,
        )
        collect(samples, valid)
    return written, pending


def test_two_player_outcome_from_each_movers_view():
    # Seats 0, 1, 0 move; seat 0 wins with the third move.
    steps = [(0, 0.1, [0, 0], False, False), (1, 0.2, [0, 0], False, False), (0, 0.3, [1, -1], True, False)]
    written, pending = play(5, 2, steps)
    assert written == [(0, 1.0, True), (1, -1.0, True), (2, 1.0, True)]
    assert not np.asarray(pending.valid).any() and int(pending.moves[0]) == 0


def test_two_player_draw_and_truncation():
    draw = [(0, 0.5, [0, 0], False, False), (1, 0.5, [0, 0], True, False)]
    assert play(4, 2, draw)[0] == [(0, 0.0, True), (1, 0.0, True)]
    cut = [(0, 0.5, [0, 0], False, False), (1, 0.5, [0, 0], False, True)]
    written, _ = play(4, 2, cut)
    assert [mask for *_, mask in written] == [False, False]  # a cut game is no loss: its values are masked


def test_two_player_overflow_bootstraps_with_the_sign_of_the_seat():
    # One slot: each move pushes out the previous one, scored by the search value of the new position,
    # which is from the opponent's view.
    steps = [(0, 0.1, [0, 0], False, False), (1, 0.4, [0, 0], False, False), (0, 0.7, [0, 0], False, False)]
    written, _ = play(1, 2, steps)
    np.testing.assert_allclose([v for _, v, _ in written], [-0.4, -0.7])
    assert [t for t, *_ in written] == [0, 1]


REWARDS = [1.0, 2.0, 3.0, 4.0]
ROOT_VALUES = [10.0, 20.0, 30.0, 40.0]


def single_player(terminated_at_end: bool, truncated_at_end: bool):
    return [
        (0, ROOT_VALUES[t], [REWARDS[t]], terminated_at_end and t == 3, truncated_at_end and t == 3)
        for t in range(4)
    ]


def test_single_player_n_step_returns():
    written, _ = play(2, 1, single_player(True, False), discount=0.5)
    # Moves 0 and 1 are pushed out by moves 2 and 3 and bootstrap from their search values; 2 and 3 end the game.
    expected = {0: 1 + 0.5 * 2 + 0.25 * 30, 1: 2 + 0.5 * 3 + 0.25 * 40, 2: 3 + 0.5 * 4, 3: 4.0}
    assert {t: v for t, v, _ in written} == expected
    assert all(mask for *_, mask in written)


def test_single_player_monte_carlo_returns():
    written, _ = play(8, 1, single_player(True, False), discount=0.5)
    expected = {0: 1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4, 1: 2 + 0.5 * 3 + 0.25 * 4, 2: 3 + 0.5 * 4, 3: 4.0}
    assert {t: v for t, v, _ in written} == expected


def test_single_player_truncation_masks_the_unfinished_returns():
    written, _ = play(2, 1, single_player(False, True), discount=0.5)
    masks = {t: mask for t, _, mask in written}
    assert masks == {0: True, 1: True, 2: False, 3: False}  # 0 and 1 were bootstrapped before the cut
    written, _ = play(8, 1, single_player(False, True), discount=0.5)
    assert {t: mask for t, _, mask in written} == {t: False for t in range(4)}


def test_games_are_independent():
    # Two games in one batch, one ends: only its moves are written and only its ring is emptied.
    pending = trajectory.init(2, 3, OBS, 2)
    pending, _, valid = record(pending, jnp.zeros((2, 1)), jnp.full((2, 2), 0.5), jnp.array([0, 0]),
                                          jnp.zeros(2))
    assert not np.asarray(valid).any()
    pending, samples, valid = advance(pending, jnp.array([[0.0, 0.0], [1.0, -1.0]]),
                                                 jnp.array([False, True]), jnp.array([False, False]), 1.0)
    np.testing.assert_array_equal(np.asarray(valid).reshape(2, 3), [[False] * 3, [True, False, False]])
    assert float(samples.value[3]) == 1.0
    np.testing.assert_array_equal(pending.moves, [1, 0])
    np.testing.assert_array_equal(np.asarray(pending.valid), [[True, False, False], [False] * 3])
