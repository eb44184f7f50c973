"""Playing games on device: whole episodes, matches between policies, fixed opponents, a snapshot pool, Elo."""

from jaxrl.games.elo import elo_expected, elo_from_score, elo_update, elo_update_games
from jaxrl.games.match import (
    Episodes,
    Policy,
    both_seats,
    from_opponent,
    play_episodes,
    play_match,
    run_episodes,
)
from jaxrl.games.opponents import fixed_opponents, greedy_player, minimax_opponent, random_opponent, uniform_choice
from jaxrl.games.pool import OpponentPool, pool_add, pool_init, pool_member

__all__ = [
    "Episodes", "OpponentPool", "Policy", "both_seats", "elo_expected", "elo_from_score", "elo_update",
    "elo_update_games", "fixed_opponents", "from_opponent", "greedy_player", "minimax_opponent", "play_episodes", "play_match",
    "pool_add", "pool_init", "pool_member", "random_opponent", "run_episodes", "uniform_choice",
]
