"""The progress display: the live view at two widths, boards, trends, the compile spinner, piped lines."""

from __future__ import annotations

import io
import re
from typing import Any

import jax
import numpy as np
import pytest
from flax import struct
from rich.console import Console

import envs
from envs import wrappers
from envs.games import connect_four
from envs.puzzles import triangles
from jaxrl.run import boards
from jaxrl.run.display import (
    Display,
    LiveView,
    Trends,
    fit_parts,
    sparkline,
    summary_line,
)

TOTAL = 1_000_000
RECORD = {
    "update": 42, "env_steps": 420_000, "sps": 5_000.0, "time": 84.0, "episodes": 100.0,
    "black_wins_rate": 0.52, "white_wins_rate": 0.41, "draws_rate": 0.07, "episode_length": 23.5,
    "eval/vs_random/win_rate": 0.97, "eval/vs_minimax2/win_rate": 0.31, "eval/elo": 1234.0,
    "policy_loss": -0.0123, "value_loss": 0.3456, "entropy": 1.234, "approx_kl": 0.00421,
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def console(width: int, height: int = 60) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, height=height, force_terminal=True, color_system=None), out


def render(renderable, width: int, height: int = 60) -> list[str]:
    con, out = console(width, height)
    con.print(renderable)
    return [ANSI.sub("", line).rstrip() for line in out.getvalue().splitlines()]


def live_view(record=RECORD, board=None) -> LiveView:
    view = LiveView(TOTAL)
    view.record, view.board = record, board
    return view


def game_state(env, state):
    """The game's own state under ``env``'s wrappers."""
    while isinstance(env, wrappers.Wrapper):
        state, env = env.inner_state(state), env.env
    return state


def with_game_state(env, state, game):
    """``state`` with the game's own state under ``env``'s wrappers replaced by ``game``."""
    if not isinstance(env, wrappers.Wrapper):
        return game
    if isinstance(env, wrappers.StatefulWrapper):
        return state.replace(env_state=with_game_state(env.env, state.env_state, game))
    return with_game_state(env.env, state, game)


def game_env(name: str):
    """``name`` wrapped as the learners wrap it (episode statistics, auto-reset)."""
    env, params = envs.make(name)
    return wrappers.AutoReset(wrappers.EpisodeStatistics(env)), params


# -- width -----------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 160])
def test_the_bar_row_keeps_its_bar_percentage_and_eta_at_any_width(width):
    lines = render(live_view(), width)
    bar = lines[0]
    assert bar.startswith("training") and "━" in bar and "42%" in bar and "eta 1m56s" in bar
    assert "420k/1M" in bar
    assert all(len(line) <= width for line in lines)


def test_a_wider_console_shows_more_metrics():
    metrics = {width: " ".join(render(live_view(), width)[1:3]) for width in (80, 160)}
    labels = ("black", "white", "draw", "length", "vs random", "vs minimax-2", "elo", "p_loss", "v_loss", "entropy", "kl")
    shown = {width: [label for label in labels if f"{label} " in text] for width, text in metrics.items()}
    assert len(shown[160]) == len(labels) and len(shown[80]) < len(labels)
    assert "…" in metrics[80] and "…" not in metrics[160]  # what is cut is marked


def test_fit_parts_breaks_between_parts_and_marks_what_is_left_out():
    parts = ["aaaa", "bbbb", "cccc", "dddd"]
    assert fit_parts(parts, 11, max_lines=2, separator=" | ") == ["aaaa | bbbb", "cccc | dddd"]
    assert fit_parts(parts, 11, max_lines=1, separator=" | ") == ["aaaa …"]
    assert fit_parts(parts, 100) == ["aaaa | bbbb | cccc | dddd"]
    assert all(len(line) <= 3 for line in fit_parts(["a-very-long-part"], 3))


def test_piped_lines_keep_the_whole_summary():
    stream = io.StringIO()
    display = Display(TOTAL, interval=0.0, stream=stream, env=game_env("ConnectFour-v0")[0])
    assert not display.live and not display.shows_board and not display.wants_board()
    display.update(RECORD, board_state=object())  # never drawn: no terminal
    display.close()
    assert stream.getvalue() == summary_line(RECORD, TOTAL) + "\n"
    assert "eta 1m56s" in stream.getvalue() and "╭" not in stream.getvalue()


# -- boards ----------------------------------------------------------------------------------


