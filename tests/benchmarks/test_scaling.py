"""``python -m benchmarks.scaling``: device counts, and a CPU smoke run on 2 forced devices."""

from __future__ import annotations

import json

import pytest

from benchmarks.scaling import device_counts
from tests.helpers import runs


def test_device_counts_are_powers_of_two_and_all():
    assert device_counts(1, None) == [1]
    assert device_counts(4, None) == [1, 2, 4]
    assert device_counts(6, None) == [1, 2, 4, 6]
    assert device_counts(8, [4, 1, 4]) == [1, 4]
    with pytest.raises(SystemExit, match=r"--devices \[3\] outside 1..2"):
        device_counts(2, [3])


def test_quick_run_on_two_devices_writes_json_and_table(tmp_path, tmp_path_factory):
    env = runs.subprocess_env(
        tmp_path_factory.mktemp("jax-cache"), XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    result = runs.run_module(
        "benchmarks.scaling", ["--quick", "--per-device-envs", "8", "--out", tmp_path], env
    )
    assert result.returncode == 0, runs.describe(result)
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert data["environment"]["device_count"] == 2
    (series,) = data["series"]
    assert series["kind"] == "per_device" and series["envs"] == 8
    assert [(p["devices"], p["num_envs"], p["envs_per_device"]) for p in series["points"]] == [
        (1, 8, 8),
        (2, 16, 8),
    ]
    for point in series["points"]:
        assert point["sps"] > 0 and point["compile_seconds"] > 0 and point["finite_loss"]
        assert point["env_steps"] == point["updates"] * point["num_envs"] * point["num_steps"]
    assert series["points"][0]["speedup"] == 1.0
    assert "8 per device" in result.stdout and "steps/s" in result.stdout
    assert (tmp_path / "scaling.png").read_bytes().startswith(b"\x89PNG")
