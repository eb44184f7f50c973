"""``python -m jaxrl.play RUN_DIR [--seat 0|1] [--greedy]``: play a two-player game against a trained agent.

The board is drawn with the env's ``render``; moves are typed at the prompt
(Connect Four: a column, 1-7). Malformed or illegal moves are refused with a
message and asked again. ``q``, end of input or Ctrl-C leave the game.

Single-player puzzles (Triangles-v0): ``python -m jaxrl.play RUN_DIR`` shows
the agent playing a game move by move (``--delay`` seconds apart);
``--human`` lets a person play instead (``python -m jaxrl.play --env
Triangles-v0 --human`` needs no run directory). Triangles moves are typed as
``slot row col``: the slot's hollow triangle goes on that cell.

Generic over games: moves default to the numbers ``1..num_actions`` (action
``n - 1``); an env may provide ``parse_action(text) -> int`` (raising
``ValueError`` with a message for text it cannot read) and
``action_label(action) -> str`` to use its own notation. Notations that need
the position (Shogi's USI: ``7g7f``, ``P*5e``, ``8h2b+``) come from
``move_text(state, action)``, ``move_from_text(state, text)`` and, to tell a
person why a move is refused, ``illegal_reason(state, text) -> str | None``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import jax
import numpy as np

import envs
from jaxrl.config import ConfigError
from jaxrl.games.record import has_positional_notation, move_label
from jaxrl.run.checkpoint import CheckpointError
from jaxrl.run.evaluation import seed_state
from jaxrl.run.rundir import restore_run

SEAT_NAMES = ("first", "second")
QUIT_WORDS = frozenset({"q", "quit", "exit"})


class QuitGame(Exception):
    """The person asked to leave (``q``, end of input)."""


def parse_move(text: str, legal: np.ndarray, env: Any = None, state: Any = None) -> tuple[int | None, str | None]:
    """``(action, None)`` for a legal move typed as ``text``, else ``(None, message)``.

    ``legal`` is the legal-action mask ``bool[A]`` of ``state``. The env's
    ``move_from_text(state, text)`` or ``parse_action(text)`` is used when it has
    one; otherwise a move is a whole number from 1 to A.
    """
    text = text.strip()
    num_actions = len(legal)
    legal_actions = np.flatnonzero(legal)
    labels = [move_label(env, a, state) for a in legal_actions[:None if has_positional_notation(env, state) else 12]]
    if has_positional_notation(env, state):  # USI moves read best in order
        labels = sorted(labels)[:12]
    separator = ", " if any(" " in label for label in labels) else " "  # labels such as "0 3 6"
    legal_labels = separator.join(labels)
    if len(legal_actions) > 12:
        legal_labels += f"{separator}... ({len(legal_actions)} in all)"
    if has_positional_notation(env, state):
        explain = getattr(env, "illegal_reason", None)
        reason = explain(state, text) if callable(explain) else None
        if reason is None:
            try:
                action = int(env.move_from_text(state, text))
            except ValueError as error:
                reason = str(error)
            else:
                if 0 <= action < num_actions and legal[action]:
                    return action, None
                reason = "not a legal move here"
        return None, f"'{text}' is refused: {reason}; legal moves: {legal_labels}"
    parser = getattr(env, "parse_action", None)
    if callable(parser):
        try:
            action = int(parser(text))
        except ValueError as error:
            return None, f"'{text}' is not a move ({error}); legal moves: {legal_labels}"
    else:
        try:
            action = int(text) - 1
        except ValueError:
            return None, f"'{text}' is not a move: type a number from 1 to {num_actions} (legal now: {legal_labels})"
    if not 0 <= action < num_actions:
        return None, f"{text} is out of range: type a number from 1 to {num_actions} (legal now: {legal_labels})"
    if not legal[action]:
        return None, f"{move_label(env, action)} is not a legal move here; legal moves: {legal_labels}"
    return action, None


def ask_move(
    legal: np.ndarray, env: Any, read_line: Callable[[str], str], write: Callable[[str], None], state: Any = None
) -> int:
    """Prompts until a legal move of ``state`` is typed; raises `QuitGame` on ``q`` or end of input."""
    while True:
        try:
            text = read_line("your move: ")
        except EOFError:
            raise QuitGame from None
        if text.strip().lower() in QUIT_WORDS:
            raise QuitGame
        action, message = parse_move(text, legal, env, state)
        if message is None:
            return action
        write(message)


def render(env: Any, state: Any, obs: Any, coordinates: bool = False) -> str:
    """The env's text board; ``coordinates`` asks for the labelled one a person types moves from, where there is one."""
    draw = getattr(env, "render", None)
    if not callable(draw):
        return str(np.asarray(obs))
    if coordinates:
        try:
            return draw(state, coordinates=True)
        except TypeError:
            pass
    return draw(state)


