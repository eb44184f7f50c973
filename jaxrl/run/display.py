"""The progress display: a live view on a terminal, plain throttled lines otherwise.

On a terminal (rich): the bar, percentage and ETA first, then the metrics
fitted to the console's width, a trends table of the main metrics, and for a
game or puzzle the board of one training game (`jaxrl.run.boards`); while XLA
compiles, a spinner with the seconds so far. Piped, each update is one
`summary_line`, which names everything (ETA included).

Updates are throttled to ``interval`` seconds on the host, so that drawing
never costs training time; the final state is always shown.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, TextIO

from jaxrl import seats
from jaxrl.run import boards


def format_number(value: float) -> str:
    """Compact human number: 1234567 -> '1.23M'; past the largest unit, scientific: '7.12e+15'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    units = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))
    if abs(value) >= 999.5 * units[0][1]:
        return f"{value:.3g}"
    for index, (unit, size) in enumerate(units):
        if abs(value) >= size:
            text = f"{value / size:.3g}"
            if "e" in text:  # 999.7k rounds to 1e+03k: it is the next unit's 1.00
                return f"{value / units[index - 1][1]:.3g}{units[index - 1][0]}"
            return text + unit
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if "e" in text and abs(value) >= 1:  # 9999.7 -> '1e+04': a whole k
        return f"{value / 1e3:.3g}k"
    return text


