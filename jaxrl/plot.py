"""Learning curves from metrics.jsonl, drawn the way RL papers draw them.

``python -m jaxrl.plot RUN_DIR [RUN_DIR ...] [-o OUT.png|.pdf|.svg] [--metrics KEY,KEY,...]
[--x env_steps|seconds] [--smooth FRACTION] [--spread std|minmax] [--group auto|none|all]``

Every run is one curve in its own colour, several runs are overlaid. The seeds of a multi-seed
run (``--num-seeds``) become one curve, and so do run directories whose configs differ only by
seed (``--group auto``; ``--group all`` pools every run given): the mean over seeds with a
shaded spread. A smoothed line (a centred rolling mean) is drawn over the faint raw one, and a
series of few points gets a marker on every point.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import functools
import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from jaxrl.run.loggers import read_jsonl


class Panel(NamedTuple):
    """One axes: ``key`` "a|b" draws several series (solid, dashed, named by ``series``)."""

    key: str
    title: str
    ylabel: str
    series: tuple[str, ...] = ()


# A "*" in a key: one panel per matching key logged, its name put into the title's "{}".
PANELS = (
    Panel("episode_return", "episode return (training)", "episode return"),
    Panel("eval/episode_return", "episode return (evaluation)", "episode return"),
    Panel("episode_score|eval/episode_score", "game score", "game score", ("training", "evaluation")),
    Panel("black_wins_rate", "black win rate", "win rate"),
    Panel("eval/vs_random/black_win_rate|eval/vs_random/white_win_rate", "win rate vs random", "win rate",
          ("as black", "as white")),
    Panel("eval/vs_minimax*/black_win_rate|eval/vs_minimax*/white_win_rate", "win rate vs {}", "win rate",
          ("as black", "as white")),
    Panel("eval/elo", "Elo (evaluation)", "Elo"),
    Panel("value_loss", "value loss", "value loss"),
    Panel("entropy", "entropy", "entropy (nats)"),
    Panel("approx_kl", "approx KL", "KL divergence (nats)"),
    Panel("sps", "throughput", "env steps / s"),
)
# Line style and marker of a panel's first, second and third series: markers tell them apart
# where a series is too short to show its line style.
STYLES = (("-", "o"), ("--", "s"), (":", "^"))

X_AXES = {"env_steps": "env steps", "seconds": "wall time (s)"}
SPREADS = {"std": "mean ± 1 std over seeds", "minmax": "min–max over seeds"}
GROUPS = ("auto", "none", "all")
DEFAULT_SMOOTH = 0.1
# Series with at most this many points get a marker on each: a line through one point is invisible.
MARKER_POINTS = 30
# Config fields that do not change what is learnt: runs differing only in these (and the seed)
# are seeds of one experiment.
NON_LEARNING_FIELDS = frozenset({
    "seed", "run_dir", "resume", "config", "display_interval", "checkpoint_every", "keep_checkpoints",
    "tensorboard", "wandb", "wandb_project", "plot", "compile_cache", "deterministic", "devices",
    "coordinator_address", "num_processes", "process_id", "backend",
})
_COUNTERS = frozenset({"update", "env_steps", "epoch", "time"})
_SEED_KEY = re.compile(r"^(?P<key>.+)/seed_(?P<seed>\d+)$")
_ALGORITHM_NAMES = {"ppo": "PPO", "alphazero": "AlphaZero"}


class PlotError(ValueError):
    """Input that cannot be plotted; the command line prints its message as one line."""


@dataclasses.dataclass
class Run:
    """One run directory's records, with what its config.yaml says (empty without one)."""

    path: Path
    name: str
    records: list[dict[str, Any]]
    config: dict[str, Any]
    _x: dict[str, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def algo(self) -> str | None:
        return self.config.get("algo")

    @property
    def env(self) -> str | None:
        section = self.config.get(self.algo) if self.algo else None
        return section.get("env") if isinstance(section, dict) else None

    @functools.cached_property
    def _seed_keys(self) -> dict[str, list[str]]:
        seeds: dict[str, set[int]] = {}
        for record in self.records:
            for k in record:
                if m := _SEED_KEY.match(k):
                    seeds.setdefault(m["key"], set()).add(int(m["seed"]))
        return {key: [f"{key}/seed_{s}" for s in sorted(found)] for key, found in seeds.items()}

    @property
    def num_seeds(self) -> int:
        logged = max((len(keys) for keys in self._seed_keys.values()), default=1)
        return int(self.config.get("num_seeds") or 0) or logged

    def seed_keys(self, key: str) -> list[str]:
        """The per-seed keys (``key/seed_<i>``) logged for ``key``, in seed order."""
        return self._seed_keys.get(key, [])

    def x(self, axis: str) -> np.ndarray:
        """Each record's position on the x axis (NaN where a record lacks it)."""
        if axis not in self._x:
            self._x[axis] = self._positions(axis)
        return self._x[axis]

    def _positions(self, axis: str) -> np.ndarray:
        if axis == "env_steps":
            return np.array([_number(r.get("env_steps")) for r in self.records])
        # All updates of an epoch are logged at the epoch's end with one time: spread them over the
        # epoch's wall time, or they would stand in one vertical stack.
        xs = np.array([_number(r.get("time")) for r in self.records])
        start = 0
        while start < len(self.records):
            end = start + 1
            while end < len(self.records) and _same_epoch(self.records[start], self.records[end]):
                end += 1
            seconds = _number(self.records[end - 1].get("epoch_seconds"))
            if end - start > 1 and math.isfinite(seconds):
                count = end - start
                xs[start:end] -= seconds * (count - 1 - np.arange(count)) / count
            start = end
        return xs

    def series(self, key: str, axis: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of the records holding a finite ``key``, in x order."""
        xs = self.x(axis)
        ys = np.array([_number(r.get(key)) for r in self.records])
        keep = np.isfinite(xs) & np.isfinite(ys)
        order = np.argsort(xs[keep], kind="stable")
        return xs[keep][order], ys[keep][order]


@dataclasses.dataclass
class Curve:
    """What one legend entry draws: a run, or several runs pooled as seeds of one experiment."""

    label: str
    runs: list[Run]

    @property
    def num_seeds(self) -> int:
        return sum(run.num_seeds for run in self.runs)


@dataclasses.dataclass
class Line:
    """One curve's series of one metric, ready to draw."""

    x: np.ndarray
    raw: np.ndarray
    smooth: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    spread: str | None = None  # what low..high shows: a key of SPREADS


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _same_epoch(a: dict, b: dict) -> bool:
    return a.get("epoch") == b.get("epoch") and a.get("time") == b.get("time")


# -- loading -------------------------------------------------------------------------------


def load_run(run_dir: str | Path) -> Run:
    """The run in ``run_dir``; `PlotError` when it is not a run directory with records."""
    path = Path(run_dir)
    if not path.is_dir():
        raise PlotError(f"{run_dir} does not exist or is not a directory")
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise PlotError(f"{run_dir} has no metrics.jsonl (is it a run directory?)")
    try:
        records = [r for r in read_jsonl(metrics) if isinstance(r, dict)]
    except (OSError, UnicodeDecodeError) as error:
        raise PlotError(f"cannot read {metrics}: {error}") from None
    if not records:
        raise PlotError(f"{metrics} holds no records yet")
    config: dict[str, Any] = {}
    config_path = path / "config.yaml"
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            loaded = None  # the curves do not need it; only the title and seed grouping do
        config = loaded if isinstance(loaded, dict) else {}
    return Run(path, path.name or path.resolve().name, records, config)


def _learning_config(run: Run) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in NON_LEARNING_FIELDS}
        return value

    return strip(run.config)


def _group_label(runs: list[Run]) -> str:
    names = [run.name for run in runs]
    prefix = os.path.commonprefix(names)
    if prefix not in names:
        # Cut back to a whole word: "cartpole-s0", "cartpole-s1" -> "cartpole", not "cartpole-s".
        cut = max(prefix.rfind(c) for c in "-_. ")
        prefix = prefix[:cut] if cut > 0 else prefix
    prefix = prefix.rstrip("-_. ")
    return prefix if len(prefix) >= 3 else "+".join(names)


def group_runs(runs: list[Run], group: str = "auto") -> list[Curve]:
    """A curve per run (``none``), per set of runs differing only by seed (``auto``), or one (``all``)."""
    if group not in GROUPS:
        raise PlotError(f"unknown --group {group!r} (choose from {', '.join(GROUPS)})")
    if group == "all" and len(runs) > 1:
        return [Curve(_group_label(runs), runs)]
    sets: list[list[Run]] = []
    for run in runs:
        for members in sets:
            head = members[0]
            if (group == "auto" and run.config and head.config
                    and _learning_config(run) == _learning_config(head)
                    and run.config.get("seed") not in {m.config.get("seed") for m in members}):
                members.append(run)
                break
        else:
            sets.append([run])
    return [Curve(_group_label(members) if len(members) > 1 else members[0].name, members)
            for members in sets]


# -- series --------------------------------------------------------------------------------


def smooth(x: np.ndarray, y: np.ndarray, fraction: float) -> np.ndarray:
    """Centred rolling mean of ``y`` over a window of ``fraction`` of the x range (0: ``y`` as is).

    A window in x units (not in points) keeps irregularly spaced series, such as evaluations,
    comparable with per-update ones, and scales with the length of the run. Near the ends the
    window holds only the points that exist; NaNs are skipped. ``x`` must be sorted.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    half = 0.5 * fraction * (float(x.max() - x.min()) if len(x) else 0.0)
    if half <= 0:
        return y.copy()
    finite = np.isfinite(y)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, y, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    low = np.searchsorted(x, x - half, side="left")
    high = np.searchsorted(x, x + half, side="right")
    n = counts[high] - counts[low]
    return np.where(n > 0, (sums[high] - sums[low]) / np.maximum(n, 1), np.nan)


def _on_grid(members: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, values [members, grid])``: the members' series on one x grid."""
    first = members[0][0]
    if all(len(x) == len(first) and np.array_equal(x, first) for x, _ in members):
        return first, np.stack([y for _, y in members])
    # Different x (wall time, or runs logged at different steps): interpolate onto the union of
    # the xs, kept to the range every member covers so that the mean does not jump where one ends.
    grid = np.unique(np.concatenate([x for x, _ in members]))
    start, stop = max(x[0] for x, _ in members), min(x[-1] for x, _ in members)
    if start <= stop:
        grid = grid[(grid >= start) & (grid <= stop)]
    values = np.full((len(members), len(grid)), np.nan)
    for row, (x, y) in zip(values, members):
        ok = np.isfinite(y)
        if ok.any():
            inside = (grid >= x[ok][0]) & (grid <= x[ok][-1])
            row[inside] = np.interp(grid[inside], x[ok], y[ok])
    return grid, values


def curve_line(curve: Curve, key: str, axis: str = "env_steps", smooth_fraction: float = DEFAULT_SMOOTH,
               spread: str = "std") -> Line | None:
    """``curve``'s series of ``key`` (None when no run of it logged one).

    Seeds are the per-seed keys a multi-seed run logs, else each run's own ``key``; each seed is
    smoothed first, so that the spread shows how seeds differ rather than update-to-update noise.
    A single run without per-seed values but with a logged ``<key>_std`` (evaluation return over
    seeds) shows mean ± that std.
    """
    members = []
    for run in curve.runs:
        for seed_key in run.seed_keys(key) or [key]:
            x, y = run.series(seed_key, axis)
            if len(x):
                members.append((x, y))
    if not members:
        return None
    if len(members) == 1:
        x, y = members[0]
        line = Line(x, y, smooth(x, y, smooth_fraction))
        if len(curve.runs) == 1:
            run = curve.runs[0]
            std_x, std = run.series(key + "_std", axis)
            if len(std_x) == len(x) and np.array_equal(std_x, x):
                std = smooth(x, std, smooth_fraction)
                line.low, line.high, line.spread = line.smooth - std, line.smooth + std, "std"
        return line
    grid, raw = _on_grid(members)
    _, smoothed = _on_grid([(x, smooth(x, y, smooth_fraction)) for x, y in members])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no seed has a value there
        mean = np.nanmean(smoothed, axis=0)
        if spread == "minmax":
            low, high = np.nanmin(smoothed, axis=0), np.nanmax(smoothed, axis=0)
        else:
            std = np.nanstd(smoothed, axis=0)
            low, high = mean - std, mean + std
        return Line(grid, np.nanmean(raw, axis=0), mean, low, high, spread)


# -- panels --------------------------------------------------------------------------------


def _logged_keys(runs: list[Run]) -> list[str]:
    """Metric keys the runs logged, without counters, per-seed copies and spreads."""
    keys = {k for run in runs for r in run.records for k, v in r.items() if isinstance(v, (int, float))}
    return sorted(k for k in keys if k not in _COUNTERS and not _SEED_KEY.match(k) and not k.endswith("_std"))


def _expand_panels(runs: list[Run]) -> list[Panel]:
    """PANELS with each wildcard key replaced by the matching keys the runs logged."""
    logged = _logged_keys(runs)
    panels = []
    for panel in PANELS:
        if "*" not in panel.key:
            panels.append(panel)
            continue
        first = panel.key.split("|")[0]
        for match in (k for k in logged if fnmatch.fnmatchcase(k, first)):
            name = match.split("/")[1]  # e.g. vs_minimax2
            # "minimax-2", as the progress display names it.
            opponent = re.sub(r"(\D)(\d+)$", r"\1-\2", name.removeprefix("vs_"))
            panels.append(panel._replace(key=panel.key.replace("vs_minimax*", name),
                                         title=panel.title.format(opponent)))
    return panels


def _ylabel(key: str) -> str:
    """A y-axis label for a metric outside PANELS, with its unit where the name tells it."""
    leaf = key.rsplit("/", 1)[-1]
    if leaf.endswith("_rate"):
        return leaf.removesuffix("_rate").replace("_", " ") + " rate"
    if leaf == "elo":
        return "Elo"
    if leaf.endswith("seconds"):
        return leaf.replace("_", " ") + " (s)"
    return leaf.replace("_", " ")


def select_panels(runs: list[Run], metrics: list[str] | None = None) -> list[Panel]:
    """The panels to draw: the default ones with data, or one per name in ``metrics``.

    A name picks the default panel holding it (``eval/elo``), else a panel of its own for any logged
    key; shell-style wildcards (``eval/*/win_rate``) pick every logged key they match.
    """
    def has_data(keys: str) -> bool:
        return any(any(run.seed_keys(part)) or any(part in r for r in run.records)
                   for run in runs for part in keys.split("|"))

    panels = _expand_panels(runs)
    if not metrics:
        chosen = [p for p in panels if has_data(p.key)]
        if not chosen:
            raise PlotError("no metrics to plot yet")
        return chosen
    logged = _logged_keys(runs)
    chosen = []
    for name in metrics:
        wildcard = any(c in name for c in "*?[")
        keys = [k for k in logged if fnmatch.fnmatchcase(k, name)] if wildcard else [name]
        for key in keys:
            panel = next((p for p in panels if key in p.key.split("|") and has_data(p.key)), None)
            if panel is None and key in logged:
                panel = Panel(key, key, _ylabel(key))
            if panel is not None and panel not in chosen:
                chosen.append(panel)
        if not any(key in logged or any(key in p.key.split("|") and has_data(p.key) for p in panels)
                   for key in keys):
            raise PlotError(f"unknown metric {name!r}: not logged by {', '.join(run.name for run in runs)} "
                            f"(logged: {', '.join(logged)})")
    return chosen


# -- drawing -------------------------------------------------------------------------------


def _format_steps(value: float, _position: Any = None) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _title(runs: list[Run]) -> str:
    def names(values: list[str | None]) -> str | None:
        unique = list(dict.fromkeys(v for v in values if v))
        return " / ".join(unique) if unique else None

    shown = [run.name for run in runs]
    if len(shown) > 4:
        shown = [*shown[:3], f"+{len(shown) - 3} more"]
    algo = names([_ALGORITHM_NAMES.get(run.algo, run.algo) if run.algo else None for run in runs])
    parts = [names([run.env for run in runs]), algo, ", ".join(shown)]
    return " · ".join(p for p in parts if p)


def learning_curves(run_dirs: list[str | Path], *, metrics: list[str] | None = None, x: str = "env_steps",
                    smooth_fraction: float = DEFAULT_SMOOTH, spread: str = "std", group: str = "auto") -> Any:
    """A matplotlib Figure of ``run_dirs``' learning curves, one panel per metric (see the module doc).

    ``x``: ``env_steps`` (per seed) or ``seconds`` of wall time; ``smooth_fraction``: the smoothing
    window as a fraction of the x range (0: off); ``spread``: ``std`` or ``minmax`` across seeds;
    ``group``: ``auto``, ``none`` or ``all`` (how run directories pool as seeds). Raises `PlotError`
    for input it cannot plot. The caller closes the figure (``matplotlib.pyplot.close``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    if x not in X_AXES:
        raise PlotError(f"unknown x axis {x!r} (choose from {', '.join(X_AXES)})")
    if spread not in SPREADS:
        raise PlotError(f"unknown spread {spread!r} (choose from {', '.join(SPREADS)})")
    if not 0 <= smooth_fraction < 1:
        raise PlotError(f"smoothing must be a fraction of the x range in [0, 1), not {smooth_fraction}")
    if not run_dirs:
        raise PlotError("no run directories given")
    runs = [load_run(d) for d in run_dirs]
    curves = group_runs(runs, group)
    panels = select_panels(runs, metrics)

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.3 * rows + 0.5), squeeze=False,
                             layout="constrained")
    fig.suptitle(_title(runs), fontsize=13)
    drawn: set[int] = set()  # curves with a series in some panel
    spreads: set[str] = set()
    for ax, panel in zip(axes.flat, panels):
        keys = panel.key.split("|")
        for index, curve in enumerate(curves):
            colour = f"C{index % 10}"
            for key, (style, marker) in zip(keys, STYLES):
                line = curve_line(curve, key, x, smooth_fraction, spread)
                if line is None:
                    continue
                drawn.add(index)
                if not np.allclose(line.raw, line.smooth, equal_nan=True):
                    # The raw series as a collection, not a Line2D: the axes' lines are the curves.
                    ok = np.isfinite(line.raw)
                    raw = LineCollection([np.column_stack([line.x[ok], line.raw[ok]])], colors=colour,
                                         linewidths=0.8, alpha=0.3, linestyles=style)
                    ax.add_collection(raw)
                ax.plot(line.x, line.smooth, style, color=colour, linewidth=1.6,
                        label=curve.label if style == "-" else "_nolegend_",
                        marker=marker if len(line.x) <= MARKER_POINTS else None, markersize=4)
                if line.spread is not None:
                    ax.fill_between(line.x, line.low, line.high, color=colour, alpha=0.2, linewidth=0)
                    spreads.add(line.spread)
        if panel.series:
            styles = [Line2D([], [], color="0.35", linestyle=style, marker=marker, markersize=4)
                      for style, marker in STYLES[:len(panel.series)]]
            ax.legend(styles, panel.series, fontsize=8, loc="lower right")
        ax.set_title(panel.title)
        ax.set_xlabel(X_AXES[x])
        ax.set_ylabel(panel.ylabel)
        if panel.ylabel.endswith("rate"):
            ax.set_ylim(-0.03, 1.03)
        if x == "env_steps":
            ax.xaxis.set_major_formatter(FuncFormatter(_format_steps))
        if panel.ylabel.endswith("steps / s"):
            ax.yaxis.set_major_formatter(FuncFormatter(_format_steps))
        ax.autoscale_view()
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if len(curves) > 1 or spreads:
        shown = [(Line2D([], [], color=f"C{i % 10}", linewidth=1.6),
                  f"{c.label} ({c.num_seeds} seeds)" if c.num_seeds > 1 else c.label)
                 for i, c in enumerate(curves) if i in drawn]
        shown += [(Patch(color="0.6", alpha=0.4), f"shaded: {SPREADS[s]}") for s in SPREADS if s in spreads]
        first = axes.flat[0]
        if first.get_legend() is not None:
            first.add_artist(first.get_legend())  # a second legend() would replace the series' one
        first.legend(*zip(*shown), fontsize=8)
    return fig


def plot_runs(run_dirs: list[str | Path], out: str | Path, **options: Any) -> Path:
    """Draw `learning_curves` of ``run_dirs`` (``options``: its keywords) into ``out`` (PNG, PDF, SVG)."""
    import matplotlib.pyplot as plt

    fig = learning_curves(run_dirs, **options)
    try:
        out = Path(out)
        fig.savefig(out, dpi=120)
    finally:
        plt.close(fig)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like the other input errors
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m jaxrl.plot", description=__doc__.split("\n\n")[0],
                     epilog=__doc__.split("\n\n", 2)[2].replace("``", ""))
    parser.add_argument("run_dirs", nargs="+", help="run directories (several are overlaid)")
    parser.add_argument("-o", "--out",
                        help="output file, .png, .pdf or .svg (default: <first run>/learning_curves.png)")
    parser.add_argument("--metrics", help="comma-separated metric keys, one panel each (default: the "
                        "standard panels that have data); wildcards allowed, e.g. 'eval/*/win_rate'")
    parser.add_argument("--x", choices=tuple(X_AXES), default="env_steps",
                        help="x axis: env steps per seed, or wall time in seconds (default: env_steps)")
    parser.add_argument("--smooth", type=float, default=DEFAULT_SMOOTH, metavar="FRACTION",
                        help="centred rolling-mean window as a fraction of the x range; 0: off "
                        f"(default: {DEFAULT_SMOOTH})")
    parser.add_argument("--spread", choices=tuple(SPREADS), default="std",
                        help="shading across seeds: mean ± 1 std, or min-max (default: std)")
    parser.add_argument("--group", choices=GROUPS, default="auto",
                        help="pool run directories as seeds: auto (configs equal but for the seed), "
                        "none, all (default: auto)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "learning_curves.png"
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in formats:
        print(f"error: cannot write {out}: unknown image format {out.suffix or '(none)'!r} "
              "(use .png, .pdf or .svg)", file=sys.stderr)
        return 2
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics is not None else None
    if metrics is not None and not metrics:
        print("error: --metrics names no metric", file=sys.stderr)
        return 2
    try:
        path = plot_runs(args.run_dirs, out, metrics=metrics, x=args.x, smooth_fraction=args.smooth,
                         spread=args.spread, group=args.group)
    except PlotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
