"""`python -m jaxrl.train` end to end: the run directory, one-line usage errors, stop requests,
non-finite detection and the optional loggers. Each run is a subprocess on a tiny config."""

from __future__ import annotations

import math
import re
import signal

import chex
import numpy as np
import pytest
import yaml

from tests.helpers import runs
from tests.helpers.tfevents import read_scalars

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(line == needle for line in it) for needle in needles)


# -- a whole run ---------------------------------------------------------------------------


def test_end_to_end_run_directory(base_run):
    run_dir, result = base_run
    assert result.returncode == 0, runs.describe(result)
    assert "Traceback" not in result.stdout + result.stderr
    for name in ("config.yaml", "train.log", "metrics.jsonl", "learning_curves.png", "checkpoints"):
        assert (run_dir / name).exists(), f"{name} missing from the run directory"

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["ppo"]["env"] == "CartPole-v1"
    assert (config["ppo"]["num_envs"], config["ppo"]["num_steps"], config["ppo"]["total_timesteps"]) == (4, 32, 4096)

    # train.log holds everything the run printed, in order, including the summary lines.
    printed = runs.nonempty_lines(result.stdout)
    logged = runs.nonempty_lines((run_dir / "train.log").read_text())
    assert _is_subsequence(printed, logged), "train.log is missing printed lines"
    for start in ("jaxrl: PPO on CartPole-v1", "devices:", "seeds 1; batch: 4 envs x 32 steps = 128 per update",
                  "updates: 32 (4096 env steps", "compiled the epoch function (4 updates per epoch, 8 epochs)",
                  "update 32 | steps 4.1k/4.1k (100%)", "finished in"):
        assert any(line.startswith(start) for line in logged), f"no line starting {start!r} in train.log"

    records = runs.read_metrics(run_dir)
    assert [r["update"] for r in records] == list(range(1, runs.TINY_UPDATES + 1))
    for record in records:
        for key in ("update", "env_steps", "time", "sps"):
            assert key in record, f"record lacks {key}: {record}"
        assert record["env_steps"] == record["update"] * 4 * 32
        assert isinstance(record["time"], float) and record["time"] > 0
        assert isinstance(record["sps"], float) and math.isfinite(record["sps"]) and record["sps"] > 0
    times = [r["time"] for r in records]
    assert times == sorted(times)

    checkpoints = run_dir / "checkpoints"
    # Saves after epochs 2, 4, 6 (updates 8, 16, 24) and at the end (32); the newest 3 are kept.
    assert runs.committed_steps(checkpoints) == [16, 24, 32]
    assert runs.temporaries(checkpoints) == []

    png = (run_dir / "learning_curves.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000


def test_final_checkpoint_restores_the_final_state(finished_base_run):
    from jaxrl.run.rundir import restore_run

    _, state, meta = restore_run(finished_base_run, report=pytest.fail)
    assert int(state.update) == 32
    assert (meta["update"], meta["env_steps"], meta["env"]) == (32, 4096, "CartPole-v1")
    assert meta["config"]["ppo"]["num_envs"] == 4
    chex.assert_tree_all_finite(state.params)


# -- usage errors: exit 2, exactly one line, no traceback ---------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--lrr", "1e-3"], ["unknown flag --lrr", "did you mean --lr?"]),
        (["--env", "CartPol-v1"], ["unknown environment 'CartPol-v1'", "did you mean 'CartPole-v1'"]),
        (["--num-minibatches", "3"], ["= 512 is not divisible by --num-minibatches 3"]),  # 4 envs x 128 steps
        (["--num-envs", "0"], ["--num-envs must be a positive integer, got 0"]),
        (["--num-envs", "abc"], ["--num-envs", "'abc' is not an integer"]),
        (["--total-timesteps", "1.5e0"], ["--total-timesteps", "not a whole number"]),
        (["--algo", "ppx"], ["--algo 'ppx' is not an algorithm", "did you mean ppo?"]),
    ],
    ids=["misspelt-flag", "unknown-env", "minibatches-not-dividing", "zero-envs", "non-integer", "fractional",
         "unknown-algorithm"],
)
def test_usage_errors_are_one_line(tmp_path, cli_env, args, expected):
    run_dir = tmp_path / "run"
    result = runs.train([*args, "--run-dir", run_dir], cli_env, timeout=60)
    assert result.returncode == 2, runs.describe(result)
    lines = runs.nonempty_lines(result.stderr)
    assert len(lines) == 1, runs.describe(result)
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert not run_dir.exists(), "a rejected run must not create its run directory"


