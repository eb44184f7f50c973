"""Failures that keep the user's run and say what happened: bad input is one line with exit code 2,
divergence is reported, a run dir stays resumable, storage errors read as one line.

Usage errors run `jaxrl.train.main` in-process (they stop before anything compiles); the rest
are subprocess runs of a tiny config (`tests.helpers.runs`).
"""

from __future__ import annotations

import pytest

from jaxrl.run.callbacks import DivergenceCallback
from jaxrl.run.checkpoint import _one_line
from jaxrl.run.display import format_number, summary_line
from jaxrl.train import main
from tests.helpers import runs


def one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI on ``argv``; assert exit code 2 and a single ``error:`` line, return it."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--total-timesteps", "1e99"], ["--total-timesteps 1e+99", "int32 update counter"]),
        (["--lr", "inf"], ["--lr has an invalid value inf"]),
        (["--lr", "nan"], ["--lr has an invalid value nan"]),
        (["--env", "gymnax:CartPol-v1"], ["unknown gymnax environment 'CartPol-v1'", "did you mean 'gymnax:CartPole-v1'"]),
        (["--env", "mypkg.envs:MyEnvv"], ["cannot load environment 'mypkg.envs:MyEnvv'", "No module named 'mypkg'"]),
        (["--env", "envs.classic_control.cartpole:CartPol"],
         ["has no 'CartPol'", "did you mean 'envs.classic_control.cartpole:CartPole'?"]),
    ],
    ids=["huge-total", "inf-lr", "nan-lr", "gymnax-typo", "missing-module", "class-typo"],
)
def test_bad_flags_are_one_line(tmp_path, capsys, args, expected):
    line = one_line_error(capsys, [*args, "--run-dir", str(tmp_path / "run")])
    for text in expected:
        assert text in line
    assert not (tmp_path / "run").exists(), "a rejected run must not create its run directory"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("lr: abc\n", "lr: 'abc' is not a number"),
        ("num_envs: four\n", "num_envs: 'four' is not an integer"),
        ("total_timesteps: 1.5\n", "total_timesteps: '1.5' is not a whole number"),
        ("anneal_lr: yes please\n", "anneal_lr: 'yes please' is not true or false"),
        ("activation: gelu\n", "activation: 'gelu' is not one of tanh, relu"),
    ],
)
def test_bad_yaml_values_are_one_line(tmp_path, capsys, yaml_text, expected):
    path = tmp_path / "my.yaml"
    path.write_text(yaml_text)
    line = one_line_error(capsys, ["--config", str(path), "--run-dir", str(tmp_path / "run")])
    assert f"{path}: {expected}" in line


def test_yaml_values_are_read_like_flags(tmp_path):
    """YAML reads 2e5 and 1e-3 as strings (its floats need a dot); the flags take them, so YAML does too."""
    from jaxrl.train import parse_args

    path = tmp_path / "my.yaml"
    path.write_text("total_timesteps: 2e5\nlr: 1e-3\nhidden_sizes: [32, 32]\nenv_kwargs: {max_steps_in_episode: 100}\n")
    config = parse_args(["--config", str(path)])
    assert config.ppo.total_timesteps == 200_000 and isinstance(config.ppo.total_timesteps, int)
    assert config.ppo.lr == 1e-3 and config.ppo.hidden_sizes == (32, 32)
    assert config.ppo.env_kwargs == (("max_steps_in_episode", 100),)
    assert parse_args(["--total-timesteps", "2e5"]).ppo.total_timesteps == config.ppo.total_timesteps


def test_numbers_never_mix_units_and_exponents():
    assert format_number(7.12e12) == "7.12T"
    assert format_number(7.12e15) == "7.12e+15"
    assert format_number(999.7e3) == "1M" and format_number(999.4e3) == "999k"
    assert format_number(1_234_567) == "1.23M" and format_number(-3.2e7) == "-32M"
    for value in (7.12e12, 3e18, 999.96e9, 9999.7, 5e20, -8.8e14):
        text = format_number(value)
        assert not ("e" in text and text[-1] in "kMGT"), (value, text)
    line = summary_line({"update": 3, "env_steps": 1536, "sps": 1e4, "value_loss": 7.12e12}, 2048)
    assert "v_loss 7.12T" in line


