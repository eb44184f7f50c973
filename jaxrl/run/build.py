"""`build_trainer`: one place that wires an algorithm with loggers, callbacks, checkpoints and display.

The command line, the benchmarks and the tests all build their host loop
here, from a `TrainConfig`; what differs between them is only what they pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from jaxrl import sharding
from jaxrl.algorithm import Algorithm, State
from jaxrl.config import TrainConfig, config_to_dict
from jaxrl.errors import ConfigError
from jaxrl.games.opponents import check_minimax
from jaxrl.registry import make_algorithm
from jaxrl.run.callbacks import (
    Callback,
    CheckpointCallback,
    DivergenceCallback,
    EarlyStopCallback,
    EvaluationCallback,
    GameEvaluationCallback,
)
from jaxrl.run.checkpoint import Checkpointer
from jaxrl.run.display import Display
from jaxrl.run.loggers import JsonlLogger, LoggerGroup, TensorBoardLogger, WandbLogger
from jaxrl.run.loop import Trainer, TrainingComponents
from jaxrl.run.rundir import init_state, save_config


def check_evaluation(config: TrainConfig, algo: Algorithm) -> None:
    """ConfigError (one line) when the evaluation the config asks for cannot run on this env."""
    if config.eval_every > 0 and algo.env.num_players > 1:
        try:  # both seats are played at once: twice the games
            check_minimax(*algo.eval_env(), config.minimax_depth, 2 * config.eval_games)
        except ValueError as error:
            raise ConfigError(str(error)) from None


def standard_callbacks(config: TrainConfig, algo: Algorithm, meta: dict[str, Any], checkpoints: bool) -> list[Callback]:
    """What the config asks for: evaluation (games: opponents, pool and Elo), early stop, divergence
    warnings, checkpoints."""
    callbacks: list[Callback] = []
    check_evaluation(config, algo)
    if config.eval_every > 0 and algo.env.num_players > 1:
        callbacks.append(GameEvaluationCallback(
            config.eval_every, config.eval_games, config.minimax_depth, config.opponent_pool_size,
            elo_k=config.elo_k, seed=config.seed,
        ))
    elif config.eval_every > 0:
        callbacks.append(EvaluationCallback(config.eval_every, config.eval_episodes, config.seed))
    if config.target_return is not None:
        callbacks.append(EarlyStopCallback(config.target_return))
    losses = tuple(name for name in algo.checked_metrics if name.endswith("loss"))
    callbacks.append(DivergenceCallback(losses, stop=config.stop_on_divergence))
    if checkpoints:
        # The best checkpoint follows what the env is about: Elo in games, the score in a puzzle.
        scored = algo.env.episode_metrics
        metric = ("eval/elo" if algo.env.num_players > 1
                  else f"eval/episode_{scored[0]}" if scored else "eval/episode_return")
        best = meta.get("best_eval") or {}
        callbacks.append(CheckpointCallback(
            config.checkpoint_every, best=best.get("value") if best.get("metric") == metric else None, metric=metric,
        ))
    return callbacks


def build_trainer(
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    algo: Algorithm | None = None,
    state: State | None = None,
    meta: dict[str, Any] | None = None,
    mesh: Any = None,
    loggers: Sequence[Any] = (),
    callbacks: Sequence[Callback] = (),
    stdout: TextIO | None = None,
    log: TextIO | None = None,
    report: Any = print,
) -> Trainer:
    """The host loop for ``config``, ready to `Trainer.run`.

    Args:
        run_dir: where ``config.yaml``, the JSONL metrics, TensorBoard files and checkpoints go
            (made if missing); None trains in memory (no files, no checkpoints).
        algo: the algorithm, when already built (default: from ``config.algo``).
        state: the state to start from (default: a fresh one from ``config.seed``), e.g. a restored one.
        meta: the metadata of the checkpoint ``state`` came from: callbacks, the W&B run, the best
            evaluation and the wall time continue from it.
        mesh: the device mesh (default: all devices the env batch can be split over).
        loggers: more loggers (objects with ``log(record)`` and ``close()``), after the standard ones.
        callbacks: more callbacks, run before the standard ones (evaluation, early stop, checkpoints).
        stdout: where the progress display draws (a live bar when it is a terminal); None: no display.
        log: train.log, when stdout is a terminal (the display then copies its lines there).
        report: how the loop prints one-line messages.
    """
    meta = dict(meta or {})
    algo = algo if algo is not None else make_algorithm(config.algo, config.algo_config)
    if mesh is None:
        cfg = config.algo_config
        mesh = sharding.make_mesh(config.devices or sharding.default_device_count(*cfg.device_split_sizes))
    main_process = sharding.is_main_process()
    run_dir = Path(run_dir) if run_dir is not None else None
    writes = run_dir is not None and main_process
    sinks: list[Any] = []
    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)
        # The process layout belongs to this launch, not to the run: a resume may use another.
        # The algorithm's own config, where choices left to the device ('auto' torsos) are made.
        launch_free = dataclasses.replace(
            config.with_algo(config.algo, algo.config), coordinator_address=None, num_processes=None, process_id=None
        )
        save_config(launch_free, run_dir, backend=algo.backend.to_dict())
        sinks.append(JsonlLogger(run_dir / "metrics.jsonl"))
        if config.tensorboard:
            sinks.append(TensorBoardLogger(run_dir / "tensorboard"))
    if config.wandb != "disabled" and main_process:
        directory = run_dir if run_dir is not None else Path(".")
        name = run_dir.name if run_dir is not None else None
        try:
            wandb_logger = WandbLogger(
                config.wandb, config.wandb_project, directory, config_to_dict(config), name, meta.get("wandb_id")
            )
        except Exception as error:  # noqa: BLE001 - an optional sink: the run goes on without it
            cause = str(error).splitlines()[0] if str(error) else type(error).__name__
            report(f"warning: Weights & Biases did not start ({cause}); training without it (--wandb offline needs no key)")
        else:
            meta["wandb_id"] = wandb_logger.run_id
            sinks.append(wandb_logger)
    sinks.extend(loggers if main_process else ())

    all_callbacks = list(callbacks) + standard_callbacks(config, algo, meta, checkpoints=run_dir is not None)
    for callback in all_callbacks:  # a resumed run continues the callbacks' own state
        saved = meta.get("callbacks", {}).get(callback.checkpoint_name or "")
        if saved is not None:
            callback.restore_checkpoint_state(saved, meta.get("callback_arrays", {}).get(callback.checkpoint_name))

    display = None
    if stdout is not None and main_process:
        live = stdout.isatty()
        total = algo.num_updates * algo.steps_per_update
        display = Display(total, config.display_interval, stream=stdout, live=live, env=algo.env)
    if state is None:
        state = sharding.shard_state(init_state(algo, config), mesh, config.num_seeds, algo.env_batch_fields)
    components = TrainingComponents(
        algo=algo,
        loggers=LoggerGroup(sinks, report),
        callbacks=all_callbacks,
        checkpointer=Checkpointer(run_dir / "checkpoints", max_to_keep=config.keep_checkpoints)
        if run_dir is not None else None,
        display=display,
        num_seeds=config.num_seeds,
        updates_per_epoch=config.updates_per_epoch,
        epoch_seconds=config.epoch_seconds,
        # Carried over a resume: the W&B run to continue and the best evaluation so far.
        metadata={
            "config": config_to_dict(config), "backend": algo.backend.to_dict(),
            **{k: meta[k] for k in ("wandb_id", "best_eval") if k in meta},
        },
        log=log,
        report=report,
        mesh=mesh,
    )
    return Trainer(components, state, time_offset=float(meta.get("wall_time", 0.0)))


__all__ = ["build_trainer", "check_evaluation", "standard_callbacks"]
