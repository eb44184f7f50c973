"""Two seats on the learning side: reward credit, the sign of the next mover, outcome counts.

Games give a reward per seat (``[..., num_players]``). A transition is credited
to the seat that acted (`mover_reward`); the next state's value is from the
next mover's point of view, so advantage estimation flips its sign wherever
the mover changes (`next_sign`). Finished games are counted on device as
black (first seat) wins, white wins and draws (`outcome_metrics`); the host
pools those counts over an epoch (`pool_outcomes`) and names them for the
display (`OUTCOME_RATES`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

OUTCOMES = ("black_wins", "white_wins", "draws")
"""Outcome counters of finished games, per update: first-seat wins, second-seat wins, draws."""

OUTCOME_RATES = tuple(f"{name}_rate" for name in OUTCOMES)
"""The rate of each outcome among the games finished in an update (NaN when none finished)."""


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
        f"{name}_rate": jnp.where(games > 0, counts[name] / jnp.maximum(games, 1), jnp.nan) for name in OUTCOMES
    }
    return {**counts, **rates}


def pool_outcomes(summary: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Host side: set ``summary``'s outcome counts and rates to those of all ``records`` (an epoch's updates)."""
    games = sum(record.get("games") or 0 for record in records)
    if not games:
        return
    summary["games"] = float(games)
    for name in OUTCOMES:
        total = sum(record.get(name) or 0 for record in records)
        summary[name] = total
        summary[f"{name}_rate"] = total / games


def seat_rates(prefix: str, counts: dict[str, np.ndarray], games: int) -> dict[str, float]:
    """Per-seat outcome rates from match counts ``[num_seeds, 2 seats]`` (`jaxrl.games.match.play_match`).

    Keys ``<prefix>/<black|white>_<win|draw|loss>_rate`` pool the seeds;
    ``<prefix>/win_rate`` pools both seats.
    """
    out: dict[str, float] = {}
    num_seeds = counts["wins"].shape[0]
    for seat, colour in enumerate(("black", "white")):
        for key, label in MATCH_LABELS.items():
            out[f"{prefix}/{colour}_{label}_rate"] = float(counts[key][:, seat].sum()) / (games * num_seeds)
    out[f"{prefix}/win_rate"] = float(counts["wins"].sum()) / (2 * games * num_seeds)
    return out


MATCH_LABELS = {"wins": "win", "draws": "draw", "losses": "loss"}
"""Match counters (from one player's view) and the word each takes in metric names."""


__all__ = [
    "MATCH_LABELS", "OUTCOMES", "OUTCOME_RATES", "mover_reward", "next_sign", "outcome_counts", "outcome_metrics",
    "pool_outcomes", "seat_rates",
]
