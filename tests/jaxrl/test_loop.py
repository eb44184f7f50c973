"""The host loop in-process: failing loggers and callbacks, compile-once, epoch sizing, stop requests."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest

from jaxrl import ppo
from jaxrl.config import PPOConfig, TrainConfig
from jaxrl.run.build import build_trainer
from jaxrl.run.callbacks import Callback
from jaxrl.run.loop import EXIT_INTERRUPTED, EXIT_OK, EpochSizer, epoch_summary, epoch_updates

NUM_UPDATES = 12
UPDATES_PER_EPOCH = 3


class RecordingLogger:
    def __init__(self):
        self.records, self.closed = [], False

    def log(self, record):
        self.records.append(dict(record))

    def close(self):
        self.closed = True


class FailingLogger:
    def __init__(self):
        self.calls = 0

    def log(self, record):
        self.calls += 1
        raise OSError("disk full")

    def close(self):
        raise OSError("disk still full")


class FailingCallback(Callback):
    def __init__(self):
        self.calls = 0

    def on_epoch_end(self, trainer, record):
        self.calls += 1
        raise RuntimeError("callback bug")


class EpochCounter(Callback):
    def __init__(self):
        self.epochs, self.updates, self.end_reason = [], [], None

    def on_epoch_end(self, trainer, record):
        self.epochs.append(trainer.epoch)
        self.updates.append(trainer.update)
        return {"counted_epochs": len(self.epochs)}

    def on_train_end(self, trainer, reason):
        self.end_reason = reason


def run_config(algo, **fields) -> TrainConfig:
    """A run of ``algo``'s config with nothing but the callbacks and loggers a test passes."""
    return TrainConfig(ppo=algo.config, eval_every=0, plot=False, **fields)


@pytest.fixture(scope="module")
def algo():
    return ppo.make(PPOConfig(total_timesteps=NUM_UPDATES * 4 * 16, num_envs=4, num_steps=16, num_minibatches=2,
                              update_epochs=2))


@pytest.fixture(scope="module")
def failing_run(algo):
    """One in-process run with a failing logger and callback placed before healthy ones."""
    reports: list[str] = []
    recorder, failing_logger = RecordingLogger(), FailingLogger()
    failing_callback, counter = FailingCallback(), EpochCounter()
    trainer = build_trainer(
        run_config(algo, updates_per_epoch=UPDATES_PER_EPOCH), algo=algo, state=algo.init(jax.random.PRNGKey(0)),
        loggers=[failing_logger, recorder], callbacks=[failing_callback, counter], report=reports.append,
    )
    code = trainer.run()
    trainer.close()
    return {"code": code, "trainer": trainer, "reports": reports, "recorder": recorder,
            "failing_logger": failing_logger, "failing_callback": failing_callback, "counter": counter}


