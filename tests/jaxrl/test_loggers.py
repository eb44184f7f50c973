"""Loggers in-process: JSONL format, torn lines, LoggerGroup isolation, TensorBoard scalars."""

from __future__ import annotations

import json
import math

import pytest

from jaxrl.run.loggers import JsonlLogger, LoggerGroup, TensorBoardLogger, read_jsonl
from tests.helpers.tfevents import read_scalars


def _record(update: int, **extra):
    return {"update": update, "env_steps": update * 128, "time": 0.5 * update, "sps": 1000.0, **extra}


def test_jsonl_appends_and_writes_nonfinite_as_valid_json(tmp_path):
    path = tmp_path / "sub" / "metrics.jsonl"
    logger = JsonlLogger(path)
    logger.log(_record(1, episode_return=float("nan"), value_loss=float("inf"), entropy=-float("inf")))
    logger.close()
    logger = JsonlLogger(path)  # a resumed run appends
    logger.log(_record(2, episode_return=3.5))
    logger.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])  # strict JSON: no NaN/Infinity tokens
    assert "NaN" not in lines[0] and "Infinity" not in lines[0]
    assert first["episode_return"] is None
    assert first["value_loss"] > 1e300 and first["entropy"] < -1e300
    assert json.loads(lines[1])["episode_return"] == 3.5


def test_jsonl_lines_are_flushed_as_they_are_logged(tmp_path):
    path = tmp_path / "metrics.jsonl"
    logger = JsonlLogger(path)
    logger.log(_record(1))
    # Another process (a test, `jaxrl.plot`) can read the record before close.
    assert read_jsonl(path) == [_record(1)]
    logger.close()


def test_read_jsonl_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(_record(1)) + "\n" + json.dumps(_record(2)) + "\n" + '{"update": 3, "env_st')
    assert [r["update"] for r in read_jsonl(path)] == [1, 2]


class _Boom:
    def __init__(self, fail_on_close=False):
        self.calls, self.fail_on_close = 0, fail_on_close

    def log(self, record):
        self.calls += 1
        raise ValueError("boom")

    def close(self):
        if self.fail_on_close:
            raise ValueError("boom at close")


class _Keep:
    def __init__(self):
        self.records, self.closed = [], False

    def log(self, record):
        self.records.append(record)

    def close(self):
        self.closed = True


def test_logger_group_reports_a_failure_once_and_keeps_the_others():
    reports = []
    boom, keep = _Boom(), _Keep()
    group = LoggerGroup([boom, keep], report=reports.append)
    for update in range(1, 6):
        group.log(_record(update))
    group.close()
    assert boom.calls == 1
    assert [r["update"] for r in keep.records] == [1, 2, 3, 4, 5]
    assert keep.closed
    assert reports == ["warning: logger _Boom failed (ValueError: boom); disabled"]


def test_logger_group_survives_a_failing_close():
    reports = []

    class FailsOnlyAtClose(_Keep):
        def close(self):
            raise OSError("cannot flush")

    keep = _Keep()
    group = LoggerGroup([FailsOnlyAtClose(), keep], report=reports.append)
    group.log(_record(1))
    group.close()
    assert keep.closed
    assert len(reports) == 1 and "FailsOnlyAtClose failed (OSError: cannot flush)" in reports[0]


def test_tensorboard_logger_writes_finite_scalars_at_env_steps(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb")
    logger.log(_record(1, total_loss=0.25, episode_return=float("nan"), flag=True, name="x"))
    logger.log(_record(2, total_loss=0.125, episode_return=12.0))
    logger.close()
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["total_loss"] == [(128, 0.25), (256, 0.125)]
    assert scalars["episode_return"] == [(256, 12.0)]  # NaN skipped
    assert scalars["time"] == [(128, 0.5), (256, 1.0)]
    assert not {"update", "env_steps", "flag", "name"} & set(scalars)
    assert all(math.isfinite(v) for values in scalars.values() for _, v in values)


def test_tfevents_reader_detects_a_torn_file(tmp_path):
    from tests.helpers.tfevents import read_events

    logger = TensorBoardLogger(tmp_path / "tb")
    logger.log(_record(1, total_loss=1.0))
    logger.close()
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    data = path.read_bytes()
    assert len(read_events(path)) >= 2
    path.write_bytes(data[:-3])
    with pytest.raises(ValueError, match="truncated|CRC"):
        read_events(path)