def test_scientific_notation_total_timesteps(tmp_path, cli_env):
    run_dir = tmp_path / "run"
    result = runs.train(["--total-timesteps", "4.096e3", *runs.TINY, "--checkpoint-every", "0", "--no-plot",
                         "--run-dir", run_dir], cli_env)
    assert result.returncode == 0, runs.describe(result)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["ppo"]["total_timesteps"] == 4096 and isinstance(saved["ppo"]["total_timesteps"], int)
    assert runs.read_metrics(run_dir)[-1]["update"] == 32
    assert not (run_dir / "learning_curves.png").exists()  # --no-plot honoured


# -- stop requests ---------------------------------------------------------------------------


def test_sigint_saves_exits_130_and_resume_appends(tmp_path, cli_env):
    run_dir = tmp_path / "run"
    total_updates = 400  # 200 epochs of 2 updates: several seconds, so SIGINT lands mid-run
    args = ["--total-timesteps", total_updates * runs.BATCH, "--num-envs", "4", "--num-steps", "32",
            "--updates-per-epoch", "2", "--eval-every", "0", "--checkpoint-every", "0", "--run-dir", run_dir]
    metrics = run_dir / "metrics.jsonl"
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        process = runs.start("jaxrl.train", args, cli_env, out, err)
        try:
            started = runs.wait_for(lambda: metrics.exists() and "\n" in metrics.read_text(), 240, process)
            assert started, f"no metrics record before the run ended (exit {process.poll()})"
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert code == 130, f"exit {code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stdout + stderr

    records = runs.read_metrics(run_dir)
    stopped_at = records[-1]["update"]
    assert 0 < stopped_at < total_updates and stopped_at % 2 == 0  # finished the epoch it was in
    assert [r["update"] for r in records] == list(range(1, stopped_at + 1))
    assert f"stopped (SIGINT received) at update {stopped_at}" in stdout
    checkpoints = run_dir / "checkpoints"
    assert runs.committed_steps(checkpoints) == [stopped_at]
    assert runs.temporaries(checkpoints) == []
    assert (run_dir / "config.yaml").exists()
    assert f"stopped (SIGINT received) at update {stopped_at}" in (run_dir / "train.log").read_text()

    result = runs.train(["--resume", run_dir], cli_env)
    assert result.returncode == 0, runs.describe(result)
    assert f"resuming after update {stopped_at}" in result.stdout
    resumed = runs.read_metrics(run_dir)
    assert resumed[: len(records)] == records, "metrics.jsonl was rewritten, not appended to"
    assert [r["update"] for r in resumed] == list(range(1, total_updates + 1))
    assert max(runs.committed_steps(checkpoints)) == total_updates
    log = (run_dir / "train.log").read_text()
    assert log.count("jaxrl: PPO on CartPole-v1") == 2  # both processes wrote to the same train.log


# -- non-finite values --------------------------------------------------------------------------


def test_nan_reward_stops_with_one_clear_line(tmp_path, cli_env):
    from tests.helpers.nan_env import NAN_AFTER_STEPS

    run_dir = tmp_path / "run"
    args = ["--env", "tests.helpers.nan_env:NanCartPole", "--total-timesteps", 128 * runs.BATCH, "--num-envs", "4",
            "--num-steps", "32", "--updates-per-epoch", "2", "--eval-every", "0", "--checkpoint-every", "1",
            "--keep-checkpoints", "100", "--run-dir", run_dir]
    result = runs.train(args, cli_env)
    assert result.returncode == 1, runs.describe(result)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "non-finite" in line]
    assert len(lines) == 1, runs.describe(result)
    match = re.search(r"non-finite (\w+) \((nan|inf|-inf)\) at update (\d+)", lines[0])
    assert match, lines[0]
    bad_update = int(match.group(3))
    assert bad_update > 2, f"the NaN came in the first epoch; raise NAN_AFTER_STEPS ({NAN_AFTER_STEPS})"

    records = runs.read_metrics(run_dir)
    assert records and all(r["update"] < bad_update for r in records)
    last_good = records[-1]["update"]
    assert bad_update - last_good <= 2  # the failing epoch is the next one
    steps = runs.committed_steps(run_dir / "checkpoints")
    assert steps and max(steps) == last_good, f"checkpoints {steps}, last good update {last_good}"
    assert all(step < bad_update for step in steps)

    from jaxrl.run.rundir import restore_run

    _, state, meta = restore_run(run_dir, report=pytest.fail)
    assert meta["update"] == last_good
    chex.assert_tree_all_finite((state.params, state.opt_state))


# -- optional loggers ---------------------------------------------------------------------------