def test_failing_logger_and_callback_do_not_stop_training(failing_run):
    assert failing_run["code"] == EXIT_OK
    trainer = failing_run["trainer"]
    assert trainer.update == NUM_UPDATES
    assert int(trainer.state.update) == NUM_UPDATES
    # The healthy callback after the failing one ran every epoch.
    assert failing_run["counter"].epochs == list(range(1, NUM_UPDATES // UPDATES_PER_EPOCH + 1))
    assert failing_run["counter"].end_reason == "done"


def test_failures_are_reported_once_and_disabled(failing_run):
    reports = failing_run["reports"]
    logger_lines = [r for r in reports if "FailingLogger" in r]
    callback_lines = [r for r in reports if "FailingCallback" in r]
    # One line each while training; the logger's close() failing adds nothing because it was dropped.
    assert len(logger_lines) == 1 and logger_lines[0].startswith("warning: logger FailingLogger failed (OSError")
    assert len(callback_lines) == 1 and "callback FailingCallback failed (RuntimeError: callback bug)" in callback_lines[0]
    assert failing_run["failing_logger"].calls == 1
    assert failing_run["failing_callback"].calls == 1
    assert all("\n" not in r for r in reports)


def test_other_loggers_receive_every_record(failing_run):
    recorder = failing_run["recorder"]
    assert recorder.closed
    assert [r["update"] for r in recorder.records] == list(range(1, NUM_UPDATES + 1))
    for record in recorder.records:
        assert record["env_steps"] == record["update"] * 64
        assert {"time", "sps", "epoch", "total_loss"} <= set(record)
    # sps is the rate over the run so far: env steps over the summed epoch intervals.
    last_per_epoch = [r for r in recorder.records if r["update"] % 3 == 0]
    seconds = np.cumsum([r["epoch_seconds"] for r in last_per_epoch])
    for record, total in zip(last_per_epoch, seconds):
        assert record["sps"] == pytest.approx(record["env_steps"] / total, rel=1e-9)
    # Metrics a callback returns land in its epoch's last record only.
    counted = [(r["update"], r["counted_epochs"]) for r in recorder.records if "counted_epochs" in r]
    assert counted == [(3 * i, i) for i in range(1, 5)]


def test_epoch_function_compiles_once(failing_run):
    trainer = failing_run["trainer"]
    assert trainer.epoch == NUM_UPDATES // UPDATES_PER_EPOCH > 1
    assert trainer.traces == 1
    assert trainer.compile_seconds > 0


def test_the_algorithm_is_traced_once_for_a_whole_run():
    """Every epoch, the shorter last one included, runs the program traced once (chex counts the traces)."""

    class Traced(ppo.PPO):
        pass

    algo = Traced(PPOConfig(total_timesteps=7 * 4 * 16, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=1))
    algo.train_from = chex.assert_max_traces(algo.train_from, n=1)
    trainer = build_trainer(run_config(algo, updates_per_epoch=3), algo=algo, report=lambda m: None)
    assert trainer.run() == EXIT_OK
    assert trainer.epoch == 3 and trainer.update == 7  # epochs of 3, 3 and 1 updates


def test_stop_request_ends_after_the_epoch_with_its_exit_code(algo):
    class StopAfterSecondEpoch(Callback):
        def on_epoch_end(self, trainer, record):
            if trainer.epoch == 2:
                trainer.request_stop("test", exit_code=EXIT_INTERRUPTED)

    reports: list[str] = []
    recorder = RecordingLogger()
    trainer = build_trainer(
        run_config(algo, updates_per_epoch=UPDATES_PER_EPOCH), algo=algo, state=algo.init(jax.random.PRNGKey(1)),
        loggers=[recorder], callbacks=[StopAfterSecondEpoch()], report=reports.append,
    )
    assert trainer.run() == EXIT_INTERRUPTED
    assert trainer.update == 2 * UPDATES_PER_EPOCH
    assert [r["update"] for r in recorder.records] == list(range(1, 2 * UPDATES_PER_EPOCH + 1))
    assert any(r.startswith(f"stopped (test) at update {2 * UPDATES_PER_EPOCH}") for r in reports)
    assert trainer.traces == 1


@pytest.mark.parametrize(
    ("remaining", "requested", "expected"),
    [(32, 4, [4] * 8), (30, 16, [16, 14]), (381, 16, [16] * 23 + [13]), (7, 16, [7]), (13, 4, [4, 4, 4, 1]),
     (10, 0, [1] * 10)],
)
def test_epoch_updates_fill_epochs_and_end_exactly(remaining, requested, expected):
    sizes = epoch_updates(remaining, requested)
    assert sizes == expected
    assert sum(sizes) == remaining


def test_short_last_epoch_runs_exactly_the_remaining_updates_with_one_compile(tmp_path):
    config = PPOConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 11, num_minibatches=2, update_epochs=1)
    algo = ppo.make(config)
    recorder = RecordingLogger()
    trainer = build_trainer(run_config(algo, updates_per_epoch=4), algo=algo, state=algo.init(jax.random.PRNGKey(0)),
                            loggers=[recorder], report=lambda m: None)
    assert trainer.run() == EXIT_OK
    assert trainer.traces == 1
    assert [r["update"] for r in recorder.records] == list(range(1, 12))
    assert all(np.isfinite(r["total_loss"]) for r in recorder.records)
    # The masked tail changes nothing: the same 11 updates as pure train.
    pure_state, _ = jax.jit(algo.train)(jax.random.PRNGKey(0))
    chex.assert_trees_all_close(trainer.state.params, pure_state.params, rtol=1e-5, atol=1e-6)


def test_epoch_summary_pools_episodes_over_the_epoch():
    records = [
        {"update": 1, "episodes": 1.0, "episode_return": 10.0, "episode_length": 10.0},
        {"update": 2, "episodes": 0.0, "episode_return": float("nan"), "episode_length": float("nan")},
        {"update": 3, "episodes": 3.0, "episode_return": 30.0, "episode_length": 20.0},
    ]
    summary = epoch_summary(records)
    assert summary["update"] == 3
    assert summary["episodes"] == 4.0
    assert summary["episode_return"] == pytest.approx((10 + 3 * 30) / 4)
    assert summary["episode_length"] == pytest.approx((10 + 3 * 20) / 4)
    assert np.isnan(records[1]["episode_return"])  # inputs untouched


def test_auto_epochs_grow_to_the_target_time_and_shrink_when_updates_slow_down():
    sizer = EpochSizer("auto", seconds=2.0)
    assert sizer.room == 1 and sizer.size(100) == 1  # one update first: nothing is known yet
    sizes = []
    for _ in range(6):  # 0.01 s an update: ramps x4 an epoch towards 200 updates
        size = sizer.size(10_000)
        sizes.append(size)
        sizer.observe(size, 0.01 * size)
        sizer.agree()
    assert sizes == [1, 4, 16, 64, 200, 200]
    sizer.observe(200, 20.0)  # now 0.1 s an update
    sizer.agree()
    assert sizer.size(10_000) == 20
    assert sizer.size(7) == 7  # never past the end of the run
    sizer.observe(1, 60.0)  # slower than the target: still at least one update
    sizer.agree()
    assert sizer.size(10) == 1
    fixed = EpochSizer(16)
    fixed.observe(16, 100.0)
    fixed.agree()
    assert (fixed.room, fixed.size(100), fixed.size(5)) == (16, 16, 5)


def test_auto_epochs_run_every_update_once_with_one_compile():
    config = PPOConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 11, num_minibatches=2, update_epochs=1)
    algo = ppo.make(config)
    recorder, reports = RecordingLogger(), []
    trainer = build_trainer(run_config(algo, updates_per_epoch="auto", epoch_seconds=0.05), algo=algo,
                            state=algo.init(jax.random.PRNGKey(0)), loggers=[recorder], report=reports.append)
    assert trainer.run() == EXIT_OK
    assert trainer.traces == 1
    assert any("--updates-per-epoch auto" in line for line in reports)
    assert [r["update"] for r in recorder.records] == list(range(1, 12))
    epochs = [r["epoch"] for r in recorder.records]
    assert epochs[:2] == [1, 2] and epochs == sorted(epochs)  # the first epochs run one update each
    pure_state, _ = jax.jit(algo.train)(jax.random.PRNGKey(0))
    chex.assert_trees_all_close(trainer.state.params, pure_state.params, rtol=1e-5, atol=1e-6)
