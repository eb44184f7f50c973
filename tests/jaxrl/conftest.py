"""Shared fixtures for the host-loop and checkpoint tests: the subprocesses' environment and finished tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import runs


@pytest.fixture(scope="module")
def fast_compilation():
    """Skip XLA's expensive backend passes while a module compiles (same semantics, ~2x faster to compile)."""
    import jax

    previous = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture(scope="session")
def cli_env(compilation_cache) -> dict[str, str]:
    """Environment for training subprocesses: CPU, the session's JAX compilation cache, W&B off."""
    return runs.subprocess_env(compilation_cache)


@pytest.fixture(scope="session")
def base_run(tmp_path_factory, cli_env):
    """A finished tiny CartPole run (32 updates, checkpoints every 2 epochs, TensorBoard on).

    Tests must not modify it; copy it (shutil.copytree) to mutate.
    """
    run_dir = tmp_path_factory.mktemp("base") / "run"
    args = [*runs.BASE_ARGS, "--tensorboard", "--run-dir", run_dir]
    result = runs.train(args, cli_env)
    return run_dir, result


@pytest.fixture
def finished_base_run(base_run) -> Path:
    run_dir, result = base_run
    assert result.returncode == 0, runs.describe(result)
    return run_dir


# A tiny Connect Four self-play run: 4 updates of 8 envs x 8 steps, evaluated every epoch (2 updates)
# against random and depth-1 minimax with a pool of 2 snapshots.
CONNECT_FOUR_TINY = [
    "--env", "ConnectFour-v0", "--network", "mlp", "--hidden-sizes", "32", "--num-envs", "8", "--num-steps", "8",
    "--num-minibatches", "2", "--update-epochs", "1", "--total-timesteps", "256", "--updates-per-epoch", "2",
    "--eval-every", "1", "--eval-games", "16", "--minimax-depth", "1", "--opponent-pool-size", "2",
    "--checkpoint-every", "0",
]


@pytest.fixture(scope="session")
def connect_four_run(tmp_path_factory, cli_env):
    """A finished tiny ConnectFour-v0 run from the command line (game evaluation on); do not modify it."""
    run_dir = tmp_path_factory.mktemp("connect-four") / "run"
    result = runs.train([*CONNECT_FOUR_TINY, "--run-dir", run_dir], cli_env, timeout=600)
    assert result.returncode == 0, runs.describe(result)
    return run_dir, result
