"""Game records: a Shogi game written as USI replays move for move through the env's own rules."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import envs
from jaxrl.games.opponents import random_opponent, uniform_choice
from jaxrl.games.record import move_label, record_game, record_text


def test_shogi_record_is_usi_that_replays():
    env, params = envs.make("Shogi-v0")
    params = dataclasses.replace(params, max_moves=40)  # a short game, cut as a draw unless mated
    agent = lambda key, state, obs, mask: uniform_choice(key, mask)  # noqa: E731
    moves, result = record_game(env, params, agent, random_opponent(env, params), jax.random.PRNGKey(3))
    assert result in ("win", "draw", "loss") and 1 <= len(moves) <= 40
    text = record_text(env, moves)
    assert text == "position startpos moves " + " ".join(moves)
    # Each move, read back in the position it was played from, is legal there.
    _, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    for usi in moves:
        assert usi in env.legal_usi_moves(state)
        _, state, *_ = step(jax.random.PRNGKey(0), state, env.move_from_text(state, usi), params)
    assert bool(state.terminated) or bool(state.truncated)


def test_move_labels_fall_back_to_one_based_actions():
    env, params = envs.make("ConnectFour-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    assert [move_label(env, a, state) for a in range(7)] == [str(c) for c in range(1, 8)]
    assert record_text(env, ["4", "4", "3"]) == "4 4 3"
    assert np.asarray(env.action_mask(state, params)).all()
