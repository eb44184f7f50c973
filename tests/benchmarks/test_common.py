"""Benchmark helpers: timing, the final-return window, JSON, tables, the hang watchdog, flags."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import common, throughput

REPO = Path(__file__).resolve().parents[2]


def test_measure_compiles_apart_and_times_each_repeat():
    timing, output, program = common.measure(lambda x: x * 2, jnp.arange(3.0), repeats=4)
    assert len(timing.run_seconds) == 4 and timing.median_seconds > 0
    assert timing.compile_seconds > 0 and not timing.compile_reused
    np.testing.assert_allclose(output, [0.0, 2.0, 4.0])
    again, _, _ = common.measure(None, jnp.arange(3.0), repeats=1, compiled=(program, 1.5), reused=True)
    assert again.compile_seconds == 1.5 and again.compile_reused


def test_compile_many_returns_programs_and_errors_in_order():
    def broken(x):
        raise ValueError("no")

    results = common.compile_many([(lambda x: x + 1, (jnp.ones(2),)), (broken, (jnp.ones(2),))], workers=2)
    program, seconds = results[0]
    assert seconds > 0
    np.testing.assert_allclose(program(jnp.ones(2)), [2.0, 2.0])
    assert isinstance(results[1], ValueError)


def test_final_return_weights_the_last_updates_by_episodes():
    returns = np.array([1.0] * 98 + [10.0, 20.0])
    counts = np.array([5] * 98 + [1, 3])
    assert throughput.final_return(returns, counts) == pytest.approx((10 * 1 + 20 * 3) / 4)
    assert math.isnan(throughput.final_return(np.full(10, np.nan), np.zeros(10)))
    seeds = np.stack([returns, returns * 2])  # [N, U]: pooled over seeds
    assert throughput.final_return(seeds, np.stack([counts, counts])) == pytest.approx(1.5 * 70 / 4)


def test_json_has_no_nan_and_plain_types(tmp_path):
    path = common.write_json(
        tmp_path / "r.json", {"a": math.nan, "b": np.float32(1.5), "c": (1, np.int64(2))}
    )
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5, "c": [1, 2]}


def test_table_aligns_columns():
    text = common.format_table(["name", "sps"], [["CartPole", "1.2M"], ["x", "10"]])
    lines = text.splitlines()
    assert lines[0].startswith("name") and len({len(line) for line in lines}) == 1


def test_cartpole_runs_follow_purejaxrl():
    assert throughput.cartpole_run(16384) == throughput.PPORun(16384, 100_000_000, 8)
    assert throughput.cartpole_run(4) == throughput.PPORun(4, 500_000, 4)
    assert throughput.cartpole_run(64, quick=True).total_timesteps == 64 * 128 * 8


def test_bad_flags_exit_with_usage_error():
    with pytest.raises(SystemExit) as error:
        throughput.parse_args(["--only", "ppo,bogus"])
    assert error.value.code == 2


def test_watchdog_reports_a_hang_and_exits_3():
    script = textwrap.dedent(
        """
        import time
        from benchmarks.common import Watchdog
        saved = []
        with Watchdog(0.5, on_hang=lambda stage: print("saved", stage, flush=True)).stage("sleeping"):
            time.sleep(30)
        """
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == common.EXIT_HANG
    assert "sleeping gave no result within 0.5s" in result.stderr
    assert "saved sleeping" in result.stdout
