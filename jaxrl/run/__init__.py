"""The run layer: the host loop and what it composes around any algorithm.

`build_trainer` wires an algorithm (through `jaxrl.algorithm.Algorithm`) with
loggers, callbacks, checkpoints and the display into a `Trainer`; the run
directory's files are read and written by `jaxrl.run.rundir`.
"""

from jaxrl.run.build import build_trainer, standard_callbacks
from jaxrl.run.callbacks import (
    Callback,
    CheckpointCallback,
    EarlyStopCallback,
    EvaluationCallback,
    GameEvaluationCallback,
)
from jaxrl.run.checkpoint import Checkpointer, CheckpointError
from jaxrl.run.display import Display
from jaxrl.run.loggers import JsonlLogger, LoggerGroup, TensorBoardLogger, WandbLogger, read_jsonl
from jaxrl.run.loop import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Trainer, TrainingComponents
from jaxrl.run.policy import load_policy
from jaxrl.run.rundir import init_state, load_run_config, restore_run

__all__ = [
    "Callback", "CheckpointCallback", "CheckpointError", "Checkpointer", "Display", "EXIT_ERROR",
    "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EarlyStopCallback", "EvaluationCallback",
    "GameEvaluationCallback", "JsonlLogger", "LoggerGroup", "TensorBoardLogger", "Trainer", "TrainingComponents",
    "WandbLogger", "build_trainer", "init_state", "load_policy", "load_run_config", "read_jsonl", "restore_run",
    "standard_callbacks",
]