def test_divergence_is_reported_once_per_sign_and_can_stop_the_run():
    class FakeTrainer:
        update = 40

        def __init__(self):
            self.lines, self.stops = [], []

        def report(self, line):
            self.lines.append(line)

        def request_stop(self, reason, exit_code):
            self.stops.append((reason, exit_code))

    healthy = {"value_loss": 50.0, "total_loss": 20.0, "entropy": 0.6, "approx_kl": 0.01}
    exploded = {"value_loss": 7.12e12, "total_loss": 3.6e12, "entropy": 0.0, "approx_kl": 0.0}
    trainer, callback = FakeTrainer(), DivergenceCallback(("total_loss", "value_loss"))
    assert callback.on_epoch_end(trainer, dict(healthy)) is None
    assert callback.on_epoch_end(trainer, {**healthy, "value_loss": 5e4}) is None  # 1000x: learning, not diverging
    assert trainer.lines == []
    assert callback.on_epoch_end(trainer, dict(exploded)) == {"diverged": 1.0}
    assert len(trainer.lines) == 3 and all("diverged at update 40" in line for line in trainer.lines)
    assert any("value_loss 7.12e+12" in line for line in trainer.lines)
    assert any("entropy" in line and "collapsed" in line for line in trainer.lines)
    assert all("--stop-on-divergence" in line for line in trainer.lines) and trainer.stops == []
    callback.on_epoch_end(trainer, dict(exploded))
    assert len(trainer.lines) == 3, "each sign is reported once"
    stopper, stopping = FakeTrainer(), DivergenceCallback(("value_loss",), stop=True)
    stopping.on_epoch_end(stopper, dict(healthy))
    stopping.on_epoch_end(stopper, dict(exploded))
    assert stopper.stops and all(code == 1 for _, code in stopper.stops)


def test_storage_errors_read_as_one_line():
    error = ValueError(
        "Encountered error while reading array index: (slice(0, 64, 1),). See full TensorStore details: "
        "<bound method pybind11_detail_function_record_v1_system_libstdcpp_gxx_abi_1xxx_use_cxx11_>\nmore"
    )
    assert _one_line(error) == "Encountered error while reading array index: (slice(0, 64, 1),)"


def test_diverging_run_warns_and_stop_option_exits_1(tmp_path, cli_env):
    args = [*runs.TINY, "--total-timesteps", "1024", "--lr", "1e6", "--updates-per-epoch", "2"]
    warned = runs.train([*args, "--run-dir", tmp_path / "warn"], cli_env)
    assert warned.returncode == 0, runs.describe(warned)
    assert "warning: training diverged at update" in warned.stdout and "--stop-on-divergence" in warned.stdout
    stopped = runs.train([*args, "--stop-on-divergence", "--run-dir", tmp_path / "stop"], cli_env)
    assert stopped.returncode == 1, runs.describe(stopped)
    assert "stopped (diverged at update" in stopped.stdout


def test_non_finite_before_the_first_checkpoint_says_nothing_was_saved(tmp_path, cli_env):
    run_dir = tmp_path / "run"
    result = runs.train([*runs.TINY, "--total-timesteps", "1024", "--lr", "1e30", "--run-dir", run_dir], cli_env)
    assert result.returncode == 1, runs.describe(result)
    assert "nothing was saved: the error came before the first checkpoint" in result.stdout
    assert "last good checkpoint" not in result.stdout
    # The directory is resumable all the same: with no checkpoint the run starts over from its config.
    resumed = runs.train(["--resume", run_dir, "--lr", "1e30"], cli_env)
    assert "no checkpoint in" in resumed.stdout and "starting the run afresh from its saved config" in resumed.stdout


# -- storage failures ------------------------------------------------------------------------------


class _FullDisk:
    """A file object whose writes fail as a full disk's do, after ``lines_left`` lines."""

    def __init__(self, real, lines_left: int):
        self.real, self.lines_left = real, lines_left

    def write(self, text: str) -> int:
        if self.lines_left <= 0:
            import errno
            import os

            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.lines_left -= 1
        return self.real.write(text)

    def flush(self) -> None:
        self.real.flush()

    def close(self) -> None:
        self.real.close()


def _tiny_trainer(run_dir, reports, **fields):
    from jaxrl.config import PPOConfig, TrainConfig
    from jaxrl.run.build import build_trainer

    ppo = PPOConfig(total_timesteps=12 * 64, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=1)
    config = TrainConfig(ppo=ppo, updates_per_epoch=2, checkpoint_every=1, eval_every=0, plot=False, **fields)
    return build_trainer(config, run_dir=run_dir, report=reports.append)


