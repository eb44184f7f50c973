"""Metric loggers behind one small interface: JSONL (always), TensorBoard, Weights & Biases.

A record is a flat dict of JSON-able scalars that always carries ``update``,
``env_steps``, ``time`` (seconds since the run started) and ``sps``.
Optional libraries are imported only when their logger is created. An
optional logger that raises is reported once and disabled by `LoggerGroup`;
training goes on. The JSONL file is the run's own record: a failure to write it
raises `RunDataError`, which stops the run.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Protocol

from jaxrl.errors import RunDataError, storage_cause


class Logger(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


class JsonlLogger:
    """Appends one JSON object per record to ``path`` (NaN written as null); essential: see `RunDataError`."""

    essential = True

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", buffering=1)

    def log(self, record: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps({k: _jsonable(v) for k, v in record.items()}) + "\n")
            self._file.flush()
        except OSError as error:
            raise RunDataError(f"cannot write {self.path}: {storage_cause(error)}") from error

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as error:
            raise RunDataError(f"cannot write {self.path}: {storage_cause(error)}") from error


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a metrics.jsonl file (a torn last line from a kill is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


_COUNTERS = ("update", "env_steps", "epoch")


class TensorBoardLogger:
    """Scalars to TensorBoard event files in ``log_dir``, x-axis = env_steps."""

    def __init__(self, log_dir: str | Path):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(str(log_dir))

    def log(self, record: dict[str, Any]) -> None:
        step = int(record["env_steps"])
        for key, value in record.items():
            if key in _COUNTERS or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._writer.close()


class WandbLogger:
    """Weights & Biases: mode 'online' or 'offline' (no network needed); x-axis = env_steps."""

    def __init__(self, mode: str, project: str, run_dir: str | Path, config: dict[str, Any], name: str, resume_id: str | None = None):
        import wandb

        self._wandb = wandb
        self._run = wandb.init(
            project=project, mode=mode, dir=str(run_dir), config=config, name=name,
            id=resume_id, resume="allow" if resume_id else None, reinit="finish_previous",
        )
        self.run_id = self._run.id

    def log(self, record: dict[str, Any]) -> None:
        data = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._run.log(data, step=int(record["env_steps"]))

    def close(self) -> None:
        self._run.finish()


class LoggerGroup:
    """Fans records out to loggers; a failing optional logger is reported once and dropped."""

    def __init__(self, loggers: list[Logger], report=None):
        self.loggers = list(loggers)
        self._report = report or (lambda msg: print(msg, file=sys.stderr))

    def log(self, record: dict[str, Any]) -> None:
        for logger in list(self.loggers):
            try:
                logger.log(record)
            except RunDataError:
                raise
            except Exception as error:  # noqa: BLE001 - an optional logger must never stop training
                self._disable(logger, error)

    def _disable(self, logger: Logger, error: Exception) -> None:
        self._report(f"warning: logger {type(logger).__name__} failed ({type(error).__name__}: {error}); disabled")
        self.loggers.remove(logger)

    def close(self) -> None:
        failure = None
        for logger in list(self.loggers):
            try:
                logger.close()
            except RunDataError as error:
                failure = error
            except Exception as error:  # noqa: BLE001
                self._disable(logger, error)
        if failure is not None:
            raise failure