def play_puzzle(
    env: Any,
    env_params: Any,
    agent_act: Callable[[jax.Array, jax.Array, jax.Array, Any], jax.Array] | None,
    key: jax.Array,
    read_line: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    delay: float = 0.0,
) -> dict[str, float]:
    """Plays one game of a single-player env with a mask: the person (``agent_act`` None) or the agent moves.

    Returns ``{"return", "length"}`` and the env's `episode_metrics` (e.g. ``score``). Raises
    `QuitGame` when the person leaves.
    """
    import time

    step = jax.jit(env.step)
    key, key_reset = jax.random.split(key)
    obs, state = env.reset(key_reset, env_params)
    total, moves = 0.0, 0
    if agent_act is None:
        write("Type your move as the board's numbers ask; q to quit.")
    while True:
        write("")
        write(render(env, state, obs, coordinates=agent_act is None))
        legal = np.asarray(env.action_mask(state, env_params))
        key, key_act, key_step = jax.random.split(key, 3)
        if agent_act is None:
            action = ask_move(legal, env, read_line, write, state)
        else:
            action = int(agent_act(obs, legal, key_act, state))
            write(f"agent plays {move_label(env, action, state)}")
            if delay > 0:
                time.sleep(delay)
        obs, state, reward, terminated, truncated, info = step(key_step, state, action, env_params)
        total, moves = total + float(reward), moves + 1
        if bool(terminated) or bool(truncated):
            write("")
            write(render(env, state, obs))
            result = {"return": total, "length": float(moves)}
            result.update({k: float(info[k]) for k in env.episode_metrics})
            scores = "".join(f", {k} {v:g}" for k, v in result.items() if k in env.episode_metrics)
            write(f"Game over after {moves} moves{scores} (return {total:.2f}).")
            return result


def play_game(
    env: Any,
    env_params: Any,
    agent_act: Callable[[jax.Array, jax.Array, jax.Array, Any], jax.Array],
    human_seat: int,
    key: jax.Array,
    read_line: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> str:
    """Plays one game, the person in ``human_seat``; returns 'win', 'loss' or 'draw' (the person's view).

    ``agent_act(obs, mask, key, state) -> action`` picks the agent's moves (``state``: the env's, which a
    search player simulates from);
    ``read_line(prompt)`` and ``write(text)`` talk to the person. Raises
    `QuitGame` when the person leaves.
    """
    step = jax.jit(env.step)
    key, key_reset = jax.random.split(key)
    obs, state = env.reset(key_reset, env_params)
    write(f"You play seat {human_seat} ({SEAT_NAMES[human_seat]} to move). Type q to quit.")
    while True:
        write("")
        write(render(env, state, obs))
        legal = np.asarray(env.action_mask(state, env_params))
        mover = int(env.current_player(state, env_params))
        key, key_act, key_step = jax.random.split(key, 3)
        if mover == human_seat:
            action = ask_move(legal, env, read_line, write, state)
        else:
            action = int(agent_act(obs, legal, key_act, state))
            write(f"agent plays {move_label(env, action, state)}")
        obs, state, reward, terminated, truncated, _ = step(key_step, state, action, env_params)
        if bool(terminated) or bool(truncated):
            write("")
            write(render(env, state, obs))
            mine = float(np.asarray(reward)[human_seat])
            theirs = float(np.asarray(reward)[1 - human_seat])
            result = "win" if mine > theirs else "loss" if mine < theirs else "draw"
            write({"win": "You win!", "loss": "The agent wins.", "draw": "Draw."}[result])
            return result


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m jaxrl.play", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="run directory (or its checkpoints/<step> directory)")
    parser.add_argument("--seat", type=int, choices=(0, 1), default=0, help="your seat: 0 moves first (default), 1 second")
    parser.add_argument("--greedy", action="store_true", help="the agent plays its most likely move (default: samples)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the agent's sampling and the game")
    parser.add_argument("--human", action="store_true", help="puzzles: you play (default: watch the agent)")
    parser.add_argument("--env", help="puzzles with --human: the env to play, when there is no run directory")
    parser.add_argument("--delay", type=float, default=None,
                        help="puzzles: seconds between the agent's moves (default 0.5 on a terminal, else 0)")
    args = parser.parse_args(argv)
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        return _play(args, stdin, stdout)
    except KeyboardInterrupt:
        print("\nbye", file=stdout, flush=True)
        return 130


def _play(args, stdin: TextIO, stdout: TextIO) -> int:
    act = None
    try:
        if args.run_dir is None:
            if not (args.human and args.env):
                raise ConfigError("give a run directory, or --env ENV --human to play a puzzle yourself")
            try:
                env, env_params = envs.make(args.env)
            except ValueError as error:
                raise ConfigError(str(error).splitlines()[0]) from None
            name = args.env
        else:
            algo, train_state, _ = restore_run(args.run_dir)
            policy = jax.jit(algo.agent_policy(algo.agent(seed_state(train_state)), greedy=args.greedy))
            act = lambda obs, mask, key, state: policy(key, state, obs, mask)  # noqa: E731
            env, env_params = algo.eval_env()
            name = algo.config.env
        if env.num_players == 1 and env.action_mask(env.reset(jax.random.PRNGKey(0), env_params)[1], env_params) is None:
            raise ConfigError(f"{name} has no legal-action mask; only games and puzzles can be played here")
        if env.num_players == 2 and act is None:
            raise ConfigError(f"{name} is a two-player game: give the run directory of an agent to play against")
    except (ConfigError, CheckpointError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def write(text: str) -> None:
        print(text, file=stdout, flush=True)

    def read_line(prompt: str) -> str:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        if not line:
            write("")
            raise EOFError
        if not stdin.isatty():  # piped moves: show them, so the transcript reads like a game
            stdout.write(line if line.endswith("\n") else line + "\n")
        return line

    agent = act
    try:
        if env.num_players == 1:
            delay = args.delay if args.delay is not None else (0.5 if stdout.isatty() else 0.0)
            who = "you play" if args.human else f"the agent in {args.run_dir} plays"
            write(f"{name}: {who}")
            play_puzzle(env, env_params, None if args.human else agent, jax.random.PRNGKey(args.seed),
                        read_line, write, delay)
        else:
            write(f"{name}: playing against the agent in {args.run_dir}")
            play_game(env, env_params, agent, args.seat, jax.random.PRNGKey(args.seed), read_line, write)
    except QuitGame:
        write("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
