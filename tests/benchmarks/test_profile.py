"""`python -m benchmarks.profile` on the CPU: it profiles each part and writes a kernel table."""

from __future__ import annotations

import json

import pytest

from benchmarks import profile

TINY = ["--num-envs", "8", "--num-steps", "16", "--num-minibatches", "2", "--updates", "2", "--repeats", "1"]


@pytest.mark.parametrize("part, seeds", [("update", "0"), ("rollout", "0"), ("minibatch", "2")])
def test_profile_writes_kernel_table(tmp_path, capsys, part, seeds):
    assert profile.main([*TINY, "--part", part, "--seeds", seeds, "--top", "5", "--out", str(tmp_path), "--hlo"]) == 0
    out = capsys.readouterr().out
    assert f"kernels per {part}:" in out and "us/call" in out
    stem = f"profile_{part}_8envs" + (f"_{seeds}seeds" if seeds != "0" else "")
    result = json.loads((tmp_path / f"{stem}.json").read_text())
    rows = result["kernels"]
    assert rows and all(r["us"] >= 0 and r["calls"] > 0 for r in rows)
    assert [r["us"] for r in rows] == sorted((r["us"] for r in rows), reverse=True)
    assert result["kernel_seconds_per_part"] == pytest.approx(sum(r["us"] for r in rows) / 1e6)
    assert result["wall_seconds_per_part"] > 0
    # Loop spans are not rows of their own on the CPU (their bodies are).
    assert not any(r["name"].startswith(("while", "ThunkExecutor")) for r in rows)
    assert "HloModule" in (tmp_path / f"{stem}.hlo.txt").read_text()


def test_profile_rejects_bad_sizes(capsys):
    with pytest.raises(SystemExit):
        profile.main(["--num-envs", "0"])
    assert "--num-envs must be at least 1" in capsys.readouterr().err
