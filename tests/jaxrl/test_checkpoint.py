"""Checkpoints: orbax round trips, corruption fallback, kill during a save, bit-exact resume,
incompatible resume. Subprocess tests use the tiny config of `tests.helpers.runs`."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.run.checkpoint import Checkpointer, CheckpointError, abstract_like
from tests.helpers import runs

# -- helpers ---------------------------------------------------------------------------------


def leaf_differences(a, b) -> list[str]:
    """Paths of leaves whose dtype, shape or bytes differ (bit-exact comparison, NaN payloads included)."""
    flat_a, tree_a = jax.tree_util.tree_flatten_with_path(a)
    flat_b, tree_b = jax.tree_util.tree_flatten_with_path(b)
    assert tree_a == tree_b, "the two states have different structures"
    diffs = []
    for (path, x), (_, y) in zip(flat_a, flat_b):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            diffs.append(jax.tree_util.keystr(path))
    return diffs


def small_state(seed: int):
    key = jax.random.PRNGKey(seed)
    return {
        "params": {"w": jax.random.normal(key, (64, 64)), "b": jnp.full((64,), seed, jnp.float32)},
        "count": jnp.asarray(seed, jnp.int32),
        "rng": jax.random.split(key)[0],
        "done": jnp.arange(8) % 2 == 0,
        "obs": jnp.arange(12, dtype=jnp.float32).reshape(3, 4) * seed,
    }


def save_steps(directory: Path, steps, max_to_keep=5) -> Checkpointer:
    checkpointer = Checkpointer(directory, max_to_keep=max_to_keep)
    for step in steps:
        checkpointer.save(step, small_state(step), {"update": step, "note": f"step {step}"})
    checkpointer.wait()
    return checkpointer


def largest_file(directory: Path) -> Path:
    return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


# -- the Checkpointer in-process -------------------------------------------------------------


def test_round_trip_is_exact_and_keeps_dtypes(tmp_path):
    checkpointer = save_steps(tmp_path / "ckpt", [7])
    restored, meta, step = checkpointer.restore(abstract_like(small_state(0)), report=pytest.fail)
    checkpointer.close()
    assert step == 7
    assert meta == {"update": 7, "note": "step 7"}
    assert leaf_differences(restored, small_state(7)) == []


def test_keeps_the_newest_max_to_keep(tmp_path):
    checkpointer = save_steps(tmp_path / "ckpt", [1, 2, 3, 4, 5], max_to_keep=2)
    assert checkpointer.steps() == [4, 5]
    checkpointer.close()
    assert runs.committed_steps(tmp_path / "ckpt") == [4, 5]


def test_save_reports_the_blocking_seconds(tmp_path):
    checkpointer = Checkpointer(tmp_path / "ckpt")
    seconds = checkpointer.save(1, small_state(1), {"update": 1})
    checkpointer.close()
    assert seconds == checkpointer.last_save_seconds and 0 < seconds < 60


def _truncate(step_dir: Path) -> None:
    path = largest_file(step_dir / "state")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete_largest(step_dir: Path) -> None:
    largest_file(step_dir / "state").unlink()


def _delete_metadata(step_dir: Path) -> None:
    (step_dir / "state" / "_METADATA").unlink()


def _empty_state(step_dir: Path) -> None:
    shutil.rmtree(step_dir / "state")
    (step_dir / "state").mkdir()


@pytest.mark.parametrize("corrupt", [_truncate, _delete_largest, _delete_metadata, _empty_state],
                         ids=["truncated-data", "deleted-data", "deleted-metadata", "emptied-state"])
def test_corrupt_newest_checkpoint_falls_back_with_one_line(tmp_path, corrupt):
    directory = tmp_path / "ckpt"
    save_steps(directory, [1, 2, 3]).close()
    corrupt(directory / "3")
    reports = []
    checkpointer = Checkpointer(directory)
    restored, meta, step = checkpointer.restore(abstract_like(small_state(0)), report=reports.append)
    checkpointer.close()
    assert step == 2 and meta["update"] == 2
    assert leaf_differences(restored, small_state(2)) == []
    assert len(reports) == 1 and "\n" not in reports[0]
    assert str(directory / "3") in reports[0] and "unreadable" in reports[0]


def test_no_readable_checkpoint_is_one_clear_error(tmp_path):
    directory = tmp_path / "ckpt"
    save_steps(directory, [1, 2]).close()
    for step in ("1", "2"):
        _delete_metadata(directory / step)
    checkpointer = Checkpointer(directory)
    with pytest.raises(CheckpointError, match=r"no readable checkpoint in .*tried steps \[2, 1\]"):
        checkpointer.restore(abstract_like(small_state(0)), report=lambda line: None)
    checkpointer.close()
    empty = Checkpointer(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        empty.restore(abstract_like(small_state(0)))
    empty.close()


def test_leftover_temporaries_are_removed_on_open(tmp_path):
    directory = tmp_path / "ckpt"
    save_steps(directory, [1]).close()
    leftover = directory / "2.orbax-checkpoint-tmp-1234"
    (leftover / "state").mkdir(parents=True)
    (leftover / "state" / "partial").write_bytes(b"\0" * 100)
    checkpointer = Checkpointer(directory)
    assert not leftover.exists()
    assert checkpointer.steps() == [1]
    checkpointer.close()


# -- bit-exact resume (subprocesses) -----------------------------------------------------------

STOP_AT = 16  # half of the tiny run's 32 updates, on an epoch boundary


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, cli_env):
    """The tiny run straight through, and the same config stopped by SIGINT after update 16, then resumed
    in a new process. Run back to back, so both see the same library code."""
    root = tmp_path_factory.mktemp("interrupted")
    straight = runs.train([*runs.BASE_ARGS, "--run-dir", root / "straight"], cli_env)
    assert straight.returncode == 0, runs.describe(straight)
    run_dir = root / "resumed"
    stopped = runs.run_module("tests.helpers.stop_at", [STOP_AT, "--", *runs.BASE_ARGS, "--run-dir", run_dir], cli_env)
    stopped_metrics = runs.read_metrics(run_dir) if (run_dir / "metrics.jsonl").exists() else []
    resumed = runs.train(["--resume", run_dir], cli_env)
    return run_dir, stopped, stopped_metrics, resumed, root / "straight"


def test_stop_and_resume_processes_succeed(interrupted_run):
    run_dir, stopped, stopped_metrics, resumed, _ = interrupted_run
    assert stopped.returncode == 130, runs.describe(stopped)
    assert stopped_metrics[-1]["update"] == STOP_AT
    assert resumed.returncode == 0, runs.describe(resumed)
    assert f"resuming after update {STOP_AT}" in resumed.stdout
    assert [r["update"] for r in runs.read_metrics(run_dir)] == list(range(1, 33))


def test_resume_is_bit_exact(interrupted_run):
    """32 updates straight vs 16, stop, new process, 16 more: every leaf of the final state is identical."""
    from jaxrl.run.rundir import restore_run

    run_dir, *_, straight_dir = interrupted_run
    _, straight, straight_meta = restore_run(straight_dir, report=pytest.fail)
    _, resumed, resumed_meta = restore_run(run_dir, report=pytest.fail)
    assert straight_meta["update"] == resumed_meta["update"] == 32
    differing = leaf_differences(straight, resumed)
    assert differing == [], f"leaves that differ after resume: {differing}"
    # The comparison covers params, optimiser state (moments and count), env state, observations, rng, counters.
    assert {name for name in ("params", "opt_state", "env_state", "obs", "rng", "update")} == set(
        straight.__dataclass_fields__
    )


def test_resumed_metrics_tail_is_identical(interrupted_run):
    run_dir, *_, straight_dir = interrupted_run
    straight = [runs.without_timing(r) for r in runs.read_metrics(straight_dir) if r["update"] > STOP_AT]
    resumed = [runs.without_timing(r) for r in runs.read_metrics(run_dir) if r["update"] > STOP_AT]
    assert len(straight) == len(resumed) == 32 - STOP_AT
    for a, b in zip(straight, resumed):
        assert a == b, f"update {a['update']}: {sorted(k for k in a if a.get(k) != b.get(k))}"


EVAL_ARGS = [*runs.TINY_TOTAL, *runs.TINY[:-2], "--eval-every", "1", "--eval-episodes", "4", "--checkpoint-every", "0"]


@pytest.fixture(scope="module")
def evaluated_pair(tmp_path_factory, cli_env):
    """With evaluation every epoch: a straight run, and one stopped at update 16 and resumed."""
    root = tmp_path_factory.mktemp("evaluated")
    straight = runs.train([*EVAL_ARGS, "--run-dir", root / "straight"], cli_env)
    stopped = runs.run_module("tests.helpers.stop_at", [STOP_AT, "--", *EVAL_ARGS, "--run-dir", root / "resumed"],
                              cli_env)
    resumed = runs.train(["--resume", root / "resumed"], cli_env)
    for result in (straight, resumed):
        assert result.returncode == 0, runs.describe(result)
    assert stopped.returncode == 130, runs.describe(stopped)
    return root / "straight", root / "resumed"


@pytest.mark.slow  # three extra runs with evaluation (~20 s)
def test_resumed_evaluation_metrics_are_identical(evaluated_pair):
    straight, resumed = evaluated_pair
    def tail(run):
        return [(r["update"], r["eval/episode_return"]) for r in runs.read_metrics(run)
                if r["update"] > STOP_AT and "eval/episode_return" in r]

    assert tail(straight) and tail(straight) == tail(resumed)


# -- kill during a save ----------------------------------------------------------------------

HANG_ON_SAVE = 3  # saves after epochs 1, 2 commit (updates 4, 8); the one at update 12 hangs before its commit


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory, cli_env):
    root = tmp_path_factory.mktemp("killed")
    run_dir, marker = root / "run", root / "saving"
    args = [marker, HANG_ON_SAVE, "--", *runs.TINY_TOTAL, *runs.TINY, "--checkpoint-every", "1", "--keep-checkpoints",
            "3", "--run-dir", run_dir]
    with open(root / "stdout.txt", "w") as out, open(root / "stderr.txt", "w") as err:
        process = runs.start("tests.helpers.hang_save", args, cli_env, out, err)
        try:
            in_save = runs.wait_for(marker.exists, 240, process)
            process.send_signal(signal.SIGKILL)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    checkpoints = run_dir / "checkpoints"
    at_kill = {
        "in_save": in_save,
        "code": code,
        "committed": runs.committed_steps(checkpoints),
        "temporaries": [p.name for p in runs.temporaries(checkpoints)],
        "metrics": [r["update"] for r in runs.read_metrics(run_dir)] if (run_dir / "metrics.jsonl").exists() else [],
        "output": (root / "stdout.txt").read_text() + (root / "stderr.txt").read_text(),
    }
    resumed = runs.train(["--resume", run_dir], cli_env)
    return run_dir, at_kill, resumed


def test_kill_during_save_resumes_from_the_last_committed(killed_run):
    run_dir, at_kill, resumed = killed_run
    assert at_kill["in_save"], f"the helper never reached the hanging save:\n{at_kill['output']}"
    assert at_kill["code"] == -signal.SIGKILL
    assert at_kill["committed"] == [4, 8]
    assert at_kill["temporaries"] and all(name.startswith("12.") for name in at_kill["temporaries"]), at_kill
    assert resumed.returncode == 0, runs.describe(resumed)
    assert "resuming after update 8" in resumed.stdout
    assert "unreadable" not in resumed.stdout  # the half-written step is not even a candidate
    checkpoints = run_dir / "checkpoints"
    assert runs.temporaries(checkpoints) == [], "leftover orbax temporaries were not cleaned up"
    assert runs.committed_steps(checkpoints)[-1] == 32
    from jaxrl.run.rundir import restore_run

    _, state, meta = restore_run(run_dir, report=pytest.fail)
    assert int(state.update) == meta["update"] == 32


def test_resume_after_kill_logs_each_update_once(killed_run):
    run_dir, at_kill, resumed = killed_run
    assert resumed.returncode == 0
    assert at_kill["metrics"][-1] > 8  # the killed process had logged past its last committed checkpoint
    assert [r["update"] for r in runs.read_metrics(run_dir)] == list(range(1, 33))


# -- a corrupted newest checkpoint on --resume ---------------------------------------------------


@pytest.fixture(scope="module")
def corrupted_resume(tmp_path_factory, cli_env, base_run):
    run_dir, result = base_run
    assert result.returncode == 0, runs.describe(result)
    copy = shutil.copytree(run_dir, tmp_path_factory.mktemp("corrupted") / "run")
    assert runs.committed_steps(copy / "checkpoints") == [16, 24, 32]
    _truncate(copy / "checkpoints" / "32")
    resumed = runs.train(["--resume", copy], cli_env)
    return copy, resumed


def test_corrupted_checkpoint_is_named_and_skipped_on_resume(corrupted_resume):
    run_dir, resumed = corrupted_resume
    assert resumed.returncode == 0, runs.describe(resumed)
    # Our report goes to stdout. stderr is not searched: about one resume in ten, orbax's abandoned
    # TensorStore reads dump their specs (which contain the path) there as "Exception ignored" noise.
    named = [line for line in resumed.stdout.splitlines() if str(run_dir / "checkpoints" / "32") in line]
    assert len(named) == 1 and "unreadable" in named[0], runs.describe(resumed)
    assert "resuming after update 24" in resumed.stdout
    # Not asserted: no traceback. About one resume in ten after a truncated array file, orbax's abandoned
    # TensorStore reads print hundreds of "RuntimeError: Event loop is closed" tracebacks to stderr
    # (reported; asserting it here would make this test flaky).


def test_fallback_warning_is_in_train_log(corrupted_resume):
    run_dir, resumed = corrupted_resume
    warning = next(line for line in resumed.stdout.splitlines() if "unreadable" in line)
    assert warning in (run_dir / "train.log").read_text().splitlines()


def test_run_resumed_after_corruption_saves_its_final_state(corrupted_resume):
    from jaxrl.run.rundir import restore_run

    run_dir, resumed = corrupted_resume
    assert "StepAlreadyExistsError" not in resumed.stdout + resumed.stderr
    _, state, meta = restore_run(run_dir, report=pytest.fail)
    assert int(state.update) == meta["update"] == 32


# -- an incompatible config on --resume -----------------------------------------------------------


def test_resume_with_incompatible_config_is_one_line(tmp_path, cli_env, finished_base_run):
    run_dir = shutil.copytree(finished_base_run, tmp_path / "run")
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = runs.train(["--resume", run_dir, "--num-envs", "8", "--lr", "1e-3"], cli_env, timeout=120)
    assert result.returncode == 2, runs.describe(result)
    lines = runs.nonempty_lines(result.stderr)
    assert len(lines) == 1, runs.describe(result)
    assert "num_envs: 4 -> 8" in lines[0] and "lr: 0.00025 -> 0.001" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before, "a refused resume must leave the run directory untouched"


def test_resume_may_change_run_settings(tmp_path, cli_env, finished_base_run):
    """Fields that do not change the computation (here the total) are free on --resume."""
    run_dir = shutil.copytree(finished_base_run, tmp_path / "run")
    result = runs.train(["--resume", run_dir, "--total-timesteps", "4096", "--checkpoint-every", "5"], cli_env,
                        timeout=120)
    assert result.returncode == 0, runs.describe(result)
    assert "nothing to do: 32 updates already done" in result.stdout
