"""Move notation and game records: one game played move by move on the host, written down so a
person can replay it (Shogi: a USI ``position startpos moves ...`` line any Shogi GUI reads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxrl.games.opponents import Act


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


def record_game(
    env: Any, params: Any, agent_act: Callable[[jax.Array, Any, jax.Array, jax.Array], jax.Array],
    opponent: Act, key: jax.Array, agent_seat: int = 0,
) -> tuple[list[str], str]:
    """One game of ``agent_act(key, state, obs, mask)`` in ``agent_seat`` against ``opponent``, step by
    step; returns its moves as `move_label` writes them and the result from the agent's view
    ('win', 'draw', 'loss'). ``env`` is an unwrapped two-player game (it must end: a move cap)."""
    agent_act, opponent, step = jax.jit(agent_act), jax.jit(opponent), jax.jit(env.step)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset(reset_key, params)
    moves: list[str] = []
    while True:
        key, act_key, step_key = jax.random.split(key, 3)
        if int(env.current_player(state, params)) == agent_seat:
            action = int(agent_act(act_key, state, obs, env.action_mask(state, params)))
        else:
            action = int(opponent(act_key, state))
        moves.append(move_label(env, action, state))
        obs, state, reward, terminated, truncated, _ = step(step_key, state, action, params)
        if bool(terminated) or bool(truncated):
            reward = np.asarray(reward)
            mine, theirs = float(reward[agent_seat]), float(reward[1 - agent_seat])
            return moves, "win" if mine > theirs else "loss" if mine < theirs else "draw"


__all__ = ["has_positional_notation", "move_label", "record_game", "record_text"]
