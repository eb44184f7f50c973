"""The run directory on disk: config file, train.log, metrics file, and restoring a run's state.

A run directory holds ``config.yaml`` (the resolved config, reused by a
resume), ``train.log`` (everything printed), ``metrics.jsonl`` and
``checkpoints/`` (orbax; ``best/`` inside holds the best-evaluated state).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
from pathlib import Path
from typing import Any, TextIO

import jax

from jaxrl import sharding
from jaxrl.config import ConfigError, TrainConfig, config_from_dict, config_to_dict
from jaxrl.registry import make_algorithm
from jaxrl.run.checkpoint import Checkpointer, NoCheckpointError, committed_steps


class Tee(io.TextIOBase):
    """Writes to the terminal stream and to train.log."""

    def __init__(self, primary: TextIO, log: TextIO):
        self.primary, self.log = primary, log

    def write(self, text: str) -> int:
        self.primary.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        self.primary.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.primary.isatty()


def load_yaml(path: str | Path, what: str = "--config") -> dict[str, Any]:
    """A YAML mapping from ``path``; `ConfigError` (one line) when missing, malformed or not a mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of flag names to values")
    return data


def default_run_dir(config: TrainConfig) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.algo_config.env)
    return Path("runs") / f"{name}-{config.algo}-{stamp}"


def truncate_metrics(path: Path, last_update: int) -> int:
    """Drop records after ``last_update`` (a resume from an older checkpoint redoes them); returns how many.

    Rewrites the file atomically (temporary file, then rename).
    """
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            late = json.loads(line).get("update", 0) > last_update
        except json.JSONDecodeError:
            late = True  # a line torn by a kill
        if late:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
    return dropped


def save_config(config: TrainConfig, run_dir: Path, backend: dict[str, Any] | None = None) -> None:
    """``config.yaml``: the resolved config, and (for the reader) the device choices the run made."""
    import yaml

    data = config_to_dict(config)
    if backend is not None:
        data["backend"] = backend
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def load_run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run directory ({path.name} is missing)")
    return config_from_dict(load_yaml(path, "run config"), source=str(path))


def init_state(algo, config: TrainConfig):
    """A fresh training state: one seed's, or ``num_seeds`` stacked on a leading axis (seed i from key split i)."""
    key = jax.random.PRNGKey(config.seed)
    if config.num_seeds == 1:
        return algo.init(key)
    return jax.vmap(algo.init)(jax.random.split(key, config.num_seeds))


def _split_checkpoint_path(path: Path) -> tuple[Path, int | None]:
    """A run dir, its checkpoints/ dir, or checkpoints/<step> -> (run_dir, step or None)."""
    path = Path(path)
    if path.name.isdigit() and path.parent.name in ("checkpoints", "best"):
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent.parent.parent
        return run_dir, int(path.name)
    if path.name == "checkpoints":
        return path.parent, None
    return path, None


def restore_run(path: str | Path, config: TrainConfig | None = None, report=print, mesh=None):
    """``(algo, state, meta)`` from a run directory or checkpoint directory.

    ``meta`` is the checkpoint's metadata; ``meta["callback_arrays"]``, when
    present, holds the arrays callbacks saved (see `Callback.checkpoint_state`).

    The state is restored onto ``mesh`` (default: one device), whatever the
    device count that saved it: env batch split over the mesh, the rest replicated.
    """
    run_dir, step = _split_checkpoint_path(Path(path))
    config = config or load_run_config(run_dir)
    algo = make_algorithm(config.algo, config.algo_config)
    mesh = mesh if mesh is not None else sharding.make_mesh(1)
    abstract = sharding.abstract_state(
        jax.eval_shape(lambda: init_state(algo, config)), mesh, config.num_seeds, algo.env_batch_fields
    )
    directory = run_dir / "checkpoints"
    if step is not None and Path(path).parent.name == "best":
        directory = directory / "best"
    if step is None and not committed_steps(directory):
        raise NoCheckpointError(f"no checkpoint found in {directory}")
    checkpointer = Checkpointer(directory, max_to_keep=config.keep_checkpoints)
    try:
        state, meta, step = checkpointer.restore(abstract, step, report=report)
        arrays = checkpointer.restore_callback_arrays(step)
    finally:
        checkpointer.close()
    meta["checkpoint"] = str(directory / str(step))
    if arrays is not None:
        meta["callback_arrays"] = arrays  # in memory only: callbacks' saved arrays (opponent pool)
    return algo, state, meta


__all__ = [
    "Tee", "default_run_dir", "init_state", "load_run_config", "load_yaml", "restore_run", "save_config",
    "truncate_metrics",
]