def format_duration(seconds: float) -> str:
    """'42s', '3m05s', '2h10m'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _minimax_keys(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of the win rates against minimax opponents in ``record`` (depth is in the key)."""
    return [
        (key, key.split("/")[1].replace("vs_minimax", "vs minimax-"))
        for key in record
        if key.startswith("eval/vs_minimax") and key.endswith("/win_rate")
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _eta(record: dict[str, Any], total_steps: int) -> str | None:
    """'eta 3m05s' from the record's steps per second; None when done or the rate is unknown."""
    sps = record.get("sps")
    if sps and math.isfinite(sps) and sps > 0 and record["env_steps"] < total_steps:
        return f"eta {format_duration((total_steps - record['env_steps']) / sps)}"
    return None


def _metric_labels(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(key, label) of every metric a summary may show, in the order it shows them."""
    # Self-play credits both seats, so a game's return is 0 by construction: the seat rates say it all.
    games = seats.OUTCOME_RATES[0] in record
    return (
        *(() if games else (("episode_return", "return"),)),
        ("episode_return_std", "±"),
        ("eval/episode_return", "eval"),
        ("episode_score", "score"),
        ("eval/episode_score", "eval score"),
        ("episode_length", "length"),
        *zip(seats.OUTCOME_RATES, ("black", "white", "draw")),
        ("eval/vs_random/win_rate", "vs random"),
        *_minimax_keys(record),
        ("eval/elo", "elo"),
        ("policy_loss", "p_loss"),
        ("value_loss", "v_loss"),
        ("entropy", "entropy"),
        ("search_entropy", "search H"),
        ("root_value", "root v"),
        ("buffer_size", "buffer"),
        ("approx_kl", "kl"),
    )


def metric_parts(record: dict[str, Any]) -> list[str]:
    """'label value' of each metric ``record`` has, in display order."""
    return [
        f"{label} {format_number(record[key])}"
        for key, label in _metric_labels(record)
        if key in record and record[key] is not None
    ]


def summary_line(record: dict[str, Any], total_steps: int) -> str:
    """One plain line describing an epoch record."""
    percent = 100.0 * record["env_steps"] / max(total_steps, 1)
    parts = [
        f"update {record['update']}",
        f"steps {format_number(record['env_steps'])}/{format_number(total_steps)} ({percent:.0f}%)",
        f"sps {format_number(record['sps'])}",
    ]
    eta = _eta(record, total_steps)
    if eta is not None:
        parts.append(eta)
    return " | ".join(parts + metric_parts(record))


def fit_parts(parts: Sequence[str], width: int, max_lines: int = 2, separator: str = " | ") -> list[str]:
    """``parts`` joined by ``separator`` into at most ``max_lines`` lines of ``width`` cells.

    Lines break between parts, never inside one (a part wider than a line is
    cropped). What does not fit is left out and the last line ends with '…'.
    """
    from rich.cells import cell_len, set_cell_size

    width = max(width, 2)
    lines: list[str] = []
    current = ""
    for part in parts:
        if cell_len(part) > width:
            part = set_cell_size(part, width)
        joined = f"{current}{separator}{part}" if current else part
        if cell_len(joined) <= width:
            current = joined
            continue
        if len(lines) + 1 < max_lines:
            lines.append(current)
            current = part
            continue
        while cell_len(current) + 2 > width and separator in current:
            current = current.rsplit(separator, 1)[0]
        if cell_len(current) + 2 > width:
            current = set_cell_size(current, width - 2)
        lines.append(current + " …")
        return lines
    if current:
        lines.append(current)
    return lines


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One block per value, its height scaled between the smallest and largest value (flat: mid height)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high - low <= 1e-12 * max(abs(low), abs(high), 1.0):
        return SPARK_BLOCKS[3] * len(values)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / (high - low) * top)] for v in values)


# The metrics the trends table follows, in its order (those a record has).
TREND_METRICS = (
    ("episode_return", "return"),
    ("episode_score", "score"),
    ("eval/episode_return", "eval"),
    ("eval/episode_score", "eval score"),
    *zip(seats.OUTCOME_RATES, ("black", "white", "draw")),
    ("eval/vs_random/win_rate", "vs random"),
    ("eval/elo", "elo"),
    ("episode_length", "length"),
    ("policy_loss", "p_loss"),
    ("value_loss", "v_loss"),
    ("entropy", "entropy"),
    ("search_entropy", "search H"),
    ("root_value", "root v"),
)


class TrendRow(NamedTuple):
    label: str
    last: float
    previous: float | None
    mean5: float
    values: tuple[float, ...]  # the window, oldest first (what the sparkline draws)


class Trends:
    """The last ``window`` finite values of each `TREND_METRICS` metric, one per epoch record.

    A metric only some epochs report (evaluation) keeps its own history, so
    its previous value is the previous evaluation's.
    """

    def __init__(self, window: int = 20):
        self.window = window
        self._history: dict[str, deque[float]] = {}
        self._last_update: int | None = None

    def add(self, record: dict[str, Any]) -> None:
        update = record.get("update")
        if update is not None and update == self._last_update:
            return  # the same epoch shown again (the run's final update)
        self._last_update = update
        games = seats.OUTCOME_RATES[0] in record
        for key, _ in TREND_METRICS:
            if games and key == "episode_return":
                continue  # zero by construction in self-play
            value = record.get(key)
            if _is_number(value):
                self._history.setdefault(key, deque(maxlen=self.window)).append(float(value))

    def rows(self, limit: int = 10) -> list[TrendRow]:
        rows = []
        for key, label in TREND_METRICS:
            values = self._history.get(key)
            if not values:
                continue
            recent = list(values)[-5:]
            rows.append(TrendRow(
                label, values[-1], values[-2] if len(values) > 1 else None,
                sum(recent) / len(recent), tuple(values),
            ))
        return rows[:limit]


def trends_table(rows: Sequence[TrendRow], window: int = 20):
    """A rich table: metric, last, previous, mean of the last 5 and a sparkline of the window."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column("metric", style="bold", no_wrap=True)
    for name in ("last", "prev", "mean5"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column(f"last {window}", no_wrap=True, style="cyan", min_width=window)
    for row in rows:
        table.add_row(
            row.label, format_number(row.last),
            "-" if row.previous is None else format_number(row.previous),
            format_number(row.mean5), sparkline(row.values),
        )
    return Panel(table, title="trends", title_align="left", expand=False, padding=(0, 1))


class LiveView:
    """What the live display draws, laid out for the console's size when it is drawn.

    First the bar row (bar, percentage, steps and ETA: they always fit), then
    the other numbers of the summary in at most ``metric_lines`` lines, then
    the board and the trends table: side by side where the width allows, else
    one under the other with as many trend rows as the height leaves room for.
    """

    BAR_ROW_WIDTH = 100  # wider, a bar only stretches

    def __init__(self, total_steps: int, metric_lines: int = 2, trend_window: int = 20):
        self.total_steps = total_steps
        self.metric_lines = metric_lines
        self.trend_window = trend_window
        self.record: dict[str, Any] | None = None
        self.board: Any = None  # a rich renderable (`jaxrl.run.boards.board_panel`)
        self.trend_rows: list[TrendRow] = []

    def bar(self, width: int):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        record = self.record or {"env_steps": 0}
        steps, total = record["env_steps"], max(self.total_steps, 1)
        eta = _eta(record, self.total_steps) if self.record else None
        if eta is None and steps >= total:
            eta = f"done in {format_duration(record['time'])}" if _is_number(record.get("time")) else "done"
        row = Table.grid(padding=(0, 1), expand=True)
        row.width = min(width, self.BAR_ROW_WIDTH)
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        for _ in range(3):
            row.add_column(no_wrap=True, justify="right")
        row.add_row(
            "[bold]training", ProgressBar(total=total, completed=min(steps, total)),
            f"{100.0 * steps / total:3.0f}%",
            f"{format_number(steps)}/{format_number(self.total_steps)}", eta or "eta -",
        )
        return row

    def metric_lines_for(self, width: int) -> list[str]:
        if self.record is None:
            return []
        parts = [f"update {self.record['update']}", f"sps {format_number(self.record.get('sps'))}"]
        return fit_parts(parts + metric_parts(self.record), width, self.metric_lines)

    def __rich_console__(self, console, options):
        from rich.measure import Measurement
        from rich.table import Table
        from rich.text import Text

        width, height = options.max_width, console.size.height
        yield self.bar(width)
        lines = self.metric_lines_for(width)
        if lines:
            yield Text("\n".join(lines), style="dim", no_wrap=True, overflow="crop")
        used = 1 + len(lines)
        trends = trends_table(self.trend_rows, self.trend_window) if self.trend_rows else None
        if self.board is None or trends is None:
            yield from (p for p in (self.board, trends) if p is not None)
            return
        if sum(Measurement.get(console, options, p).maximum for p in (self.board, trends)) + 1 <= width:
            grid = Table.grid(padding=(0, 1))
            grid.add_row(self.board, trends)
            yield grid
            return
        yield self.board
        # Stacked: the trend rows that fit below the board (its frame and header take 5 lines).
        room = height - used - len(console.render_lines(self.board, options)) - 5
        if room > 0:
            yield trends_table(self.trend_rows[:room], self.trend_window)


class _Compiling:
    """A spinner, the message and the seconds since it started, redrawn by `rich.live.Live`'s thread."""

    def __init__(self, message: str):
        from rich.spinner import Spinner

        self.message = message
        self.start = time.monotonic()
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console, options):
        self.spinner.update(text=f"{self.message} {format_duration(time.monotonic() - self.start)}")
        yield self.spinner.render(console.get_time())


class Display:
    """Shows progress; ``live=None`` picks a live view when ``stream`` is a terminal.

    ``env``: the training env; when it draws a board (`jaxrl.run.boards.renderer`) the
    live view shows the states given to `update` as ``board_state``. ``console``: a
    `rich.console.Console` to draw the live view on (default: one on ``stream``).
    """

    def __init__(
        self, total_steps: int, interval: float = 1.0, stream: TextIO | None = None, live: bool | None = None,
        env: Any = None, console: Any = None, trend_window: int = 20,
    ):
        self.total_steps = total_steps
        self.interval = interval
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        # On a terminal the drawn lines are copied to the log given to `update`; piped, the
        # stream itself is (train.py's tee), lines that fall back to plain ones included.
        self._copy_to_log = self.live
        self._console = console
        self._last = -math.inf
        self._live = None
        self.view = LiveView(total_steps, trend_window=trend_window)
        self.trends = Trends(trend_window)
        self._render_board = boards.renderer(env) if self.live else None
        self._board_title = f"{env.name} · game 0" if env is not None else ""
        self._board_text: str | None = None
        self._board_stale = True

    @property
    def shows_board(self) -> bool:
        """Whether the live view draws a board (a terminal and an env that renders)."""
        return self._render_board is not None

    def due(self) -> bool:
        """Whether an `update` now would draw (the interval has passed)."""
        return time.monotonic() - self._last >= self.interval

    def wants_board(self) -> bool:
        """Whether the next `update` should get a ``board_state`` (the loop then queues one game's copy).

        The loop takes the board before it dispatches the next epoch, a little before it calls
        `update`, so it is offered from half an interval on (and while the board shown is stale):
        an interval that ends in between still gets the epoch's own board. Only a drawn board
        is copied to the host.
        """
        return self.shows_board and (self._board_stale or time.monotonic() - self._last >= self.interval / 2)

    def console(self):
        """The rich console the live view and the spinner draw on."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, force_terminal=True)
        return self._console

    @contextlib.contextmanager
    def compiling(self, message: str = "XLA compiling") -> Iterator[None]:
        """Around a blocking compile: on a terminal a spinner with the seconds so far; else nothing."""
        if not self.live or self._live is not None:
            yield
            return
        from rich.live import Live

        # Live redraws from its own thread, so the spinner turns while the compile blocks this one.
        with Live(_Compiling(message), console=self.console(), refresh_per_second=8, transient=True):
            yield

    def _start_live(self) -> None:
        # Started on the first update so that start-up messages print above it.
        if self.live and self._live is None:
            from rich.live import Live

            # Drawn by `update` only (no refresh thread): redrawing costs the training nothing between updates.
            self._live = Live(self.view, console=self.console(), auto_refresh=False, transient=False)
            self._live.start()

    def _draw_board(self, board_state: Any) -> None:
        import jax

        try:
            self._board_text = self._render_board(jax.device_get(board_state))
        except Exception as error:  # noqa: BLE001 - a board must never stop training
            self._render_board = self._board_text = None
            # Through the console: printed above the live view, not over it.
            self.console().print(f"warning: the board could not be drawn ({type(error).__name__}: {error}); "
                                 "not shown", markup=False, highlight=False)

    def _draw_live(self, record: dict[str, Any], board_state: Any) -> None:
        self.view.record = record
        if board_state is not None and self.shows_board:
            self._draw_board(board_state)
        self._board_stale = board_state is None
        # The rates under the board are the current record's, even while the board waits for a new state.
        self.view.board = (boards.board_panel(self._board_title, self._board_text, record)
                           if self._board_text is not None else None)
        self.view.trend_rows = self.trends.rows()
        self._start_live()
        self._live.refresh()

    def update(
        self, record: dict[str, Any], force: bool = False, log: TextIO | None = None, board_state: Any = None
    ) -> bool:
        """Show ``record`` if the interval has passed (or ``force``); returns whether it did.

        Every record counts in the trends, drawn or not. ``board_state``: one game's own env
        state to draw (copied to the host only if it is drawn); without it the last board stays.
        """
        self.trends.add(record)
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        line = summary_line(record, self.total_steps)
        if self.live:
            try:
                self._draw_live(record, board_state)
            except Exception as error:  # noqa: BLE001 - drawing must never stop training: plain lines instead
                with contextlib.suppress(Exception):
                    self.close()
                self._live, self.live = None, False
                print(f"warning: the live display failed ({type(error).__name__}: {error}); plain lines instead",
                      file=self.stream, flush=True)
        if not self.live:
            print(line, file=self.stream, flush=True)
        if log is not None and self._copy_to_log:
            print(line, file=log, flush=True)
        return True

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self.live = False


__all__ = [
    "TREND_METRICS", "Display", "LiveView", "TrendRow", "Trends", "fit_parts", "format_duration", "format_number",
    "metric_parts", "sparkline", "summary_line", "trends_table",
]
