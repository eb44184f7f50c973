"""Learning curves from metrics.jsonl: ``python -m jaxrl.plot RUN_DIR [RUN_DIR ...] [-o OUT.png]``.

One run draws its own curves; several are overlaid, one colour per run.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import sys
from pathlib import Path

from jaxrl.run.loggers import read_jsonl

PANELS = (
    ("episode_return", "episode return (training)"),
    ("eval/episode_return", "episode return (evaluation)"),
    ("episode_score|eval/episode_score", "game score: training -, evaluation --"),
    ("black_wins_rate", "black win rate"),
    # "a|b": several series in one panel (solid, dashed); "*": one panel per matching key logged.
    ("eval/vs_random/black_win_rate|eval/vs_random/white_win_rate", "win rate vs random: black -, white --"),
    ("eval/vs_minimax*/black_win_rate|eval/vs_minimax*/white_win_rate", "win rate vs {}: black -, white --"),
    ("eval/elo", "Elo (evaluation)"),
    ("value_loss", "value loss"),
    ("entropy", "entropy"),
    ("approx_kl", "approx KL"),
    ("sps", "env steps / s"),
)


def _series(records: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(record["env_steps"])
            ys.append(value)
    return xs, ys


def _expand_panels(runs: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """PANELS with each wildcard key replaced by the matching keys the runs logged."""
    panels = []
    for key, title in PANELS:
        if "*" not in key:
            panels.append((key, title))
            continue
        first = key.split("|")[0]
        logged = sorted({k for records in runs.values() for r in records for k in r if fnmatch.fnmatchcase(k, first)})
        for match in logged:
            name = match.split("/")[1]  # e.g. vs_minimax2
            panels.append((key.replace("vs_minimax*", name), title.format(name.removeprefix("vs_"))))
    return panels


def plot_runs(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Draw the panels that have data for any of ``run_dirs`` into ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {str(d): read_jsonl(Path(d) / "metrics.jsonl") for d in run_dirs}
    panels = [(k, t) for k, t in _expand_panels(runs)
              if any(_series(r, part)[0] for r in runs.values() for part in k.split("|"))]
    if not panels:
        raise ValueError("no metrics to plot yet")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, (keys, title) in zip(axes.flat, panels):
        for run_index, (name, records) in enumerate(runs.items()):
            for key, style in zip(keys.split("|"), ("-", "--", ":")):
                xs, ys = _series(records, key)
                if xs:
                    ax.plot(xs, ys, style, color=f"C{run_index}", linewidth=1.2,
                            label=Path(name).name if style == "-" else None)
                std_xs, std_ys = _series(records, key + "_std")
                if xs and std_xs and len(std_ys) == len(ys):
                    ax.fill_between(xs, [y - s for y, s in zip(ys, std_ys)], [y + s for y, s in zip(ys, std_ys)],
                                    color=f"C{run_index}", alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if len(runs) > 1:
        axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxrl.plot", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run directories (several are overlaid)")
    parser.add_argument("-o", "--out", help="output PNG (default: <first run>/learning_curves.png)")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        if not (Path(run_dir) / "metrics.jsonl").exists():
            print(f"error: {run_dir} has no metrics.jsonl (is it a run directory?)", file=sys.stderr)
            return 2
    out = args.out or Path(args.run_dirs[0]) / "learning_curves.png"
    try:
        path = plot_runs(args.run_dirs, out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
