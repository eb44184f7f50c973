"""Two-seat self-play: rewards from the mover's view, zero-sum signs, seat outcome statistics.

One policy plays both seats of every game. Each transition is credited to
the player who acted; since the next state's value is from the next mover's
point of view, GAE flips its sign wherever the mover changes (`next_sign`).
Outcomes are counted on device: games finished, first-seat (black) wins,
second-seat (white) wins and draws.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