def test_tensorboard_event_file_has_the_scalars(finished_base_run):
    log_dir = finished_base_run / "tensorboard"
    files = list(log_dir.glob("events.out.tfevents.*"))
    assert len(files) == 1
    scalars = read_scalars(log_dir)
    records = runs.read_metrics(finished_base_run)
    steps = [r["env_steps"] for r in records]
    for tag in ("total_loss", "value_loss", "policy_loss", "entropy", "approx_kl", "learning_rate", "sps", "time"):
        assert tag in scalars, f"no {tag!r} scalar in TensorBoard ({sorted(scalars)})"
        assert [s for s, _ in scalars[tag]] == steps, tag
        logged = np.array([r[tag] for r in records], dtype=np.float32)
        np.testing.assert_array_equal(np.array([v for _, v in scalars[tag]], dtype=np.float32), logged, err_msg=tag)
    # Episode statistics exist only for updates that finished an episode; they must match too.
    episodes = {r["env_steps"]: r["episode_return"] for r in records if r.get("episode_return") is not None}
    assert dict(scalars["episode_return"]) == pytest.approx({k: np.float32(v) for k, v in episodes.items()})
    assert not {"update", "env_steps", "epoch"} & set(scalars)  # counters are the x-axis, not scalars


def test_wandb_offline_needs_no_network(tmp_path, cli_env):
    run_dir, wandb_dir = tmp_path / "run", tmp_path / "wandb-home"
    env = dict(cli_env)
    env.pop("WANDB_API_KEY", None)
    env.update(
        WANDB_MODE="offline", WANDB_DIR=str(wandb_dir), WANDB_CONFIG_DIR=str(wandb_dir / "config"),
        WANDB_CACHE_DIR=str(wandb_dir / "cache"), WANDB_DATA_DIR=str(wandb_dir / "data"),
        WANDB_BASE_URL="http://127.0.0.1:9",  # nothing listens there: any network use would fail
    )
    result = runs.train([*runs.TINY_TOTAL, *runs.TINY, "--checkpoint-every", "0", "--no-plot", "--wandb", "offline",
                         "--run-dir", run_dir], env)
    assert result.returncode == 0, runs.describe(result)
    offline = sorted(run_dir.glob("wandb/offline-run-*")) + sorted(wandb_dir.glob("**/offline-run-*"))
    assert len(offline) == 1, f"expected one offline run directory, found {offline}"
    data = list(offline[0].glob("run-*.wandb"))
    assert data and data[0].stat().st_size > 0
    assert "warning: logger" not in result.stdout

    from jaxrl.run.rundir import restore_run

    _, _, meta = restore_run(run_dir, report=pytest.fail)
    assert offline[0].name.endswith("-" + meta["wandb_id"]), "the checkpoint must remember the W&B run id for --resume"
    assert [r["update"] for r in runs.read_metrics(run_dir)] == list(range(1, 33))  # JSONL is always on


# -- plots -----------------------------------------------------------------------------------


def _second_run(base, tmp_path):
    """A copy of the base run with different returns, as a second run to overlay."""
    import json

    other = tmp_path / "other-run"
    other.mkdir()
    lines = []
    for record in runs.read_metrics(base):
        if record.get("episode_return") is not None:
            record["episode_return"] = record["episode_return"] * 2
        lines.append(json.dumps(record))
    (other / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return other


def test_plot_cli_overlays_two_runs(tmp_path, cli_env, finished_base_run):
    other = _second_run(finished_base_run, tmp_path)
    out = tmp_path / "out.png"
    result = runs.run_module("jaxrl.plot", [finished_base_run, other, "-o", out], cli_env, timeout=120)
    assert result.returncode == 0, runs.describe(result)
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert f"wrote {out}" in result.stdout


def test_plot_runs_draws_one_line_per_run(tmp_path, finished_base_run, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrl.plot import plot_runs

    other = _second_run(finished_base_run, tmp_path)
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    try:
        plot_runs([finished_base_run, other], tmp_path / "overlay.png")
        assert len(figures) == 1
        axes = {ax.get_title(): ax for ax in figures[0].axes}
        returns = axes["episode return (training)"]
        assert [line.get_label() for line in returns.get_lines()] == [finished_base_run.name, other.name]
        first, second = (line.get_ydata() for line in returns.get_lines())
        np.testing.assert_allclose(second, 2 * np.asarray(first))
        assert returns.get_legend() is not None
    finally:
        for fig in figures:
            real_close(fig)


def test_plot_cli_rejects_a_non_run_dir(tmp_path, cli_env):
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    out = tmp_path / "out.png"
    result = runs.run_module("jaxrl.plot", [not_a_run, "-o", out], cli_env, timeout=60)
    assert result.returncode == 2, runs.describe(result)
    lines = runs.nonempty_lines(result.stderr)
    assert len(lines) == 1 and str(not_a_run) in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_run_directory_holds_only_the_documented_files(finished_base_run):
    assert sorted(p.name for p in finished_base_run.iterdir()) == [
        "checkpoints", "config.yaml", "learning_curves.png", "metrics.jsonl", "tensorboard", "train.log",
    ]
