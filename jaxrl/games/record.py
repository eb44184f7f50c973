"""Move notation and game records: one game played move by move on the host, written down so a
person can replay it (Shogi: a USI ``position startpos moves ...`` line any Shogi GUI reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from jaxrl.games.opponents import Act, fixed_opponents


def has_positional_notation(env: Any, state: Any = None) -> bool:
    """Whether ``env`` names moves in a notation that needs the position (``move_text(state, action)``,
    ``move_from_text(state, text)``; Shogi's USI), and ``state`` is there to use it."""
    return state is not None and callable(getattr(env, "move_from_text", None))


def move_label(env: Any, action: int, state: Any = None) -> str:
    """How a move is written: the env's ``move_text(state, action)`` or ``action_label(action)`` if it has
    one, else ``action + 1`` (Connect Four's columns)."""
    if has_positional_notation(env, state):
        return env.move_text(state, action)
    label = getattr(env, "action_label", None)
    return label(action) if callable(label) else str(action + 1)


def record_text(env: Any, moves: list[str]) -> str:
    """The written record of a game of ``moves``: the env's ``game_record(moves)``, else the moves in order."""
    write = getattr(env, "game_record", None)
    return write(moves) if callable(write) else " ".join(moves)


def play_moves(
    env: Any, params: Any, agent_act: Callable[[jax.Array, Any, jax.Array, jax.Array], jax.Array], key: jax.Array,
    opponent: Act | None = None, agent_seat: int = 0, max_steps: int | None = None,
) -> Iterator[tuple[Any, jax.Array, Any, jax.Array, bool]]:
    """One episode played step by step on the host: yields ``(state, action, next_state, reward, done)``
    per step, until the episode ends or ``max_steps`` steps. ``agent_act(key, state, obs, mask)`` moves;
    with an ``opponent(key, state)`` the env is a two-player game and the agent moves in ``agent_seat``."""
    agent_act, step = jax.jit(agent_act), jax.jit(env.step)
    opponent = jax.jit(opponent) if opponent is not None else None
    key, reset_key = jax.random.split(key)
    obs, state = env.reset(reset_key, params)
    steps = 0
    while max_steps is None or steps < max_steps:
        key, act_key, step_key = jax.random.split(key, 3)
        if opponent is not None and int(env.current_player(state, params)) != agent_seat:
            action = opponent(act_key, state)
        else:
            action = agent_act(act_key, state, obs, env.action_mask(state, params))
        obs, next_state, reward, terminated, truncated, _ = step(step_key, state, action, params)
        done = bool(terminated) or bool(truncated)
        yield state, action, next_state, reward, done
        state, steps = next_state, steps + 1
        if done:
            return


def record_game(
    env: Any, params: Any, agent_act: Callable[[jax.Array, Any, jax.Array, jax.Array], jax.Array],
    opponent: Act, key: jax.Array, agent_seat: int = 0,
) -> tuple[list[str], str]:
    """One game of ``agent_act(key, state, obs, mask)`` in ``agent_seat`` against ``opponent``, step by
    step; returns its moves as `move_label` writes them and the result from the agent's view
    ('win', 'draw', 'loss'). ``env`` is an unwrapped two-player game (it must end: a move cap)."""
    moves: list[str] = []
    for state, action, _, reward, done in play_moves(env, params, agent_act, key, opponent, agent_seat):
        moves.append(move_label(env, int(action), state))
        if done:
            reward = np.asarray(reward)
            mine, theirs = float(reward[agent_seat]), float(reward[1 - agent_seat])
            return moves, "win" if mine > theirs else "loss" if mine < theirs else "draw"
    raise AssertionError("play_moves ends only at the end of the game")


def strongest_opponent(env: Any, params: Any, minimax_depth: int) -> tuple[str, Act]:
    """The last, strongest of `fixed_opponents` with its name: the one a record or a video plays against."""
    return list(fixed_opponents(env, params, minimax_depth).items())[-1]


__all__ = ["has_positional_notation", "move_label", "play_moves", "record_game", "record_text", "strongest_opponent"]
