"""Elo ratings (host side): expected scores, game-by-game updates, anchoring a fixed opponent."""

from __future__ import annotations

import math


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


__all__ = ["elo_expected", "elo_from_score", "elo_update", "elo_update_games"]
