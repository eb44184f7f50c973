"""What every benchmark script shares: timing, memory, environment info, JSON, tables, plots.

A measurement compiles apart (``jax.jit(f).lower(*args).compile()``), runs once
to warm up, then times ``repeats`` runs with `jax.block_until_ready` and
reports the median and every run. Optional libraries are imported lazily.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import faulthandler
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax

EXIT_HANG = 3  # a measurement ran past the watchdog's limit


# -- timing ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds spent compiling, in the warm-up run and in each timed run."""

    compile_seconds: float
    warmup_seconds: float
    run_seconds: tuple[float, ...]
    compile_reused: bool = (
        False  # the program was compiled earlier in this run (compile_seconds is that time)
    )

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.run_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "compile_seconds": self.compile_seconds,
            "compile_reused": self.compile_reused,
            "warmup_seconds": self.warmup_seconds,
            "median_seconds": self.median_seconds,
            "run_seconds": list(self.run_seconds),
        }


def add_set_argument(parser: Any, help: str) -> None:
    """The repeatable ``--set KEY=VALUE`` flag every benchmark takes (read with `parse_overrides`)."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help)


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (``--set`` flags) as fields: values read as Python literals, else strings."""
    out = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            out[key.replace("-", "_")] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key.replace("-", "_")] = text
    return out


def compile_apart(fn: Callable, *args: Any, **jit_kwargs: Any) -> tuple[Any, float]:
    """``(compiled, seconds)``: ``fn`` traced, lowered and compiled for ``args``, nothing run."""
    start = time.perf_counter()
    compiled = jax.jit(fn, **jit_kwargs).lower(*args).compile()
    return compiled, time.perf_counter() - start


def time_runs(compiled: Callable, *args: Any, repeats: int) -> tuple[float, tuple[float, ...], Any]:
    """One warm-up call, then ``repeats`` timed calls; returns ``(warmup_s, run_s, last output)``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    warmup = time.perf_counter() - start
    runs = []
    output = None
    for _ in range(repeats):
        start = time.perf_counter()
        output = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return warmup, tuple(runs), output


def measure(
    fn: Callable, *args: Any, repeats: int, compiled: tuple[Any, float] | None = None, reused: bool = False
) -> tuple[Timing, Any, Any]:
    """Compile ``fn`` apart (or take ``compiled = (program, compile_s)``), warm up, time ``repeats`` runs.

    ``reused`` marks a program an earlier measurement already ran. Returns
    ``(timing, last output, compiled program)``.
    """
    program, compile_seconds = compiled if compiled is not None else compile_apart(fn, *args)
    warmup, runs, output = time_runs(program, *args, repeats=repeats)
    return Timing(compile_seconds, warmup, runs, reused), output, program


def compile_many(
    jobs: Sequence[tuple[Callable, tuple]], workers: int
) -> list[tuple[Any, float] | BaseException]:
    """Compile several programs apart: lower one by one, then up to ``workers`` XLA compiles at once.

    XLA compiles a program on one thread, so side by side they finish sooner
    on a multi-core host. Each entry is ``(program, lower + compile seconds)``
    or the exception that job raised.
    """
    from concurrent.futures import ThreadPoolExecutor

    lowered: list[tuple[Any, float] | BaseException] = []
    for fn, args in jobs:
        start = time.perf_counter()
        try:
            lowered.append((jax.jit(fn).lower(*args), time.perf_counter() - start))
        except Exception as error:  # noqa: BLE001 - reported when the program is used
            lowered.append(error)

    def compile_one(entry):
        if isinstance(entry, BaseException):
            return entry
        low, lower_seconds = entry
        start = time.perf_counter()
        try:
            return low.compile(), lower_seconds + time.perf_counter() - start
        except Exception as error:  # noqa: BLE001
            return error

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(compile_one, lowered))


# -- memory ------------------------------------------------------------------------


def peak_memory_bytes(device: Any = None) -> int | None:
    """``peak_bytes_in_use`` of ``device`` (default: the first) since the process started; None on CPU.

    JAX cannot reset this high-water mark, so it covers everything run so far.
    """
    device = device if device is not None else jax.devices()[0]
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory stats raise or return None
        return None
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return int(stats["peak_bytes_in_use"])


def program_memory_bytes(compiled: Any) -> int | None:
    """XLA's own estimate for one compiled program: arguments + outputs + temporaries - aliased."""
    try:
        analysis = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None
    if analysis is None:
        return None
    return int(
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        + analysis.temp_size_in_bytes
        - analysis.alias_size_in_bytes
    )