def test_connect_four_board_through_the_wrappers():
    env, params = game_env("ConnectFour-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    for column in (3, 3, 4):
        _, state, *_ = env.step(jax.random.PRNGKey(0), state, column, params)
    state = game_state(env, state)  # what `display_state` gives
    text = boards.renderer(env)(state)
    assert text == connect_four.render(state)
    assert text.splitlines()[-2] == ". . . X X . ." and text.splitlines()[-3] == ". . . O . . ."


def test_shogi_board_shows_the_pieces_and_the_hands():
    env, params = game_env("Shogi-v0")
    state = game_state(env, env.reset(jax.random.PRNGKey(0), params)[1])
    draw = boards.renderer(env)
    text = draw(state)
    assert "K" in text and "k" in text and "R" in text and "b" in text
    assert "sente hand: -" in text and "gote hand:  -" in text
    with_hand = state.replace(hand=state.hand.at[0, 0].set(2).at[1, 4].set(1))  # sente: 2 pawns, gote: a bishop
    text = draw(with_hand)
    assert "sente hand: Px2" in text and "gote hand:  bx1" in text


def test_triangles_board():
    env, params = envs.make("Triangles-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    text = boards.renderer(env)(state)
    assert text == triangles.render(state)
    assert text.startswith("score 0") and "slot 0:" in text


def test_envs_without_a_board_get_none():
    env, _ = envs.make("CartPole-v1")
    assert boards.renderer(env) is None and boards.renderer(None) is None


def test_the_board_panel_has_the_outcome_rates():
    panel = "\n".join(render(boards.board_panel("ConnectFour-v0 · game 0", ". . .", RECORD), 80))
    assert "ConnectFour-v0 · game 0" in panel and "black 52%  white 41%  draw 7%" in panel
    assert "black" not in "\n".join(render(boards.board_panel("Triangles-v0", "score 0", {"episode_return": 1.0}), 80))


# -- trends ----------------------------------------------------------------------------------


def test_trends_last_previous_mean_of_five_and_sparkline():
    trends = Trends(window=20)
    values = [float(v) for v in range(1, 26)]  # 25 epochs: the window keeps the last 20
    for update, value in enumerate(values, 1):
        record = {"update": update, "episode_return": value, "policy_loss": -value}
        if update % 10 == 0:
            record["eval/episode_return"] = 100.0 + update
        trends.add(record)
    trends.add({"update": 25, "episode_return": 999.0})  # the same epoch again: not counted twice
    rows = {row.label: row for row in trends.rows()}
    ret = rows["return"]
    assert (ret.last, ret.previous, ret.mean5) == (25.0, 24.0, 23.0)
    assert ret.values == tuple(values[-20:])
    assert rows["eval"].values == (110.0, 120.0) and rows["eval"].previous == 110.0
    assert list(rows) == ["return", "eval", "p_loss"]  # TREND_METRICS order
    line = sparkline(ret.values)
    assert len(line) == 20 and line[0] == "▁" and line[-1] == "█"
    assert sparkline([2.0, 2.0, 2.0]) == "▄▄▄" and sparkline([]) == ""


def test_self_play_return_is_not_a_trend():
    trends = Trends()
    trends.add({"update": 1, "episode_return": 0.0, "black_wins_rate": 0.5, "white_wins_rate": 0.5, "draws_rate": 0.0})
    labels = [row.label for row in trends.rows()]
    assert labels == ["black", "white", "draw"]
    row = trends.rows()[0]
    assert row.previous is None and row.mean5 == 0.5


def test_nan_values_are_left_out_of_the_trends():
    trends = Trends()
    trends.add({"update": 1, "episode_length": float("nan")})
    trends.add({"update": 2, "episode_length": 10.0})
    assert trends.rows()[0].values == (10.0,)


# -- the live display ------------------------------------------------------------------------


def connect_four_state():
    env, params = envs.make("ConnectFour-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    _, state, *_ = env.step_env(jax.random.PRNGKey(0), state, 2, params)
    return env, state


@pytest.mark.parametrize("width", [80, 160])
def test_live_display_draws_bar_metrics_board_and_trends(width):
    env, state = connect_four_state()
    con, out = console(width)
    display = Display(TOTAL, interval=0.0, stream=FakeTerminal(), env=env, console=con)
    assert display.live and display.shows_board and display.wants_board()
    for update in range(1, 4):
        display.update({**RECORD, "update": update, "policy_loss": -0.01 * update}, board_state=state)
    display.close()
    text = ANSI.sub("", out.getvalue())
    final = text[text.rindex("training"):]
    assert "42%" in final and "eta 1m56s" in final
    assert "ConnectFour-v0 · game 0" in final and ". . X . . . ." in final and "1 2 3 4 5 6 7" in final
    assert "trends" in final and "p_loss" in final and "-0.03" in final
    assert "black 52%" in final
    lines = final.splitlines()
    side_by_side = any("ConnectFour" in line and "trends" in line for line in lines)
    assert side_by_side == (width == 160)


def test_live_view_drops_trend_rows_that_do_not_fit_the_height():
    _, state = connect_four_state()
    trends = Trends()
    for update in range(1, 4):
        trends.add({**RECORD, "update": update})
    view = live_view(board=boards.board_panel("ConnectFour-v0", connect_four.render(state), RECORD))
    view.trend_rows = trends.rows()
    tall, short = render(view, 80, height=60), render(view, 80, height=24)
    assert len(tall) > 24 >= len(short)
    assert "trends" in "\n".join(tall)


def test_the_board_is_offered_until_one_is_drawn():
    env, state = connect_four_state()
    con, _ = console(80)
    display = Display(TOTAL, interval=60.0, stream=FakeTerminal(), env=env, console=con)
    assert display.wants_board()
    display.update(RECORD)  # drawn without a board: the next epochs offer one
    assert display.wants_board() and not display.due()
    display._last = -np.inf
    display.update(RECORD, board_state=state)
    assert not display.wants_board()  # fresh, and the next draw is an interval away
    display.close()


def test_a_board_that_fails_to_draw_is_dropped_and_training_goes_on():
    con, out = console(80)
    env, _ = envs.make("ConnectFour-v0")
    display = Display(TOTAL, interval=0.0, stream=FakeTerminal(), env=env, console=con)
    display.update(RECORD, board_state={"not": "a state"})
    assert not display.shows_board
    display.update(RECORD)
    display.close()
    assert "training" in out.getvalue()


def test_compiling_spinner_on_a_terminal_only():
    con, out = console(80)
    display = Display(TOTAL, stream=FakeTerminal(), console=con)
    with display.compiling():
        pass
    assert "XLA compiling 0s" in ANSI.sub("", out.getvalue())
    piped = io.StringIO()
    with Display(TOTAL, stream=piped).compiling():
        pass
    assert piped.getvalue() == ""


# -- the loop and the algorithms -------------------------------------------------------------


def test_ppo_and_alphazero_give_game_zero_unwrapped():
    """Shapes only (`jax.eval_shape`): nothing is compiled or run."""
    from jaxrl import alphazero, ppo
    from jaxrl.config import PPOConfig

    algo = ppo.make(PPOConfig(env="ConnectFour-v0", total_timesteps=64, num_envs=4, num_steps=16, num_minibatches=1))
    one = jax.eval_shape(algo.display_state, jax.eval_shape(algo.init, jax.random.PRNGKey(0)))
    assert isinstance(one, connect_four.ConnectFourState) and one.board.shape == (6, 7)
    az = alphazero.make(alphazero.AlphaZeroConfig(
        env="Triangles-v0", num_envs=2, num_steps=2, num_simulations=2, eval_num_simulations=2,
        max_num_considered_actions=2, channels=4, num_blocks=1, buffer_capacity=64, min_buffer_size=4,
        batch_size=4, train_steps=1, total_timesteps=4, value_target="n_step", n_step=1,
    ))
    one = jax.eval_shape(az.display_state, jax.eval_shape(az.init, jax.random.PRNGKey(0)))
    assert isinstance(one, triangles.TrianglesState) and one.slots.shape == (3,)


@struct.dataclass
class FakeState:
    params: Any
    env_state: Any
    update: jax.Array


class FakeAlgo:
    """Just what the loop reads before it compiles anything, and `display_state` (PPO's)."""

    env_batch_fields = ("env_state",)

    def __init__(self, env, display: bool = True):
        self.env = env
        if display:
            self.display_state = lambda state: jax.tree.map(lambda x: x[0], game_state(self.env, state.env_state))


def trainer_of(algo, num_seeds: int, stream, live_env=None):
    from jaxrl.run.loggers import LoggerGroup
    from jaxrl.run.loop import Trainer, TrainingComponents

    env, params = game_env("ConnectFour-v0")
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds * 3).reshape(num_seeds, 3, 2)
    env_state = jax.vmap(jax.vmap(lambda k: env.reset(k, params)[1]))(keys)
    # Mark game 0 of each seed differently, so that picking the wrong one shows.
    game = game_state(env, env_state)
    marked = np.array(game.board)
    marked[0, 0, 5, 0], marked[-1, 0, 5, 6] = 0, (1 if num_seeds > 1 else -1)
    env_state = with_game_state(env, env_state, game.replace(board=marked))
    state = FakeState(params={"w": np.zeros((num_seeds, 2), np.float32)}, env_state=env_state,
                      update=np.zeros(num_seeds, np.int32))
    if num_seeds == 1:  # one seed has no seed axis
        state = jax.tree.map(lambda x: x[0], state)
    display = Display(TOTAL, stream=stream, env=env)
    components = TrainingComponents(algo=algo, loggers=LoggerGroup([]), display=display, num_seeds=num_seeds)
    return Trainer(components, state)


@pytest.mark.parametrize("num_seeds", [1, 2])
def test_the_loop_takes_game_zero_of_seed_zero(num_seeds):
    env = game_env("ConnectFour-v0")[0]
    trainer = trainer_of(FakeAlgo(env), num_seeds, FakeTerminal())
    board = jax.device_get(trainer._board(trainer.state, force=True))
    assert isinstance(board, connect_four.ConnectFourState) and board.board.shape == (6, 7)
    assert board.board[5, 0] == 0 and board.board[5, 6] == -1
    assert "X . . . . . ." in boards.renderer(env)(board)


def test_no_board_when_piped_or_when_the_algorithm_has_no_display_state():
    env = game_env("ConnectFour-v0")[0]
    assert trainer_of(FakeAlgo(env), 1, io.StringIO())._board_fn is None
    no_method = trainer_of(FakeAlgo(env, display=False), 1, FakeTerminal())
    assert no_method._board_fn is None and no_method._board(no_method.state, force=True) is None
