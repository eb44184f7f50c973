"""Shogi-v0 against python-shogi: same legal-move sets, same SFEN and same game ends, move by move.

Random games are played by both implementations side by side (the JAX env
batched with vmap, python-shogi on the host). python-shogi's pawn-drop-mate
test misses the case where the only capturer of the pawn is pinned, so the
reference set drops every pawn drop after which the opponent has no legal move.
"""

from __future__ import annotations

import multiprocessing
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.games.shogi import Shogi, moves

shogi = pytest.importorskip("shogi")


def reference_moves(board) -> set[str]:
    moves = set()
    for move in board.legal_moves:
        usi = move.usi()
        if usi.startswith("P*"):
            board.push(move)
            mate = board.is_check() and not any(True for _ in board.legal_moves)
            board.pop()
            if mate:
                continue
        moves.add(usi)
    return moves


def play_random_games(num_games: int, seed: int, max_moves: int) -> dict[str, int]:
    """Play ``num_games`` random games in lockstep with python-shogi; raise on the first disagreement."""
    env = Shogi()
    params = env.default_params.replace(max_moves=max_moves)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.PRNGKey(seed), num_games), params
    )
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    rng = np.random.default_rng(seed)
    boards = [shogi.Board() for _ in range(num_games)]
    done = np.zeros(num_games, bool)
    stats = {"positions": 0, "mate": 0, "repetition": 0, "cap": 0}
    ply = 0
    while not done.all():
        host = jax.tree.map(np.asarray, state)
        actions = np.zeros(num_games, np.int32)
        for g in np.flatnonzero(~done):
            one = jax.tree.map(lambda x, g=g: x[g], host)
            player = int(one.current_player)
            ours = set(np.flatnonzero(one.legal_action_mask).tolist())
            ref = {moves.usi_to_action(usi, player) for usi in reference_moves(boards[g])}
            if ours != ref:  # name the moves in USI for the failure message
                ours_usi, ref_usi = set(env.legal_usi_moves(one)), reference_moves(boards[g])
                raise AssertionError(
                    (boards[g].sfen(), sorted(ours_usi - ref_usi), sorted(ref_usi - ours_usi))
                )
            if ply % 8 == 0:
                assert env.to_sfen(one).rsplit(" ", 1)[0] == boards[g].sfen().rsplit(" ", 1)[0]
            assert bool(one.in_check) == boards[g].is_check()
            action = int(rng.choice(sorted(ours)))
            actions[g] = action
            boards[g].push_usi(env.action_to_usi(one, action))
            stats["positions"] += 1
        keys = jax.random.split(jax.random.PRNGKey(ply), num_games)
        _, state, reward, terminated, truncated, info = step(keys, state, jnp.asarray(actions), params)
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        winner, reward = np.asarray(info["winner"]), np.asarray(reward)
        for g in np.flatnonzero(~done):
            board = boards[g]
            over = board.is_game_over()
            assert bool(terminated[g]) == over, (board.sfen(), terminated[g], over)
            if over and board.is_fourfold_repetition():
                stats["repetition"] += 1
                done[g] = True
            elif over:
                loser = 0 if board.turn == shogi.BLACK else 1
                assert winner[g] == 1 - loser
                assert reward[g, loser] == -1.0 and reward[g, 1 - loser] == 1.0
                stats["mate"] += 1
                done[g] = True
            elif truncated[g]:
                assert reward[g].tolist() == [0.0, 0.0] and bool(info["draw"][g])
                stats["cap"] += 1
                done[g] = True
        ply += 1
    return stats


def test_random_games_agree_with_python_shogi():
    stats = play_random_games(num_games=4, seed=0, max_moves=150)
    assert stats["positions"] > 200


def _worker(args: tuple[int, int, int]) -> dict[str, int]:
    jax.config.update("jax_platforms", "cpu")
    return play_random_games(*args)


@pytest.mark.slow
def test_thousands_of_random_games_agree_with_python_shogi():
    """2048 full games (move cap 512), spread over the CPU cores."""
    num_workers = max(1, min(32, os.cpu_count() or 1))
    per_worker = 2048 // num_workers
    jobs = [(per_worker, 1000 + i, 512) for i in range(num_workers)]
    with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
        results = pool.map(_worker, jobs)
    totals = {k: sum(r[k] for r in results) for k in results[0]}
    print(totals)
    assert totals["mate"] > 0
