"""Two-seat self-play: mover rewards, zero-sum signs, outcome counts, matches, opponent pool, Elo.

One policy plays both seats of every game. Each transition is credited to
the player who acted; since the next state's value is from the next mover's
point of view, GAE flips its sign wherever the mover changes (`next_sign`).
Outcomes are counted on device: games finished, first-seat (black) wins,
second-seat (white) wins and draws. For evaluation, `play_match` plays two
policies against each other on device, `OpponentPool` keeps past parameter
snapshots on device, and `elo_update` does the (host-side) rating bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.opponents import uniform_choice


def mover_reward(seat_reward: jax.Array, player: jax.Array) -> jax.Array:
    """Reward ``[B]`` of the seat that acted, from per-seat rewards ``[B, num_players]``."""
    return jnp.take_along_axis(seat_reward, player[..., None].astype(jnp.int32), axis=-1)[..., 0]


def next_sign(player: jax.Array, next_player: jax.Array) -> jax.Array:
    """+1 where the same seat moves again, -1 where the opponent moves next (zero-sum)."""
    return jnp.where(player == next_player, 1.0, -1.0).astype(jnp.float32)


def outcome_counts(done: jax.Array, seat_reward: jax.Array) -> dict[str, jax.Array]:
    """Counts of finished games by outcome; ``done`` ``[...]``, ``seat_reward`` ``[..., 2]``.

    A finished game is a win for the seat with positive final reward, else a
    draw (this includes games cut by a move cap).
    """
    black = done & (seat_reward[..., 0] > 0)
    white = done & (seat_reward[..., 1] > 0)
    return {
        "games": done.sum().astype(jnp.int32),
        "black_wins": black.sum().astype(jnp.int32),
        "white_wins": white.sum().astype(jnp.int32),
        "draws": (done & ~black & ~white).sum().astype(jnp.int32),
    }


def outcome_metrics(done: jax.Array, seat_reward: jax.Array) -> dict[str, jax.Array]:
    """Per-update counts plus rates (NaN when no game finished)."""
    counts = outcome_counts(done, seat_reward)
    games = counts["games"]
    rates = {
        f"{name}_rate": jnp.where(games > 0, counts[name] / jnp.maximum(games, 1), jnp.nan)
        for name in ("black_wins", "white_wins", "draws")
    }
    return {**counts, **rates}


# -- matches between two policies ----------------------------------------------------------

Policy = Callable[[jax.Array, Any, jax.Array, jax.Array], jax.Array]
"""``policy(key, state, obs, mask) -> action`` for *one* game (``play_match`` vmaps it over games).

