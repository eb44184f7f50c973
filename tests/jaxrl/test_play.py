"""`python -m jaxrl.play`: move parsing, whole games against scripted agents, and the CLI with piped moves."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

import envs
from envs.games.connect_four import ConnectFour
from jaxrl.play import QuitGame, parse_move, play_game
from tests.helpers import runs
from tests.jaxrl.test_games import DRAW

ENV = ConnectFour()
PARAMS = ENV.default_params
ALL_LEGAL = np.ones(7, bool)
RESULT_LINES = ("You win!", "The agent wins.", "Draw.")


# -- parsing -------------------------------------------------------------------------------


def test_parse_move_accepts_columns_one_to_seven():
    assert parse_move("4", ALL_LEGAL) == (3, None)
    assert parse_move("  1\n", ALL_LEGAL) == (0, None)
    assert parse_move("7", ALL_LEGAL, ENV) == (6, None)


@pytest.mark.parametrize("text, fragment", [
    ("x", "'x' is not a move: type a number from 1 to 7"),
    ("", "is not a move"),
    ("3.5", "is not a move"),
    ("0", "0 is out of range"),
    ("8", "8 is out of range"),
    ("-2", "out of range"),
])
def test_parse_move_refuses_malformed_input_with_a_message(text, fragment):
    action, message = parse_move(text, ALL_LEGAL)
    assert action is None and fragment in message


def test_parse_move_refuses_an_illegal_move_and_lists_the_legal_ones():
    legal = ALL_LEGAL.copy()
    legal[[0, 4]] = False
    action, message = parse_move("5", legal)
    assert action is None
    assert message == "5 is not a legal move here; legal moves: 2 3 4 6 7"


def test_parse_move_uses_the_env_parser_and_labels():
    class LetteredEnv:
        @staticmethod
        def parse_action(text):
            if len(text) != 1 or not "a" <= text <= "g":
                raise ValueError("type a letter a-g")
            return ord(text) - ord("a")

        @staticmethod
        def action_label(action):
            return "abcdefg"[action]

    legal = ALL_LEGAL.copy()
    legal[2] = False
    assert parse_move("b", legal, LetteredEnv()) == (1, None)
    assert parse_move("c", legal, LetteredEnv())[1] == "c is not a legal move here; legal moves: a b d e f g"
    assert "type a letter a-g" in parse_move("z", legal, LetteredEnv())[1]


# -- whole games in-process ------------------------------------------------------------------


def scripted(lines):
    """A ``read_line`` that returns ``lines`` in turn, then raises EOFError; records prompts."""
    lines = list(lines)
    prompts = []

    def read_line(prompt):
        prompts.append(prompt)
        if not lines:
            raise EOFError
        return lines.pop(0) + "\n"

    read_line.prompts = prompts
    return read_line


def column_agent(column):
    return lambda obs, mask, key, state=None: column


def test_play_game_the_person_wins_after_refused_moves():
    output = []
    read_line = scripted(["hello", "9", "1", "1", "1", "1"])
    result = play_game(ENV, PARAMS, column_agent(1), 0, jax.random.PRNGKey(0), read_line, output.append)
    assert result == "win"
    text = "\n".join(output)
    assert "'hello' is not a move" in text and "9 is out of range" in text
    assert text.count("agent plays 2") == 3
    assert output[-1] == "You win!"
    assert "X . . . . . .\nX O . . . . .\nX O . . . . .\nX O . . . . .\n1 2 3 4 5 6 7" in text
    assert len(read_line.prompts) == 6


def test_play_game_refuses_a_full_column_as_second_player():
    # The agent (first) and the person both play column 1 until it is full; then 1 is refused.
    output = []
    read_line = scripted(["1", "1", "1", "1", "2"])
    agent = lambda obs, mask, key, state=None: 0 if mask[0] else 6  # noqa: E731
    with pytest.raises(QuitGame):
        play_game(ENV, PARAMS, agent, 1, jax.random.PRNGKey(0), read_line, output.append)
    text = "\n".join(output)
    assert "1 is not a legal move here; legal moves: 2 3 4 5 6 7" in text
    assert output[0].startswith("You play seat 1 (second to move)")


def test_play_game_agent_win_and_draw():
    output = []
    result = play_game(ENV, PARAMS, column_agent(0), 1, jax.random.PRNGKey(0), scripted(["2"] * 3), output.append)
    assert result == "loss" and output[-1] == "The agent wins."
    # The drawn game: the person types the even moves, the agent plays the odd ones (stones on the board).
    agent = lambda obs, mask, key, state=None: DRAW[int(np.asarray(obs).sum())]  # noqa: E731
    person = [str(column + 1) for column in DRAW[0::2]]
    output = []
    result = play_game(ENV, PARAMS, agent, 0, jax.random.PRNGKey(0), scripted(person), output.append)
    assert result == "draw" and output[-1] == "Draw."


def test_play_game_quit_word():
    with pytest.raises(QuitGame):
        play_game(ENV, PARAMS, column_agent(0), 0, jax.random.PRNGKey(0), scripted(["q"]), lambda text: None)


# -- the command line ------------------------------------------------------------------------


def play_cli(run_dir, args, stdin, env):
    return subprocess.run(
        [sys.executable, "-m", "jaxrl.play", str(run_dir), *args], input=stdin, cwd=runs.REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_play_cli_whole_game_with_piped_moves(connect_four_run, cli_env):
    run_dir, _ = connect_four_run
    # Malformed input, then every column in turn until the game ends (full columns are refused).
    moves = "x\n9\n" + "1\n2\n3\n4\n5\n6\n7\n" * 42
    result = play_cli(run_dir, ["--seat", "0", "--greedy"], moves, cli_env)
    assert result.returncode == 0, runs.describe(result)
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    assert "playing against the agent in" in out and "You play seat 0 (first to move)" in out
    assert "'x' is not a move: type a number from 1 to 7" in out and "9 is out of range" in out
    assert ". . . . . . .\n1 2 3 4 5 6 7" in out  # the empty board drawn
    assert "agent plays" in out
    assert sum(out.count(line) for line in RESULT_LINES) == 1, out[-2000:]


def test_play_cli_second_seat_and_end_of_input(connect_four_run, cli_env):
    run_dir, _ = connect_four_run
    result = play_cli(run_dir, ["--seat", "1"], "4\n", cli_env)
    assert result.returncode == 0, runs.describe(result)
    out = result.stdout
    assert out.index("agent plays") < out.index("your move:")  # the agent moves first
    assert out.rstrip().endswith("bye") and "Traceback" not in out + result.stderr


def test_play_cli_refuses_a_missing_run(tmp_path, cli_env):
    result = play_cli(tmp_path / "nothing", [], "", cli_env)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "Traceback" not in result.stderr


# -- Shogi: USI moves ---------------------------------------------------------------------------


def test_shogi_play_refuses_illegal_usi_moves_with_the_reason():
    """A person types USI; malformed, impossible and illegal moves are refused with why, then a
    legal one is played and the agent's reply is written in USI."""
    env, params = envs.make("Shogi-v0")
    env = env.unwrapped if hasattr(env, "unwrapped") else env
    typed = ["7g7e", "7g7f+", "P*5e", "5i5i", "2h2h3", "2b3c", "7g7f"]
    read_line = scripted(typed)
    output = []

    def agent(obs, mask, key, state=None):  # gote answers 3c3d
        return env.usi_to_action(state, "3c3d")

    with pytest.raises(QuitGame):  # the script runs out after sente's second move is asked for
        play_game(env, params, agent, 0, jax.random.PRNGKey(0), read_line, output.append)
    text = "\n".join(output)
    assert "'7g7e' is refused: 7g7e is blocked or leaves your king in check" in text  # a pawn steps one square
    assert "'7g7f+' is refused: the piece cannot promote on this move" in text
    assert "'P*5e' is refused: you have no pawn in hand" in text
    assert "'5i5i' is refused: no piece moves by (0, 0)" in text
    assert "'2h2h3' is refused: bad USI move" in text
    assert "'2b3c' is refused: there is no piece of yours on 2b" in text  # gote's bishop
    assert "legal moves: 1g1f 1i1h 2g2f" in text
    assert "agent plays 3c3d" in text
    assert len(read_line.prompts) == len(typed) + 1


def test_shogi_illegal_reason_names_own_pieces_forced_promotions_and_check():
    env = envs.make("Shogi-v0")[0]
    env = env.unwrapped if hasattr(env, "unwrapped") else env
    state = env.init_from_sfen("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1")
    assert env.illegal_reason(state, "7g7f") is None
    assert env.illegal_reason(state, "8h7g") == "your own piece is on 7g"
    # Sente's pawn on 2b must promote on reaching the last rank; the rook on 1h holds rank h.
    state = env.init_from_sfen("4k4/7P1/9/9/9/9/9/8r/4K4 b - 1")
    assert env.illegal_reason(state, "2b2a") == "the piece must promote after this move"
    assert env.illegal_reason(state, "2b2a+") is None
    assert env.illegal_reason(state, "5i4i") is None
    assert env.illegal_reason(state, "5i5h") == "5i5h is blocked or leaves your king in check"
