"""`jaxrl.plot` on small synthetic run directories: titles and labels, smoothing, markers,
overlays, seed aggregation and the command line's one-line errors."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from matplotlib.collections import LineCollection, PolyCollection

from jaxrl import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = 512  # env steps per update of the synthetic runs


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _config(**fields):
    config = {"algo": "ppo", "seed": 0, "num_seeds": 1, "run_dir": "x", "plot": True,
              "ppo": {"env": "CartPole-v1", "lr": 0.00025}, "backend": {"platform": "cpu"}}
    for key, value in fields.items():
        if key in config["ppo"]:
            config["ppo"][key] = value
        else:
            config[key] = value
    return config


def write_run(path, records, config=None):
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if config is not None:
        (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def records(n=40, *, per_epoch=4, evals=(), returns=None, seeds=None, seed_returns=None):
    """``n`` update records logged in epochs of ``per_epoch`` (one time each), evaluated at ``evals``."""
    rng = np.random.default_rng(0)
    returns = rng.normal(50, 10, n) if returns is None else returns
    out = []
    for i in range(n):
        epoch = i // per_epoch + 1
        record = {"update": i + 1, "env_steps": (i + 1) * STEPS, "epoch": epoch, "time": 2.0 * epoch,
                  "epoch_seconds": 2.0, "sps": 1000.0, "episode_return": float(returns[i]),
                  "entropy": 0.69 - 0.001 * i, "value_loss": 1.0 / (i + 1)}
        if seed_returns is not None:
            for s, values in enumerate(seed_returns):
                record[f"episode_return/seed_{s}"] = float(values[i])
            record["episode_return"] = float(np.mean([v[i] for v in seed_returns]))
            record["episode_return_std"] = float(np.std([v[i] for v in seed_returns]))
        if i + 1 in evals:
            record["eval/episode_return"] = 100.0 + i
            record["eval/elo"] = 10.0 * i
        out.append(record)
    return out


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes if ax.axison}


# -- titles, labels, markers, smoothing --------------------------------------------------


def test_figure_title_and_axis_labels(tmp_path):
    run = write_run(tmp_path / "cartpole-a", records(evals=(20, 40)), _config())
    fig = plot.learning_curves([run])
    title = fig.get_suptitle()
    assert "CartPole-v1" in title and "PPO" in title and "cartpole-a" in title
    axes = axes_by_title(fig)
    assert {"episode return (training)", "episode return (evaluation)", "Elo (evaluation)", "entropy",
            "value loss", "throughput"} <= set(axes)
    assert all(ax.get_xlabel() == "env steps" for ax in axes.values())
    assert axes["episode return (training)"].get_ylabel() == "episode return"
    assert axes["Elo (evaluation)"].get_ylabel() == "Elo"
    assert axes["throughput"].get_ylabel() == "env steps / s"
    assert axes["entropy"].get_ylabel() == "entropy (nats)"

    seconds = plot.learning_curves([run], x="seconds")
    assert all(ax.get_xlabel() == "wall time (s)" for ax in axes_by_title(seconds).values())


def test_title_without_config_names_the_run(tmp_path):
    run = write_run(tmp_path / "bare", records())
    assert plot.learning_curves([run]).get_suptitle() == "bare"


def test_win_rate_panels_span_zero_to_one(tmp_path):
    recs = records(4)
    for r in recs:
        r["black_wins_rate"] = 0.55
    fig = plot.learning_curves([write_run(tmp_path / "game", recs)])
    ax = axes_by_title(fig)["black win rate"]
    assert ax.get_ylabel() == "win rate"
    low, high = ax.get_ylim()
    assert low < 0 and high > 1


def test_a_one_point_series_is_drawn_with_a_marker(tmp_path):
    run = write_run(tmp_path / "run", records(200, evals=(200,)))
    axes = axes_by_title(plot.learning_curves([run]))
    (elo,) = axes["Elo (evaluation)"].get_lines()
    assert len(elo.get_xdata()) == 1 and elo.get_marker() == "o"
    (train,) = axes["episode return (training)"].get_lines()
    assert len(train.get_xdata()) == 200 and train.get_marker() in (None, "None", "")


def test_smoothing_changes_the_line_but_not_its_length(tmp_path):
    run = write_run(tmp_path / "run", records(100))
    raw_fig = plot.learning_curves([run], smooth_fraction=0)
    smooth_fig = plot.learning_curves([run], smooth_fraction=0.2)
    raw_ax = axes_by_title(raw_fig)["episode return (training)"]
    smooth_ax = axes_by_title(smooth_fig)["episode return (training)"]
    (raw,), (smoothed,) = raw_ax.get_lines(), smooth_ax.get_lines()
    assert len(smoothed.get_ydata()) == len(raw.get_ydata()) == 100
    np.testing.assert_array_equal(smoothed.get_xdata(), raw.get_xdata())
    assert not np.allclose(smoothed.get_ydata(), raw.get_ydata())
    assert np.std(smoothed.get_ydata()) < 0.6 * np.std(raw.get_ydata())
    # The raw series stays behind the smoothed one, faintly; unsmoothed, there is nothing behind.
    faint = [c for c in smooth_ax.collections if isinstance(c, LineCollection)]
    assert len(faint) == 1 and faint[0].get_alpha() < 0.5
    np.testing.assert_allclose(faint[0].get_segments()[0][:, 1], raw.get_ydata())
    assert not [c for c in raw_ax.collections if isinstance(c, LineCollection)]


def test_smooth_is_a_centred_rolling_mean_in_x_units():
    x = np.arange(11.0)
    np.testing.assert_array_equal(plot.smooth(x, x**2, 0), x**2)
    np.testing.assert_allclose(plot.smooth(x, np.full(11, 3.0), 0.5), 3.0)
    # Window 0.2 * 10 = 2: each point with its two neighbours; at the ends only the neighbours there are.
    y = np.array([0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0], dtype=float)
    np.testing.assert_allclose(plot.smooth(x, y, 0.2)[1:-1], [1, 2, 1, 2, 1, 2, 1, 2, 1])
    np.testing.assert_allclose(plot.smooth(x, y, 0.2)[[0, -1]], [1.5, 1.5])
    # A linear series is unchanged away from the ends (the mean of a symmetric window).
    np.testing.assert_allclose(plot.smooth(x, 2 * x, 0.4)[2:-2], 2 * x[2:-2])
    with_gap = y.copy()
    with_gap[5] = np.nan
    smoothed = plot.smooth(x, with_gap, 0.2)
    assert np.all(np.isfinite(smoothed)) and smoothed[5] == 0.0  # its neighbours, 0 and 0


def test_seconds_axis_spreads_the_updates_of_an_epoch_over_its_wall_time(tmp_path):
    run = plot.load_run(write_run(tmp_path / "run", records(8, per_epoch=4)))
    # Epochs end at 2 s and 4 s and last 2 s: their four updates at 0.5 s steps up to the end.
    np.testing.assert_allclose(run.x("seconds"), [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    np.testing.assert_array_equal(run.x("env_steps"), np.arange(1, 9) * STEPS)


# -- several runs, seeds ------------------------------------------------------------------


def test_two_runs_overlay_as_two_lines(tmp_path):
    a = write_run(tmp_path / "run-a", records(30))
    b = write_run(tmp_path / "run-b", records(30, returns=np.arange(30.0)))
    fig = plot.learning_curves([a, b], smooth_fraction=0)
    ax = axes_by_title(fig)["episode return (training)"]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["run-a", "run-b"]
    assert lines[0].get_color() != lines[1].get_color()
    np.testing.assert_array_equal(lines[1].get_ydata(), np.arange(30.0))
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["run-a", "run-b"]
    assert "run-a" in fig.get_suptitle() and "run-b" in fig.get_suptitle()


def _fill_bounds(ax):
    (fill,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = fill.get_paths()[0].vertices
    return vertices[:, 1].min(), vertices[:, 1].max()


def test_a_multi_seed_run_draws_the_mean_and_a_shaded_spread(tmp_path):
    seed_returns = [np.linspace(0, 100, 20), np.linspace(20, 60, 20), np.linspace(10, 80, 20)]
    run = write_run(tmp_path / "three-seeds", records(20, seed_returns=seed_returns), _config(num_seeds=3))
    fig = plot.learning_curves([run], smooth_fraction=0)
    ax = axes_by_title(fig)["episode return (training)"]
    (mean,) = ax.get_lines()
    stacked = np.stack(seed_returns)
    np.testing.assert_allclose(mean.get_ydata(), stacked.mean(axis=0))
    low, high = _fill_bounds(ax)
    assert low == pytest.approx((stacked.mean(0) - stacked.std(0)).min())
    assert high == pytest.approx((stacked.mean(0) + stacked.std(0)).max())
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["three-seeds (3 seeds)", "shaded: mean ± 1 std over seeds"]

    minmax = plot.learning_curves([run], smooth_fraction=0, spread="minmax")
    ax = axes_by_title(minmax)["episode return (training)"]
    assert _fill_bounds(ax) == (pytest.approx(0.0), pytest.approx(100.0))
    assert "shaded: min–max over seeds" in [t.get_text() for t in minmax.axes[0].get_legend().get_texts()]


def test_run_dirs_that_differ_only_by_seed_pool_into_one_curve(tmp_path):
    a = write_run(tmp_path / "cartpole-s0", records(20, returns=np.zeros(20)), _config(seed=0, run_dir="a"))
    b = write_run(tmp_path / "cartpole-s1", records(20, returns=np.full(20, 10.0)),
                  _config(seed=1, run_dir="b", plot=False))
    fig = plot.learning_curves([a, b], smooth_fraction=0)
    ax = axes_by_title(fig)["episode return (training)"]
    (mean,) = ax.get_lines()
    assert mean.get_label() == "cartpole"
    np.testing.assert_allclose(mean.get_ydata(), 5.0)
    assert _fill_bounds(ax) == (pytest.approx(0.0), pytest.approx(10.0))
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "cartpole (2 seeds)"

    separate = axes_by_title(plot.learning_curves([a, b], group="none"))["episode return (training)"]
    assert len(separate.get_lines()) == 2
    # A learning setting that differs makes them different experiments, and so does a repeated seed.
    c = write_run(tmp_path / "cartpole-lr", records(20), _config(seed=2, lr=0.001))
    d = write_run(tmp_path / "cartpole-again", records(20), _config(seed=0))
    for other in (c, d):
        ax = axes_by_title(plot.learning_curves([a, other]))["episode return (training)"]
        assert len(ax.get_lines()) == 2
    ax = axes_by_title(plot.learning_curves([a, c], group="all"))["episode return (training)"]
    assert len(ax.get_lines()) == 1


def test_pooled_runs_on_the_seconds_axis_are_averaged_where_both_have_data(tmp_path):
    a = write_run(tmp_path / "s0", records(8, per_epoch=1, returns=np.zeros(8)), _config(seed=0))
    slower = records(8, per_epoch=1, returns=np.full(8, 4.0))
    for r in slower:
        r["time"] *= 1.5
    b = write_run(tmp_path / "s1", slower, _config(seed=1))
    fig = plot.learning_curves([a, b], x="seconds", smooth_fraction=0)
    ax = axes_by_title(fig)["episode return (training)"]
    (mean,) = ax.get_lines()
    x = mean.get_xdata()
    assert x.min() == pytest.approx(3.0) and x.max() == pytest.approx(16.0)  # b starts at 3 s, a ends at 16 s
    np.testing.assert_allclose(mean.get_ydata(), 2.0)


def test_evaluation_std_of_a_multi_seed_run_is_shaded(tmp_path):
    recs = records(10, evals=(5, 10))
    for r in recs:
        if "eval/episode_return" in r:
            r["eval/episode_return_std"] = 3.0
    fig = plot.learning_curves([write_run(tmp_path / "run", recs, _config(num_seeds=2))], smooth_fraction=0)
    ax = axes_by_title(fig)["episode return (evaluation)"]
    (line,) = ax.get_lines()
    low, high = _fill_bounds(ax)
    assert low == pytest.approx(min(line.get_ydata()) - 3)
    assert high == pytest.approx(max(line.get_ydata()) + 3)


def test_metrics_choose_the_panels(tmp_path):
    run = write_run(tmp_path / "run", records(10, evals=(10,)))
    fig = plot.learning_curves([run], metrics=["eval/elo", "entropy", "epoch_seconds", "eval/*", "entropy"])
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    # A key of a standard panel draws that panel, any other logged key one of its own; each panel once.
    assert titles == ["Elo (evaluation)", "entropy", "epoch_seconds", "episode return (evaluation)"]
    assert axes_by_title(fig)["epoch_seconds"].get_ylabel() == "epoch seconds (s)"
    with pytest.raises(plot.PlotError, match="unknown metric 'episode_length\\*'"):
        plot.learning_curves([run], metrics=["episode_length*"])


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix,magic", [(".png", PNG_MAGIC), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_cli_writes_the_format_of_the_suffix(tmp_path, capsys, suffix, magic):
    run = write_run(tmp_path / "run", records(10))
    out = tmp_path / f"curves{suffix}"
    assert plot.main([str(run), "--out", str(out), "--metrics", "episode_return,sps", "--smooth", "0.3"]) == 0
    assert out.read_bytes().startswith(magic)
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_cli_default_output_is_in_the_first_run(tmp_path, capsys):
    run = write_run(tmp_path / "run", records(10))
    assert plot.main([str(run), "--x", "seconds", "--spread", "minmax", "--group", "none"]) == 0
    assert (run / "learning_curves.png").read_bytes().startswith(PNG_MAGIC)


def _bad_input(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    blank = write_run(tmp_path / "blank", [])
    good = write_run(tmp_path / "good", records(5))
    out = str(tmp_path / "out.png")
    return {
        "missing": ([str(tmp_path / "nope"), "-o", out], "does not exist"),
        "no metrics": ([str(empty), "-o", out], "has no metrics.jsonl"),
        "no records": ([str(blank), "-o", out], "holds no records"),
        "unknown metric": ([str(good), "-o", out, "--metrics", "entropy,no_such_metric"],
                           "unknown metric 'no_such_metric'"),
        "no metric": ([str(good), "-o", out, "--metrics", ","], "names no metric"),
        "format": ([str(good), "-o", str(tmp_path / "out.bmpx")], "unknown image format"),
        "out dir": ([str(good), "-o", str(tmp_path / "no" / "dir.png")], "cannot write"),
        "bad x": ([str(good), "-o", out, "--x", "updates"], "invalid choice"),
        "bad smooth": ([str(good), "-o", out, "--smooth", "1.5"], "smoothing must be"),
        "no runs": (["-o", out], "required"),
    }


def _exit_code(argv):
    """main's return value, or the code of its exit (argparse's usage errors exit)."""
    try:
        return plot.main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("case", ["missing", "no metrics", "no records", "unknown metric", "no metric",
                                  "format", "out dir", "bad x", "bad smooth", "no runs"])
def test_cli_bad_input_is_one_error_line_and_exit_code_2(tmp_path, capsys, case):
    argv, expected = _bad_input(tmp_path)[case]
    assert _exit_code(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "out.png").exists()


def test_plot_runs_keeps_the_callers_signature(tmp_path):
    run = write_run(tmp_path / "run", records(10))
    out = plot.plot_runs([run], run / "learning_curves.png")
    assert out == run / "learning_curves.png" and out.read_bytes().startswith(PNG_MAGIC)
    assert not plt.get_fignums()  # the figure is closed after saving


def test_series_of_one_panel_differ_in_style_and_marker_and_are_named(tmp_path):
    recs = records(3)
    for r in recs:
        r.update({"eval/vs_random/black_win_rate": 0.9, "eval/vs_random/white_win_rate": 0.8,
                  "eval/vs_minimax2/black_win_rate": 0.6, "eval/vs_minimax2/white_win_rate": 0.4})
    axes = axes_by_title(plot.learning_curves([write_run(tmp_path / "game", recs)]))
    assert "win rate vs minimax-2" in axes
    black, white = axes["win rate vs random"].get_lines()
    assert (black.get_linestyle(), black.get_marker()) == ("-", "o")
    assert (white.get_linestyle(), white.get_marker()) == ("--", "s")
    legend = axes["win rate vs random"].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["as black", "as white"]