def test_a_metrics_file_that_cannot_be_written_stops_the_run(tmp_path):
    from jaxrl.run.checkpoint import committed_steps
    from jaxrl.run.loggers import read_jsonl

    reports: list[str] = []
    trainer = _tiny_trainer(tmp_path / "run", reports)
    jsonl = trainer.components.loggers.loggers[0]
    jsonl._file = _FullDisk(jsonl._file, lines_left=5)  # epochs of 2 updates: fails in the third epoch
    assert trainer.run() == 1
    trainer.close()
    errors = [line for line in reports if line.startswith("error:")]
    assert len(errors) == 1, reports
    assert f"cannot write {tmp_path / 'run' / 'metrics.jsonl'}: No space left on device" in errors[0]
    assert "stopped at update 6" in errors[0] and "the last good checkpoint, update 4, is kept" in errors[0]
    assert trainer.update == 6, "the run went on after the failure"
    assert committed_steps(tmp_path / "run" / "checkpoints") == [2, 4]
    assert [r["update"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3, 4, 5]


def test_a_checkpoint_that_cannot_be_written_stops_the_run_and_leaves_no_temporaries(tmp_path):
    import errno
    import os

    from jaxrl.run.checkpoint import committed_steps

    reports: list[str] = []
    trainer = _tiny_trainer(tmp_path / "run", reports)
    checkpointer = trainer.components.checkpointer
    real_save, calls = checkpointer._manager.save, []

    def save(step, *args, **kwargs):
        calls.append(step)
        if len(calls) >= 2:  # the second save: half written, then the disk is full
            (checkpointer.directory / f"{step}.orbax-checkpoint-tmp-99").mkdir()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(step, *args, **kwargs)

    checkpointer._manager.save = save
    assert trainer.run() == 1
    trainer.close()
    errors = [line for line in reports if line.startswith("error:")]
    assert len(errors) == 1, reports
    assert "cannot write a checkpoint in" in errors[0] and "No space left on device" in errors[0]
    assert "the last good checkpoint, update 2, is kept" in errors[0]
    assert trainer.update == 6, "the run did not stop at the save after the failed one"
    directory = tmp_path / "run" / "checkpoints"
    assert committed_steps(directory) == [2]
    assert not list(directory.glob("*orbax-checkpoint-tmp*")), "a half-written checkpoint was left behind"


# -- determinism -----------------------------------------------------------------------------------


def test_deterministic_asks_xla_once(monkeypatch):
    from jaxrl import backend

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    backend.request_determinism()
    backend.request_determinism()
    assert backend.DETERMINISTIC_XLA_FLAG == "--xla_gpu_deterministic_ops=true"
    import os

    assert os.environ["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=2", backend.DETERMINISTIC_XLA_FLAG]


def test_two_processes_with_the_same_config_and_key_train_the_same_bits(tmp_path, cli_env):
    import chex

    from jaxrl.run.rundir import restore_run

    args = [*runs.TINY, "--total-timesteps", "1024", "--deterministic"]
    states = []
    for name in ("a", "b"):
        result = runs.train([*args, "--run-dir", tmp_path / name], cli_env)
        assert result.returncode == 0, runs.describe(result)
        states.append(restore_run(tmp_path / name, report=pytest.fail)[1])
    chex.assert_trees_all_equal(*states)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 640 KiB tmpfs mounted under ``tmp_path``, or a skip where mounting is not allowed."""
    import shutil
    import subprocess

    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the fake full disk above covers this")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)


def test_a_real_full_disk_stops_the_run_with_one_line(tiny_disk, cli_env):
    from jaxrl.run.checkpoint import committed_steps

    run_dir = tiny_disk / "run"
    result = runs.train(["--total-timesteps", "2e6", "--checkpoint-every", "4", "--run-dir", run_dir], cli_env)
    assert result.returncode == 1, runs.describe(result)
    errors = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, runs.describe(result)
    assert "No space left on device" in errors[0] and "stopped at update" in errors[0]
    committed = committed_steps(run_dir / "checkpoints")
    assert committed and f"the last good checkpoint, update {committed[-1]}, is kept" in errors[0]
    assert not list((run_dir / "checkpoints").rglob("*orbax-checkpoint-tmp*")), "temporaries left behind"
    assert "Traceback" not in result.stdout + result.stderr and "asyncio" not in result.stderr, runs.describe(result)


def test_quiet_stderr_drops_only_the_closed_event_loop_tracebacks():
    import io

    from jaxrl.run.checkpoint import QuietStderr

    closed = ('Traceback (most recent call last):\n  File "asyncio/base_events.py", line 806, in call_soon_threadsafe\n'
              "    self._check_closed()\nRuntimeError: Event loop is closed\n")
    other = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: a real error\n'
    sink = io.StringIO()
    quiet = QuietStderr(sink)
    for text in ("warning: one\n", closed, "partial ", "line\n", other[:20], other[20:], closed[:40], closed[40:]):
        quiet.write(text)
    quiet.flush()
    assert sink.getvalue() == "warning: one\npartial line\n" + other
    assert quiet.dropped == 2
    quiet.write("Traceback (most recent call last):\n  cut short")
    quiet.release()  # what is held back at exit is still shown
    assert sink.getvalue().endswith("Traceback (most recent call last):\n  cut short")


def test_quiet_stderr_drops_two_closed_loop_tracebacks_printed_interleaved():
    """Two threads print their tracebacks line by line into each other (seen on a full disk)."""
    import io

    from jaxrl.run.checkpoint import QuietStderr

    head = "Traceback (most recent call last):\n"
    frame = '  File "asyncio/base_events.py", line 806, in call_soon_threadsafe\n    self._check_closed()\n'
    end = "RuntimeError: Event loop is closed\n"
    sink = io.StringIO()
    quiet = QuietStderr(sink)
    for text in (head, frame, head, frame, "    raise RuntimeError('Event loop is closed')\n", end, end, "\n", "after\n"):
        quiet.write(text)
    assert sink.getvalue() == "\nafter\n" and quiet.dropped == 1
    mixed = QuietStderr(sink := io.StringIO())
    for text in (head, frame, head, '  File "x.py", line 1\n', "ValueError: real\n", end):
        mixed.write(text)
    assert "ValueError: real" in sink.getvalue() and mixed.dropped == 0  # anything else is shown whole


def test_yaml_and_flags_take_auto_epochs(tmp_path, capsys):
    from jaxrl.train import parse_args

    path = tmp_path / "my.yaml"
    path.write_text("updates_per_epoch: auto\nepoch_seconds: 5\n")
    config = parse_args(["--config", str(path)])
    assert (config.updates_per_epoch, config.epoch_seconds) == ("auto", 5.0)
    assert parse_args(["--updates-per-epoch", "auto"]).updates_per_epoch == "auto"
    assert parse_args(["--updates-per-epoch", "1e2"]).updates_per_epoch == 100
    path.write_text("updates_per_epoch: often\n")
    line = one_line_error(capsys, ["--config", str(path), "--run-dir", str(tmp_path / "run")])
    assert "updates_per_epoch: 'often' is not an integer or 'auto'" in line
    line = one_line_error(capsys, ["--updates-per-epoch", "auto", "--epoch-seconds", "0", "--run-dir", str(tmp_path / "r")])
    assert "--epoch-seconds must be a positive number of seconds" in line


def test_sigint_in_a_slow_configuration_is_answered_within_seconds_with_auto_epochs(tmp_path, cli_env):
    """~0.3 s an update on a 2-core CPU: a fixed epoch of 64 updates would hold a stop for ~20 s."""
    import signal
    import time

    run_dir = tmp_path / "run"
    args = ["--num-envs", "1024", "--num-steps", "64", "--total-timesteps", "2e7", "--updates-per-epoch", "auto",
            "--epoch-seconds", "1", "--eval-every", "0", "--checkpoint-every", "0", "--no-plot", "--run-dir", run_dir]
    metrics = run_dir / "metrics.jsonl"
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        process = runs.start("jaxrl.train", args, cli_env, out, err)
        try:
            # Wait until the epochs have grown to their target size, then ask to stop.
            grown = runs.wait_for(lambda: metrics.exists() and metrics.read_text().count("\n") >= 8, 240, process)
            assert grown, f"training did not get going (exit {process.poll()})"
            asked = time.monotonic()
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
            answered = time.monotonic() - asked
        finally:
            if process.poll() is None:
                process.kill()
    stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert code == 130, f"exit {code}\n{stdout}\n{stderr}"
    assert answered < 8.0, f"took {answered:.1f}s to stop\n{stdout}"
    records = runs.read_metrics(run_dir)
    assert [r["update"] for r in records] == list(range(1, records[-1]["update"] + 1))
    assert runs.committed_steps(run_dir / "checkpoints") == [records[-1]["update"]]
    assert "Traceback" not in stdout + stderr


def test_storage_cause_names_the_os_reason_inside_a_long_wrapped_message():
    from jaxrl.errors import storage_cause

    long_path = "/tmp/" + "x" * 300 + "/state/ocdbt.process_0/d/0123"
    wrapped = RuntimeError(f"Error writing local file {long_path!r}: [OS error: No space left on device]")
    assert storage_cause(wrapped) == "No space left on device"
    try:
        try:
            raise OSError(30, "Read-only file system")
        except OSError as inner:
            raise ValueError("save failed") from inner
    except ValueError as outer:
        assert storage_cause(outer) == "Read-only file system"
    assert storage_cause(RuntimeError("something else " + "y" * 300)) == ("something else " + "y" * 300)[:160]