``state`` is the game's state, ``obs`` its observation for the seat to move,
``mask`` the legal-action mask ``bool[A]``; the action is ``int32[]``.
"""


def from_opponent(act: Callable[[jax.Array, Any], jax.Array]) -> Policy:
    """Adapts a fixed opponent ``act(key, state)`` (`jaxrl.opponents`) to the `Policy` signature."""
    return lambda key, state, obs, mask: act(key, state)


def agent_policy(algo: Any, params: Any, obs_stats: Any = None, *, greedy: bool = True) -> Policy:
    """The PPO actor of ``algo`` with ``params`` as a `Policy`.

    ``greedy`` takes the mode of the masked action distribution, else samples
    from it. ``obs_stats`` are the observation-normaliser statistics
    (``algo.observation_statistics``; None when not normalising). Build it
    inside the jitted function so that ``params`` are traced, not baked in.
    """

    def policy(key: jax.Array, state: Any, obs: jax.Array, mask: jax.Array) -> jax.Array:
        dist = algo.policy(params, algo.normalize_obs(obs, obs_stats), mask)
        return (dist.mode() if greedy else dist.sample(key)).astype(jnp.int32)

    return policy


def play_match(
    env: Any,
    params: Any,
    policy_a: Policy,
    policy_b: Policy,
    key: jax.Array,
    num_games: int,
    a_seat: int | jax.Array,
    max_moves: int = 10_000,
    opening_moves: int = 0,
) -> dict[str, jax.Array]:
    """Plays ``num_games`` games at once, ``policy_a`` in seat ``a_seat`` and ``policy_b`` in the other.

    ``env`` is a two-player game *without* auto-reset (e.g. `jaxrl.evaluate.eval_env`),
    ``params`` its params. Every game starts from ``env.reset``; finished games
    are frozen while the others go on (`lax.while_loop` until all are done or
    ``max_moves`` moves were made). Both policies are evaluated for every game
    each move and the mover's choice is selected, so ``a_seat`` may be traced
    (``jax.vmap`` over seats compiles one program for both). The first
    ``opening_moves`` moves of every game are uniformly random legal moves
    instead of the policies' (random openings, so that two deterministic
    policies still play varied games).

    A game is won by the seat with the larger total reward; equal totals, and
    games still running after ``max_moves``, are draws. Returns ``int32[]``
    counts ``{"wins", "draws", "losses"}`` from ``policy_a``'s view. Pure:
    `jit`- and `vmap`-able (``num_games`` and ``max_moves`` are static).
    """
    a_seat = jnp.asarray(a_seat, jnp.int32)
    key_reset, key_play = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_games), params)
    num_players = env.num_players
    batch_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def move(carry):
        moves, key, obs, state, done, returns = carry
        key, key_a, key_b, key_step, key_open = jax.random.split(key, 5)
        mask = jax.vmap(env.action_mask, in_axes=(0, None))(state, params)
        mover = jax.vmap(env.current_player, in_axes=(0, None))(state, params)
        game_keys = lambda k: jax.random.split(k, num_games)  # noqa: E731
        action_a = jax.vmap(policy_a)(game_keys(key_a), state, obs, mask)
        action_b = jax.vmap(policy_b)(game_keys(key_b), state, obs, mask)
        action = jnp.where(mover == a_seat, action_a, action_b)
        if opening_moves > 0:
            opening = jax.vmap(uniform_choice)(game_keys(key_open), mask)
            action = jnp.where(moves < opening_moves, opening, action)
        next_obs, next_state, reward, terminated, truncated, _ = batch_step(game_keys(key_step), state, action, params)
        returns = returns + jnp.where(done[:, None], 0.0, reward)

        def keep(new, old):
            return jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), old, new)

        state = jax.tree.map(keep, next_state, state)
        obs = keep(next_obs, obs)
        done = done | terminated | truncated
        return moves + 1, key, obs, state, done, returns

    def running(carry):
        moves, _, _, _, done, _ = carry
        return (moves < max_moves) & ~jnp.all(done)

    carry = (
        jnp.zeros((), jnp.int32), key_play, obs, state,
        jnp.zeros(num_games, bool), jnp.zeros((num_games, num_players), jnp.float32),
    )
    _, _, _, _, done, returns = jax.lax.while_loop(running, move, carry)
    a_return = jnp.take(returns, a_seat, axis=1)
    b_return = jnp.take(returns, 1 - a_seat, axis=1)
    wins = done & (a_return > b_return)
    losses = done & (a_return < b_return)
    return {
        "wins": wins.sum().astype(jnp.int32),
        "draws": (~wins & ~losses).sum().astype(jnp.int32),
        "losses": losses.sum().astype(jnp.int32),
    }


# -- opponent pool of past snapshots -------------------------------------------------------


@struct.dataclass
class OpponentPool:
    """A ring buffer of past parameter snapshots, stacked on device.

    params: the network parameters with a leading ``[capacity]`` axis on every leaf.
    added: ``int32[]``, snapshots added so far; slot ``added % capacity`` is written next,
        so once full the oldest snapshot is replaced.
    """

    params: Any
    added: jax.Array

    @property
    def capacity(self) -> int:
        return int(jax.tree.leaves(self.params)[0].shape[0])

    def size(self) -> int:
        """Filled slots (host side)."""
        return min(int(self.added), self.capacity)


def pool_init(params: Any, capacity: int) -> OpponentPool:
    """An empty pool for snapshots shaped like ``params`` (slots hold zeros until filled)."""
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"opponent pool capacity must be a positive int, got {capacity!r}")
    stacked = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), params)
    return OpponentPool(params=stacked, added=jnp.zeros((), jnp.int32))


def pool_add(pool: OpponentPool, params: Any) -> OpponentPool:
    """Writes ``params`` into slot ``added % capacity`` (jit-able; the pool stays on device)."""
    capacity = jax.tree.leaves(pool.params)[0].shape[0]
    slot = pool.added % capacity
    stacked = jax.tree.map(lambda stack, x: stack.at[slot].set(x), pool.params, params)
    return OpponentPool(params=stacked, added=pool.added + 1)


def pool_member(pool: OpponentPool, slot: int | jax.Array) -> Any:
    """The parameters in ``slot`` (may be traced)."""
    return jax.tree.map(lambda stack: stack[slot], pool.params)


# -- Elo ratings (host side) ---------------------------------------------------------------


def elo_expected(rating: float, opponent_rating: float) -> float:
    """Expected score of a player rated ``rating`` against ``opponent_rating`` (standard logistic Elo)."""
    return 1.0 / (1.0 + 10.0 ** ((opponent_rating - rating) / 400.0))


def elo_update(rating: float, results: list[tuple[float, float]], k: float) -> float:
    """The new rating after a round of results against opponents with fixed ratings.

    ``results`` holds ``(opponent_rating, score)`` pairs, ``score`` in [0, 1]
    (1 win, 0.5 draw, 0 loss; a match of many games counts as one result with
    its score rate, so ``k`` does not grow with the games played). Standard
    logistic Elo, every expectation taken at the rating before the round::

        rating + k * sum(score - expected(rating, opponent_rating))
    """
    return rating + k * sum(score - elo_expected(rating, opponent) for opponent, score in results)


def elo_update_games(rating: float, games: list[tuple[float, float]], k: float) -> float:
    """Standard Elo, one game at a time: ``(opponent_rating, score)`` per game, in the order given.

    Each game moves the rating by ``k * (score - expected(rating, opponent_rating))``
    from the rating after the previous game (score 1 win, 0.5 draw, 0 loss).
    """
    for opponent, score in games:
        rating += k * (score - elo_expected(rating, opponent))
    return rating


def elo_from_score(score_rate: float, games: int, opponent_rating: float = 0.0) -> float:
    """The rating at which ``score_rate`` is the expected score against ``opponent_rating``.

    The rate is clipped to ``[1 / (2 games), 1 - 1 / (2 games)]`` so that a
    perfect record gives a finite rating (used to anchor a fixed opponent).
    """
    low = 0.5 / max(games, 1)
    rate = min(max(score_rate, low), 1.0 - low)
    return opponent_rating + 400.0 * math.log10(rate / (1.0 - rate))
