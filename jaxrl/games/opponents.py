"""Fixed players for evaluating policies: uniform random, one-step greedy, and negamax (two-player games).

Generic over any env that follows the game contract (`env.step_env`,
`env.action_mask`, `env.current_player`, ``reward`` of shape
``[num_players]``). Each opponent is a pure ``act(key, state) -> int32[]``
that can be `jit`-ed and `vmap`-ed over games.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from envs.core import Environment

Act = Callable[[jax.Array, Any], jax.Array]
"""``act(key, state) -> action``: ``key`` a PRNG key, ``state`` one game's state, ``action`` ``int32[]``."""

# Scores lie in [-1, 1]; an illegal action scores below any loss.
_ILLEGAL_SCORE = -2.0
_TIE_TOLERANCE = 1e-6


def uniform_choice(key: jax.Array, candidates: jax.Array) -> jax.Array:
    """A uniformly random index among the true entries of ``candidates`` (``bool[A]``); ``int32[]``.

    ``candidates`` must have at least one true entry.
    """
    logits = jnp.where(candidates, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def random_opponent(env: Environment | None = None, params: Any = None) -> Act:
    """Plays a uniformly random legal action.

    The legal actions come from ``env.action_mask(state, params)`` when ``env``
    is given, else from ``state.legal_action_mask`` (an unwrapped game state).
    """

    def act(key: jax.Array, state: Any) -> jax.Array:
        mask = state.legal_action_mask if env is None else env.action_mask(state, params)
        return uniform_choice(key, mask)

    return act


def minimax_opponent(env: Environment, params: Any, depth: int, *, win_discount: float = 0.01) -> Act:
    """Depth-limited negamax over legal actions, ties broken at random.

    A game that ends ``ply`` moves from now (``ply`` = 1 for the opponent's own
    move) scores ``reward[mover] * (1 - win_discount * ply)`` for the seat
    ``mover`` that is to move now, so faster wins and slower losses are
    preferred; positions still open after ``depth`` plies score 0. Each search
    level is one `vmap` over all actions, so the traced graph holds ``depth``
    copies of ``env.step_env`` and compiles quickly; the work per decision is
    ``num_actions ** depth`` env steps.

    Args:
        env: a two-player game (unwrapped, or wrapped without auto-reset).
        params: its params.
        depth: plies to search, a Python int >= 1 (unrolled at trace time).
        win_discount: score lost per ply before a game's end.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"minimax depth must be a positive int, got {depth!r}")
    num_actions = env.action_space(params).n
    actions = jnp.arange(num_actions, dtype=jnp.int32)

    def action_scores(key: jax.Array, state: Any, plies_left: int, ply: int) -> jax.Array:
        """``float32[A]``: negamax score of each action for the seat to move at ``state``."""
        mover = env.current_player(state, params)
        legal = env.action_mask(state, params)

        def score(action_key: jax.Array, action: jax.Array) -> jax.Array:
            step_key, search_key = jax.random.split(action_key)
            _, next_state, reward, terminated, truncated, _ = env.step_env(step_key, state, action, params)
            ended = terminated | truncated
            value = reward[mover] * (1.0 - win_discount * ply)
            if plies_left == 1:
                return value
            next_scores = action_scores(search_key, next_state, plies_left - 1, ply + 1)
            next_legal = env.action_mask(next_state, params)
            best_next = jnp.max(jnp.where(next_legal, next_scores, _ILLEGAL_SCORE))
            same_mover = env.current_player(next_state, params) == mover
            continuation = jnp.where(same_mover, best_next, -best_next)
            return value + jnp.where(ended, 0.0, continuation)

        scores = jax.vmap(score)(jax.random.split(key, num_actions), actions)
        return jnp.where(legal, scores, _ILLEGAL_SCORE)

    def act(key: jax.Array, state: Any) -> jax.Array:
        search_key, choice_key = jax.random.split(key)
        scores = action_scores(search_key, state, depth, 1)
        legal = env.action_mask(state, params)
        best = jnp.max(scores)
        return uniform_choice(choice_key, legal & (scores >= best - _TIE_TOLERANCE))

    return act


def greedy_player(env: Environment, params: Any) -> Act:
    """One-step greedy: the legal action with the best immediate reward for the mover, ties at random.

    Every action is tried with `env.step_env` under its own fresh key (what the
    env draws after the move, e.g. a puzzle's new shapes, is not known in
    advance); the reward of the seat to move is read for games. The baseline a
    puzzle agent must beat: it takes every line it can clear now and shuns a
    move that ends the game, but never plans a second move.
    """
    num_actions = env.action_space(params).n
    actions = jnp.arange(num_actions, dtype=jnp.int32)

    def act(key: jax.Array, state: Any) -> jax.Array:
        step_key, choice_key = jax.random.split(key)
        legal = env.action_mask(state, params)
        rewards = jax.vmap(lambda k, a: env.step_env(k, state, a, params)[2])(
            jax.random.split(step_key, num_actions), actions
        )
        if rewards.ndim > 1:  # per seat: the mover's
            rewards = rewards[:, env.current_player(state, params)]
        scores = jnp.where(legal, rewards, -jnp.inf)
        return uniform_choice(choice_key, legal & (scores >= jnp.max(scores) - _TIE_TOLERANCE))

    return act


# The most bytes of game states a minimax search may hold at once (its deepest level, for every game).
MINIMAX_STATE_BYTES_LIMIT = 16 * 2**30


def minimax_state_bytes(env: Environment, params: Any, depth: int, games: int) -> int:
    """Bytes of the env states a depth-``depth`` search holds at its deepest level for ``games`` games:
    ``num_actions ** depth`` states per game (every action is expanded, legal or not)."""
    state = jax.eval_shape(lambda key: env.reset(key, params)[1], jax.random.PRNGKey(0))
    size = sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(state))
    return int(env.action_space(params).n) ** depth * games * size


def check_minimax(env: Environment, params: Any, depth: int, games: int, flag: str = "--minimax-depth") -> None:
    """Raise ValueError (one line, with what to use instead) when the search would not fit in memory."""
    if depth <= 0:
        return
    need = minimax_state_bytes(env, params, depth, games)
    if need > MINIMAX_STATE_BYTES_LIMIT:
        n = int(env.action_space(params).n)
        fits = [d for d in range(depth - 1, 0, -1) if minimax_state_bytes(env, params, d, games) <= MINIMAX_STATE_BYTES_LIMIT]
        advice = f"use {flag} {fits[0]} or 0 (no minimax opponent)" if fits else f"use {flag} 0 (no minimax opponent)"
        raise ValueError(
            f"{flag} {depth} searches {n}^{depth} positions per move of each of {games} games, about "
            f"{need / 2**30:,.0f} GiB of game states (limit {MINIMAX_STATE_BYTES_LIMIT // 2**30} GiB); {advice}"
        )


def fixed_opponents(env: Environment, params: Any, minimax_depth: int) -> dict[str, Act]:
    """The evaluation opponents of a two-player game, by name: ``random``, and ``minimax<depth>`` unless depth is 0."""
    out = {"random": random_opponent(env, params)}
    if minimax_depth > 0:
        out[f"minimax{minimax_depth}"] = minimax_opponent(env, params, minimax_depth)
    return out


__all__ = ["MINIMAX_STATE_BYTES_LIMIT", "Act", "check_minimax", "fixed_opponents", "minimax_state_bytes", "greedy_player", "minimax_opponent", "random_opponent", "uniform_choice"]
