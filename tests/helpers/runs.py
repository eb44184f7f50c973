"""Running ``python -m jaxrl.train`` (and friends) in subprocesses for the host-loop tests.

Every subprocess shares one JAX persistent compilation cache per test session,
so only the first run of a given program pays the XLA compile (~10 s on a
small CPU); later runs of the same tiny config take a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# 4 envs x 32 steps = 128 env steps per update; 4096 steps = 32 updates in 8 epochs of 4.
TINY = ["--num-envs", "4", "--num-steps", "32", "--updates-per-epoch", "4", "--eval-every", "0"]
TINY_TOTAL = ["--total-timesteps", "4096"]
BATCH = 4 * 32
TINY_UPDATES = 32
# The shared finished run (conftest `base_run`) and runs compared with it use exactly these flags.
BASE_ARGS = [*TINY_TOTAL, *TINY, "--checkpoint-every", "2", "--keep-checkpoints", "3"]

# Record fields that measure wall time rather than what was computed.
TIMING_FIELDS = frozenset({"time", "sps", "epoch_seconds", "epoch", "checkpoint_seconds"})


def subprocess_env(cache_dir: Path | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JAXRL_DEBUG", None)
    env.update(JAX_PLATFORMS="cpu", MPLBACKEND="Agg", PYTHONUNBUFFERED="1", WANDB_MODE="disabled")
    if cache_dir is not None:
        env.update(
            JAX_COMPILATION_CACHE_DIR=str(cache_dir),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
        )
    env.update(extra)
    return env


def run_module(module: str, args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root; captures text output."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def train(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return run_module("jaxrl.train", args, env, timeout)


def start(module: str, args: list[str], env: dict[str, str], stdout, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, env=env, stdout=stdout, stderr=stderr, text=True
    )


def wait_for(predicate, timeout: float, process: subprocess.Popen | None = None, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true; False on timeout or when ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process is not None and process.poll() is not None:
            return bool(predicate())
        time.sleep(interval)
    return False


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


def nonempty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of metrics.jsonl, strictly parsed (a torn line fails the test)."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def committed_steps(checkpoint_dir: Path) -> list[int]:
    """Step directories orbax committed (renamed from their temporary and marked successful)."""
    return sorted(
        int(p.name) for p in Path(checkpoint_dir).iterdir()
        if p.is_dir() and p.name.isdigit() and (p / "commit_success.txt").exists()
    )


def temporaries(checkpoint_dir: Path) -> list[Path]:
    return sorted(Path(checkpoint_dir).rglob("*orbax-checkpoint-tmp*"))


def without_timing(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in TIMING_FIELDS}
