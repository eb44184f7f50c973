"""The quick benchmark suite runs end to end on CPU and writes every section, the JSON and the plots."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {"ppo", "seeds", "envs", "hostloop", "peers", "pendulum"}


def assert_measured(record: dict) -> None:
    assert "error" not in record, record
    assert record["sps"] > 0 and math.isfinite(record["sps"]), record
    assert record["median_seconds"] > 0
    assert record["compile_seconds"] >= 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "benchmarks.throughput", "--quick", "--repeats", "1", "--out", str(out)]
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return json.loads((out / "throughput.json").read_text()), out, result.stdout


def test_every_section_measured(quick_run):
    data, _, _ = quick_run
    assert data["errors"] == []
    assert set(data["sections"]) == SECTIONS
    assert data["settings"]["quick"] is True
    assert data["environment"]["platform"] == "cpu" and data["environment"]["jax_version"]

    ppo = data["sections"]["ppo"]["runs"]
    assert [r["num_envs"] for r in ppo] == [4, 64]
    for record in ppo:
        assert_measured(record)
        assert record["env_steps"] == record["num_updates"] * record["num_envs"] * record["num_steps"]

    seeds = data["sections"]["seeds"]["runs"]
    assert [r["num_seeds"] for r in seeds] == [1, 4]
    for record in seeds:
        assert_measured(record)

    envs = data["sections"]["envs"]["runs"]
    assert {r["name"] for r in envs} >= {"CartPole-v1", "Pendulum-v1", "ConnectFour-v0"}
    for record in envs:
        assert_measured(record)
        assert record["checksum_finite"]

    for record in data["sections"]["pendulum"]["runs"]:
        assert_measured(record)
        assert record["env"] == "Pendulum-v1"


def test_host_loop_overhead(quick_run):
    data, _, _ = quick_run
    hostloop = data["sections"]["hostloop"]
    assert_measured(hostloop["pure"])
    assert_measured(hostloop["host_loop"])
    host = hostloop["host_loop"]
    assert (
        host["jsonl_records"] == hostloop["pure"]["num_updates"]
    )  # one record per update, written per epoch
    assert host["checkpoints_saved"], "the host loop saved no checkpoint"
    assert isinstance(hostloop["overhead_percent"], float)


def test_peers_measured_or_skipped_with_a_reason(quick_run):
    data, _, _ = quick_run
    peers = data["sections"]["peers"]
    gymnax = peers["gymnax"]
    if "skipped" in gymnax:
        assert "gymnax" in gymnax["skipped"]
    else:
        assert_measured(gymnax["ours"])
        assert_measured(gymnax["gymnax"])
        assert gymnax["sps_ratio_ours_to_gymnax"] > 0
    rejax = peers["rejax"]
    if "skipped" in rejax:
        assert "rejax" in rejax["skipped"]
    else:
        for comparison in rejax["runs"]:
            assert_measured(comparison["ours"])
            assert_measured(comparison["rejax"])


def test_plots_and_table(quick_run):
    data, out, stdout = quick_run
    for name in ("sps_vs_num_envs.png", "sps_vs_seeds.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert name in data["plots"]
    assert "steps/s" in stdout and "final return" in stdout
    assert "CartPole-v1 64 envs" in stdout
