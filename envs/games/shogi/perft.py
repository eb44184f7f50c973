"""Perft (leaf-node counts of the legal-move tree) with the JAX rules, batched over the frontier.

The frontier of positions at each depth is expanded in chunks: one vmapped
legal-mask call per chunk, then one vmapped make-move over all legal
(position, action) pairs. The last level only counts mask bits.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from envs.games.shogi import rules, sfen


@functools.cache
def _compiled():
    masks = jax.jit(jax.vmap(lambda b, h: rules.legal_action_mask(b, h)[0]))
    counts = jax.jit(jax.vmap(lambda b, h: jnp.sum(rules.legal_action_mask(b, h)[0].astype(jnp.int32))))
    play = jax.jit(jax.vmap(rules.apply_action))
    return masks, counts, play


def _chunks(length: int, chunk: int):
    for start in range(0, length, chunk):
        yield start, min(start + chunk, length)


def _pad_to(array: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` by repeating row 0 (keeps one compiled shape per chunk)."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.repeat(array[:1], size - len(array), axis=0)])


def expand(boards: np.ndarray, hands: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """All children of a frontier of mover's-frame positions ``[N, 81]``, ``[N, 2, 7]``."""
    masks_fn, _, play_fn = _compiled()
    child_boards, child_hands = [], []
    for start, stop in _chunks(len(boards), chunk):
        b, h = _pad_to(boards[start:stop], chunk), _pad_to(hands[start:stop], chunk)
        mask = np.asarray(masks_fn(b, h))[: stop - start]
        parent, action = np.nonzero(mask)
        for s2, e2 in _chunks(len(parent), chunk):
            idx = _pad_to(parent[s2:e2], chunk)
            act = _pad_to(action[s2:e2], chunk)
            nb, nh = play_fn(b[idx], h[idx], act)
            child_boards.append(np.asarray(nb)[: e2 - s2])
            child_hands.append(np.asarray(nh)[: e2 - s2])
    if not child_boards:
        return np.zeros((0, 81), boards.dtype), np.zeros((0, 2, 7), hands.dtype)
    return np.concatenate(child_boards), np.concatenate(child_hands)


def count_moves(boards: np.ndarray, hands: np.ndarray, chunk: int = 4096) -> int:
    """Total number of legal moves over a frontier."""
    _, counts_fn, _ = _compiled()
    total = 0
    for start, stop in _chunks(len(boards), chunk):
        counts = counts_fn(_pad_to(boards[start:stop], chunk), _pad_to(hands[start:stop], chunk))
        total += int(np.asarray(counts)[: stop - start].sum())
    return total


def perft(position: str | sfen.Position, depth: int, chunk: int = 4096) -> int:
    """Number of leaf nodes at ``depth`` plies from ``position`` (an SFEN string or `Position`)."""
    if isinstance(position, str):
        position = sfen.parse_sfen(position)
    board, hand = sfen.to_mover_frame(position)
    boards, hands = board[None].astype(np.int8), hand[None].astype(np.int8)
    if depth == 0:
        return 1
    for _ in range(depth - 1):
        boards, hands = expand(boards, hands, chunk)
    return count_moves(boards, hands, chunk)
