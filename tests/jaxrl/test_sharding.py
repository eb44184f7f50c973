"""Many devices and hosts: the env batch split over a device mesh, results equal to one device,
no recompilation, checkpoints moving between device counts, two processes training one run.

The main pytest process has one CPU device; runs on several devices are subprocesses started with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX is imported there).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from jaxrl import ppo, sharding
from jaxrl.config import ConfigError, PPOConfig, validate
from tests.helpers import runs

FOUR = "--xla_force_host_platform_device_count=4"
# Float reduction order differs between one device and several (gradient and advantage sums are split
# into per-device partial sums); tiny CartPole runs stay within this of each other.
PARAM_ATOL = 1e-5
LOSS_RTOL = 1e-4


def forced(cli_env: dict[str, str], count: int) -> dict[str, str]:
    return {**cli_env, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}


def assert_params_close(a, b) -> None:
    """Same tree, every leaf finite and within `PARAM_ATOL` of the other's (no relative tolerance)."""
    chex.assert_tree_all_finite(b)
    chex.assert_trees_all_close(a, b, rtol=0.0, atol=PARAM_ATOL)


def assert_losses_close(records_a: list[dict], records_b: list[dict]) -> None:
    assert [r["update"] for r in records_a] == [r["update"] for r in records_b]
    for a, b in zip(records_a, records_b):
        for key in ("total_loss", "value_loss", "entropy", "episode_return"):
            if a.get(key) is not None and np.isfinite(a[key]):
                assert b[key] == pytest.approx(a[key], rel=LOSS_RTOL, abs=1e-6), f"update {a['update']} {key}"


# -- validation and placement (in process, one device) ----------------------------------------------


def test_indivisible_env_batch_is_one_clear_line():
    with pytest.raises(
        ConfigError, match=r"^--num-envs 6 is not divisible by the 4 devices in use; use a multiple of 4"
    ):
        validate(PPOConfig(num_envs=6), num_devices=4)
    # 4 envs x 6 steps / 4 minibatches = minibatches of 6 rows: not splittable over 4 devices.
    with pytest.raises(
        ConfigError, match=r"^the minibatch size 6 .* is not divisible by the 4 devices in use"
    ):
        validate(PPOConfig(num_envs=4, num_steps=6, num_minibatches=4), num_devices=4)
    validate(PPOConfig(num_envs=8, num_steps=16, num_minibatches=4), num_devices=4)


def test_default_device_count_fits_the_batch(monkeypatch):
    monkeypatch.setattr(jax, "device_count", lambda: 8)
    assert sharding.default_device_count(16, 128) == 8
    assert sharding.default_device_count(4, 128) == 4  # the default CartPole run on an 8-GPU machine
    assert sharding.default_device_count(6, 48) == 6
    assert sharding.default_device_count(7, 7) == 7
    assert sharding.default_device_count(12, 48) == 6
    monkeypatch.setattr(jax, "process_count", lambda: 4)
    assert sharding.default_device_count(12, 48) == 4  # an equal number on each process


def test_device_selection_errors_are_one_line():
    with pytest.raises(ConfigError, match=r"^--devices 2 asks for more devices than the 1 available$"):
        sharding.make_mesh(2)
    with pytest.raises(ConfigError, match=r"^--devices must be >= 0"):
        sharding.make_mesh(-1)
    assert sharding.make_mesh(0).size == sharding.make_mesh(1).size == 1


@pytest.mark.parametrize("num_seeds", [1, 3])
def test_shard_state_splits_the_env_batch_and_replicates_the_rest(num_seeds):
    algo = ppo.make(PPOConfig(num_envs=4, num_steps=8))
    key = jax.random.PRNGKey(0)
    state = algo.init(key) if num_seeds == 1 else jax.vmap(algo.init)(jax.random.split(key, num_seeds))
    placed = sharding.shard_state(state, sharding.make_mesh(1), num_seeds)
    env_spec = (None, "envs") if num_seeds > 1 else ("envs",)
    for leaf in jax.tree.leaves((placed.env_state, placed.obs)):
        assert tuple(leaf.sharding.spec) == env_spec
    for leaf in jax.tree.leaves((placed.params, placed.opt_state, placed.rng, placed.update)):
        assert tuple(leaf.sharding.spec) == ()
    chex.assert_trees_all_equal(state, placed)
    abstract = sharding.abstract_state(state, sharding.make_mesh(1), num_seeds)
    assert tuple(abstract.obs.sharding.spec) == env_spec and abstract.obs.shape == state.obs.shape


