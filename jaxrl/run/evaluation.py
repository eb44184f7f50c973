"""Evaluating a policy on device: mean return over fresh episodes, win/draw/loss per seat in games.

Used by the evaluation callbacks during training and by ``python -m
jaxrl.evaluate`` afterwards; both reach the policy through the algorithm
contract (`Algorithm.agent`, `Algorithm.agent_policy`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl import seats
from jaxrl.algorithm import Agent, Algorithm
from jaxrl.games import (
    both_seats,
    fixed_opponents,
    from_opponent,
    greedy_player,
    play_episodes,
    random_opponent,
    run_episodes,
)


def max_episode_steps(env_params: Any, default: int = 10_000) -> int:
    """The env's own step limit when it has one (``max_steps_in_episode``), else ``default``."""
    return int(getattr(env_params, "max_steps_in_episode", default))


def has_seed_axis(state: Any) -> bool:
    """Whether a training state carries a leading seed axis (``--num-seeds`` runs)."""
    return jnp.ndim(state.update) == 1


def seed_state(state: Any, seed: int = 0) -> Any:
    """Seed ``seed``'s state of a (possibly) multi-seed state."""
    return jax.tree.map(lambda x: x[seed], state) if has_seed_axis(state) else state


def make_evaluator(algo: Algorithm, num_episodes: int, deterministic: bool = True):
    """A jitted ``evaluate(agent, key) -> {"return", "length", ...}`` (each ``[num_episodes]``) for ``algo``'s env.

    The policy is the algorithm's own (`Algorithm.agent_policy`) and sees the env state, so a
    search-based agent plays through its search."""
    env, env_params = algo.eval_env()
    max_steps = max_episode_steps(env_params)

    def evaluate(agent: Agent, key: jax.Array) -> dict[str, jax.Array]:
        return run_episodes(env, env_params, algo.agent_policy(agent, greedy=deterministic), key, num_episodes, max_steps)

    return jax.jit(evaluate)


def game_rates(
    algo: Algorithm, agent: Agent, key: jax.Array, games: int, minimax_depth: int = 2, greedy: bool = True
) -> dict[str, dict[str, float]]:
    """Two-player games: outcome rates of the policy against each fixed opponent, from each seat.

    Returns ``{"random": rates, "minimax<d>": rates}`` (no minimax when
    ``minimax_depth`` is 0), where rates maps ``"<seat>_<outcome>_rate"``
    (seat ``black`` = 0 / ``white`` = 1, outcome ``win``/``draw``/``loss``) to the
    fraction of ``games`` games played from that seat.
    """
    env, env_params = algo.eval_env()
    max_moves = max_episode_steps(env_params)
    out = {}
    for name, opponent in fixed_opponents(env, env_params, minimax_depth).items():
        key, match_key = jax.random.split(key)

        def match(agent, key, opponent=opponent):
            policy = algo.agent_policy(agent, greedy=greedy)
            return both_seats(env, env_params, policy, from_opponent(opponent), key, games, max_moves)

        counts = jax.device_get(jax.jit(match)(agent, match_key))
        out[name] = {
            f"{colour}_{label}_rate": float(counts[outcome][seat]) / games
            for seat, colour in enumerate(("black", "white"))
            for outcome, label in seats.MATCH_LABELS.items()
        }
    return out


def baseline_episodes(env: Any, env_params: Any, key: jax.Array, episodes: int) -> dict[str, dict[str, Any]]:
    """Single-player envs with a mask (puzzles): ``episodes`` fresh episodes of each fixed player, on device.

    Returns ``{"random": ..., "greedy": ...}`` (`random_opponent`, `greedy_player`), each
    with per-episode ``return``, ``length`` and the env's `episode_metrics` (numpy arrays).
    """
    max_steps = max_episode_steps(env_params)
    out = {}
    for name, player in (("random", random_opponent(env, env_params)), ("greedy", greedy_player(env, env_params))):
        key, play_key = jax.random.split(key)

        def choose(key, moves, state, obs, mask, player=player):
            return jax.vmap(player)(jax.random.split(key, episodes), state)

        result = jax.jit(lambda k, choose=choose: play_episodes(env, env_params, choose, k, episodes, max_steps))(play_key)
        result = jax.device_get(result)
        out[name] = {"return": result.returns[:, 0], "length": result.length, **result.info}
    return out


__all__ = ["baseline_episodes", "game_rates", "has_seed_axis", "make_evaluator", "max_episode_steps", "seed_state"]