def memory_fields(compiled: Any) -> dict[str, int | None]:
    return {"peak_bytes_in_use": peak_memory_bytes(), "program_bytes": program_memory_bytes(compiled)}


# -- environment -----------------------------------------------------------------------


def _git_revision(directory: Path) -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            check=False,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment_info() -> dict[str, Any]:
    """Device, versions, date and command line: quoted with every number we publish."""
    import jaxlib
    import numpy as np

    devices = jax.devices()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "git_revision": _git_revision(Path(__file__).resolve().parent.parent),
        "env_vars": {
            k: os.environ[k]
            for k in ("JAX_PLATFORMS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")
            if k in os.environ
        },
    }


def describe_environment(info: dict[str, Any]) -> str:
    return (
        f"{info['device_count']} x {info['platform']}:{info['device_kind']}; jax {info['jax_version']}; "
        f"{info['date']}; {info['cpu_count']} CPUs; git {info['git_revision'] or '?'}"
    )


# -- hangs -------------------------------------------------------------------------------


class Watchdog:
    """Ends the process (exit code 3) when one stage runs longer than ``seconds``.

    A wedged XLA computation blocks inside C++ and cannot be interrupted, so the
    only way to report it is to leave the process: print one line naming the
    stage, dump every thread's Python stack, call ``on_hang`` (e.g. to write
    partial results), then ``os._exit``. ``seconds`` of 0 or None disables it.
    """

    def __init__(self, seconds: float | None, on_hang: Callable[[str], None] | None = None):
        self.seconds = seconds or 0
        self.on_hang = on_hang

    @contextmanager
    def stage(self, label: str, scale: float = 1.0) -> Iterator[None]:
        """Watch the ``with`` block; ``scale`` stretches the limit for a stage known to be longer."""
        if not self.seconds:
            yield
            return
        limit = self.seconds * max(scale, 1.0)
        timer = threading.Timer(limit, self._fire, args=(label, limit))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _fire(self, label: str, limit: float) -> None:
        print(
            f"error: {label} gave no result within {limit:g}s (a hang: the process sat waiting); "
            f"exiting with code {EXIT_HANG}",
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        if self.on_hang is not None:
            try:
                self.on_hang(label)
            except Exception as error:  # noqa: BLE001 - we are leaving anyway
                print(f"warning: could not save partial results ({error})", file=sys.stderr, flush=True)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_HANG)


# -- output --------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy/jax scalars and arrays to Python, NaN and infinities to null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy / jax arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
    temporary.replace(path)  # a reader never sees a half-written file
    return path


def format_number(value: float | None, digits: int = 3) -> str:
    """Compact human number: 1234567 -> '1.23M'; None or NaN -> '-'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.{digits}g}{unit}"
    return f"{value:.{digits}g}"


def format_bytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table; the first column is left-aligned, the others right-aligned."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def loglog_plot(
    path: str | Path,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
) -> Path:
    """One log-log chart of named ``(x, y)`` series, written as PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for label, (xs, ys) in series.items():
        points = [(x, y) for x, y in zip(xs, ys) if y is not None and y > 0]
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
            for x, y in points:
                axes.annotate(format_number(y), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xscale("log")
    axes.set_yscale("log")
    xs = sorted({x for xs_, _ in series.values() for x in xs_})
    if xs:  # label the measured sizes themselves, not powers of ten
        axes.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(xs))
        axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: format_number(y)))
    axes.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    if series:
        axes.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path