def test_split_over_devices_is_the_identity_without_a_mesh():
    x = jax.numpy.arange(12.0).reshape(3, 4)
    assert sharding.split_over_devices(x, axis=1) is x
    with jax.set_mesh(sharding.make_mesh(1)):
        y = jax.jit(lambda v: sharding.split_over_devices(v, axis=1))(x)
    np.testing.assert_array_equal(y, x)


def test_single_process_needs_no_distributed_runtime(monkeypatch):
    for name in (sharding.COORDINATOR_ENV, sharding.NUM_PROCESSES_ENV, sharding.PROCESS_ID_ENV):
        monkeypatch.delenv(name, raising=False)
    assert sharding.initialize_distributed() is False
    assert sharding.initialize_distributed(num_processes=1, process_id=0) is False
    with pytest.raises(ConfigError, match=r"^--num-processes 2 needs --coordinator-address HOST:PORT"):
        sharding.initialize_distributed(num_processes=2, process_id=1)
    with pytest.raises(ConfigError, match=r"^--process-id 2 is out of range for --num-processes 2"):
        sharding.initialize_distributed("localhost:1", num_processes=2, process_id=2)
    monkeypatch.setenv(sharding.PROCESS_ID_ENV, "one")
    with pytest.raises(ConfigError, match="JAX_PROCESS_ID='one' is not an integer"):
        sharding.initialize_distributed(coordinator_address="localhost:1")
    assert sharding.is_main_process() and not jax.distributed.is_initialized()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--num-envs", "6", "--devices", "4"], "--num-envs 6 is not divisible by the 4 devices in use"),
        (["--devices", "8"], "--devices 8 asks for more devices than the 4 available"),
        (["--num-envs", "4", "--num-steps", "6", "--devices", "4"], "the minibatch size 6"),
    ],
    ids=["envs", "too-many-devices", "minibatch"],
)
def test_cli_device_errors_are_one_line(tmp_path, cli_env, args, expected):
    run_dir = tmp_path / "run"
    result = runs.train([*args, "--run-dir", run_dir], forced(cli_env, 4), timeout=60)
    assert result.returncode == 2, runs.describe(result)
    lines = runs.nonempty_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], runs.describe(result)
    assert not run_dir.exists()


# -- four devices against one (subprocesses) -------------------------------------------------------


def sharded_trainer(tmp_path, cli_env, *args: str) -> dict:
    result = runs.run_module(
        "tests.helpers.sharded_trainer", [tmp_path, *args], forced(cli_env, 4), timeout=300
    )
    assert result.returncode == 0, runs.describe(result)
    return json.loads((tmp_path / "summary.json").read_text())


def check_four_match_one(tmp_path, summary: dict, env_spec: str) -> None:
    assert summary["device_count"] == 4
    for count, run in summary["runs"].items():
        assert run["exit_code"] == 0 and run["epochs"] == 4
        # One trace, one XLA compilation, none while the epochs ran.
        assert run["traces"] == 1 and run["compiles_total"] > 0 and run["compiles_during_epochs"] == 0, run
        assert run["obs_sharding"] == env_spec and run["params_sharding"] == "P()"
        assert run["obs_devices"] == int(count)
    one, four = np.load(tmp_path / "params_1.npz"), np.load(tmp_path / "params_4.npz")
    assert_params_close(dict(one), dict(four))  # the same leaf names, values within PARAM_ATOL
    assert_losses_close(summary["runs"]["1"]["records"], summary["runs"]["4"]["records"])


def test_four_devices_match_one_without_recompiling(tmp_path, cli_env):
    """The host loop on a mesh of 1 and of 4 devices: same total envs and seed, same results."""
    check_four_match_one(tmp_path, sharded_trainer(tmp_path, cli_env, "1", "4"), "P('envs',)")


