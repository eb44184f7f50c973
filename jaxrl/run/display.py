"""The progress display: a live bar on a terminal, plain throttled lines otherwise.

Updates are throttled to ``interval`` seconds on the host, so that drawing
never costs training time; the final state is always shown.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from jaxrl import seats


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


def summary_line(record: dict[str, Any], total_steps: int) -> str:
    """One plain line describing an epoch record."""
    percent = 100.0 * record["env_steps"] / max(total_steps, 1)
    parts = [
        f"update {record['update']}",
        f"steps {format_number(record['env_steps'])}/{format_number(total_steps)} ({percent:.0f}%)",
        f"sps {format_number(record['sps'])}",
    ]
    sps = record.get("sps")
    if sps and math.isfinite(sps) and sps > 0 and record["env_steps"] < total_steps:
        parts.append(f"eta {format_duration((total_steps - record['env_steps']) / sps)}")
    # Self-play credits both seats, so a game's return is 0 by construction: the seat rates say it all.
    games = seats.OUTCOME_RATES[0] in record
    for key, label in (
        *((() if games else (("episode_return", "return"),))),
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
    ):
        if key in record and record[key] is not None:
            parts.append(f"{label} {format_number(record[key])}")
    return " | ".join(parts)


class Display:
    """Shows progress; ``live=None`` picks a live bar when ``stream`` is a terminal."""

    def __init__(self, total_steps: int, interval: float = 1.0, stream: TextIO | None = None, live: bool | None = None):
        self.total_steps = total_steps
        self.interval = interval
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._last = -math.inf
        self._progress = None

    def _start_live(self) -> None:
        # Started on the first update so that start-up messages print above the bar.
        if self.live and self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]training"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(), TextColumn("{task.fields[line]}"),
                console=Console(file=self.stream), transient=False,
            )
            self._task = self._progress.add_task("train", total=self.total_steps, line="")
            self._progress.start()

    def update(self, record: dict[str, Any], force: bool = False, log: TextIO | None = None) -> bool:
        """Show ``record`` if the interval has passed (or ``force``); returns whether it did."""
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        self._start_live()
        line = summary_line(record, self.total_steps)
        if self._progress is not None:
            self._progress.update(self._task, completed=record["env_steps"], line=line)
        else:
            print(line, file=self.stream, flush=True)
        if log is not None and self._progress is not None:
            print(line, file=log, flush=True)
        return True

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.live = False


__all__ = ["Display", "format_duration", "format_number", "summary_line"]