@pytest.mark.slow
def test_seeds_and_devices_compose(tmp_path, cli_env):
    """--num-seeds 2 on 4 devices: the env axis after the seed axis is split; results match one device."""
    check_four_match_one(
        tmp_path, sharded_trainer(tmp_path, cli_env, "1", "4", "--num-seeds", "2"), "P(None, 'envs')"
    )


# -- checkpoints between device counts (the CLI) ------------------------------------------------------
# A run stopped (SIGINT, through tests.helpers.stop_at) after update 16 of the base run's config, then
# resumed on another device count, must end where the straight one-device base run ended.

STOP_AT = 16


def stopped_run(run_dir, devices: str, env: dict[str, str]):
    result = runs.run_module(
        "tests.helpers.stop_at",
        [STOP_AT, "--", *runs.BASE_ARGS, "--devices", devices, "--run-dir", run_dir],
        env,
    )
    assert result.returncode == 130, runs.describe(result)
    return result


def resume_and_compare(run_dir, devices: str, env: dict[str, str], finished_base_run) -> None:
    from jaxrl.run.rundir import restore_run

    resumed = runs.train(["--resume", run_dir, "--devices", devices], env)
    assert resumed.returncode == 0, runs.describe(resumed)
    assert f"resuming after update {STOP_AT}" in resumed.stdout
    _, straight, _ = restore_run(finished_base_run, report=pytest.fail)
    _, state, meta = restore_run(run_dir, report=pytest.fail)
    assert meta["update"] == runs.TINY_UPDATES
    assert_params_close(straight.params, state.params)
    assert_losses_close(runs.read_metrics(finished_base_run), runs.read_metrics(run_dir))


def test_four_device_checkpoint_resumes_on_one(tmp_path, cli_env, finished_base_run):
    from jaxrl.run.rundir import restore_run

    run_dir = tmp_path / "run"
    result = stopped_run(run_dir, "4", forced(cli_env, 4))
    assert "devices: 4 devices x cpu:cpu, 1 envs each" in result.stdout
    _, half, _ = restore_run(
        run_dir, report=pytest.fail
    )  # a 4-device checkpoint, restored here on one device
    assert half.obs.sharding.num_devices == 1 and int(half.update) == STOP_AT
    resume_and_compare(run_dir, "1", cli_env, finished_base_run)


def test_one_device_checkpoint_resumes_on_four(tmp_path, cli_env, finished_base_run):
    run_dir = tmp_path / "run"
    stopped_run(run_dir, "1", cli_env)
    resume_and_compare(run_dir, "4", forced(cli_env, 4), finished_base_run)


# -- two processes (hosts) on one machine ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def two_processes(
    cwd, modules: list[list[str]], env: dict[str, str], timeout: float = 240
) -> list[tuple[int, str, str]]:
    """Process i runs ``python -m modules[i]`` as process i of 2; returns (code, stdout, stderr) of each."""
    address = f"localhost:{free_port()}"
    env = {**env, "PYTHONPATH": str(runs.REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                *map(str, module),
                "--coordinator-address",
                address,
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, module in enumerate(modules)
    ]
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            outputs.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return outputs


def describe_processes(outputs) -> str:
    return "\n".join(
        f"process {i}: exit {code}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
        for i, (code, out, err) in enumerate(outputs)
    )


def ours(text: str) -> list[str]:
    """Lines jaxrl printed (gloo's own connection notes left out)."""
    return [line for line in runs.nonempty_lines(text) if not line.startswith("[Gloo]")]


TWO_STOP_AT = 4


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, cli_env):
    """The base run's config on 2 processes x 2 CPU devices, without --run-dir (they must agree on one).

    Only process 0 gets the stop request (after update 4, the first epoch); process 1 must stop with it.
    """
    cwd = tmp_path_factory.mktemp("two-processes")
    args = [*runs.BASE_ARGS, "--checkpoint-every", "1", "--eval-every", "1", "--eval-episodes", "2"]
    modules = [["tests.helpers.stop_at", TWO_STOP_AT, "--", *args], ["jaxrl.train", *args]]
    outputs = two_processes(cwd, modules, forced(cli_env, 2))
    return cwd, outputs


@pytest.mark.slow  # ~50 s on a 2-CPU machine: two processes compile side by side, gloo collectives are slow
def test_two_processes_train_one_run(two_process_run, finished_base_run):
    cwd, outputs = two_process_run
    assert [code for code, _, _ in outputs] == [130, 130], describe_processes(outputs)
    (run_dir,) = list((cwd / "runs").iterdir())  # one run directory between them
    main_out = outputs[0][1]
    assert "devices: 4 devices (2 processes x 2) x cpu:cpu, 1 envs each" in main_out
    assert f"stopped (SIGINT received) at update {TWO_STOP_AT}" in main_out
    assert ours(outputs[1][1]) == [] and ours(outputs[1][2]) == [], "only process 0 prints"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "learning_curves.png",
        "metrics.jsonl",
        "train.log",
    ]
    records = runs.read_metrics(run_dir)
    assert [r["update"] for r in records] == list(range(1, TWO_STOP_AT + 1))  # each update logged once
    assert np.isfinite(records[-1]["eval/episode_return"])
    assert runs.committed_steps(run_dir / "checkpoints") == [TWO_STOP_AT]
    # The same numbers as the one-device, one-process run of the same config.
    base = [r for r in runs.read_metrics(finished_base_run) if r["update"] <= TWO_STOP_AT]
    assert_losses_close(base, records)


@pytest.mark.slow
def test_two_process_checkpoint_resumes_in_one_process(tmp_path, cli_env, two_process_run, finished_base_run):
    cwd = two_process_run[0]
    (source,) = list((cwd / "runs").iterdir())
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    result = runs.train(["--resume", run_dir, "--devices", "1", "--eval-every", "0"], cli_env)
    assert result.returncode == 0, runs.describe(result)
    assert f"resuming after update {TWO_STOP_AT}" in result.stdout
    assert_losses_close(runs.read_metrics(finished_base_run), runs.read_metrics(run_dir))


@pytest.mark.slow
def test_two_processes_resume_together(tmp_path, cli_env, two_process_run, finished_base_run):
    cwd = two_process_run[0]
    (source,) = list((cwd / "runs").iterdir())
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    args = ["jaxrl.train", "--resume", run_dir, "--eval-every", "0"]
    outputs = two_processes(tmp_path, [args, args], forced(cli_env, 2))
    assert [code for code, _, _ in outputs] == [0, 0], describe_processes(outputs)
    assert f"resuming after update {TWO_STOP_AT}" in outputs[0][1]
    assert_losses_close(runs.read_metrics(finished_base_run), runs.read_metrics(run_dir))


COLLECTIVES = """
import json, re, jax
from jaxrl import ppo, sharding
mesh = sharding.make_mesh(4)
counts = {}
for shuffle in ("per_env", "global"):
    algo = ppo.make(num_envs=8, num_steps=16, total_timesteps=8 * 16, num_minibatches=2, shuffle=shuffle)
    state = sharding.shard_state(algo.init(jax.random.PRNGKey(0)), mesh)
    with jax.set_mesh(mesh):
        text = jax.jit(algo.update).lower(state).compile().as_text()
    counts[shuffle] = {op: len(re.findall(rf"= [^ ]+ {op}(-start)?\\(", text)) for op in ("all-gather", "all-reduce", "all-to-all")}
print(json.dumps(counts))
"""


def test_per_env_minibatches_move_no_data_between_devices(cli_env):
    """On 4 devices the per-env deal needs no gather across devices (only gradient and statistics
    all-reduces); the global permutation gathers the batch."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIVES], env=forced(cli_env, 4), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["per_env"]["all-gather"] == 0 and counts["per_env"]["all-to-all"] == 0, counts
    assert counts["per_env"]["all-reduce"] > 0, counts
    assert counts["global"]["all-gather"] + counts["global"]["all-to-all"] > 0, counts
