"""``python -m jaxrl.train``: train PPO from the command line into a run directory.

The run directory holds ``config.yaml`` (resolved config), ``train.log``
(everything printed), ``metrics.jsonl``, ``checkpoints/`` and
``learning_curves.png``. Exit codes: 0 done, 130 interrupted cleanly (saved),
2 bad usage or config, 1 other error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import difflib
import io
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from jaxrl.config import (
    ConfigError,
    PPOConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    field_names,
    preset,
    resume_differences,
    validate_run,
)
from jaxrl.loop import EXIT_ERROR, EXIT_USAGE

# -- command line --------------------------------------------------------------------


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _check_flags(argv: list[str]) -> None:
    """Reject unknown flags with one line and the closest valid one."""
    valid = {"--" + name.replace("_", "-") for name in field_names()}
    valid |= {"--no-" + name[2:] for name in valid} | {"--help", "-h"}
    for arg in argv:
        if not arg.startswith("-") or re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", arg):
            continue
        flag = arg.split("=", 1)[0]
        if flag not in valid:
            close = difflib.get_close_matches(flag, sorted(valid), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; see --help"
            raise ConfigError(f"unknown flag {flag}{hint}")


def _scientific_int_registry():
    """tyro rule: integers also accept scientific notation ('1e6', '2.5e5')."""
    import tyro

    registry = tyro.constructors.ConstructorRegistry()

    def parse(args: list[str]) -> int:
        text = args[0]
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not an integer") from None
            if not value.is_integer():
                raise ValueError(f"{text!r} is not a whole number") from None
            return int(value)

    @registry.primitive_rule
    def _int_rule(type_info):
        if type_info.type is not int:
            return None
        return tyro.constructors.PrimitiveConstructorSpec(
            nargs=1, metavar="INT", instance_from_str=parse,
            is_instance=lambda x: isinstance(x, int) and not isinstance(x, bool), str_from_instance=lambda x: [str(x)],
        )

    return registry


def _tyro_error_line(text: str) -> str:
    """The essential line of tyro's boxed error message."""
    lines = [re.sub(r"[│╭╮╰╯─]+", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("For full helptext")]
    for line in lines:
        if "Error parsing" in line or "invalid" in line.lower() or "Unrecognized" in line:
            return line
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "invalid arguments")


def _load_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"--config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"--config {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a mapping of flag names to values")
    return data


def parse_args(argv: list[str]) -> TrainConfig:
    """Defaults <- env preset <- saved config (resume) <- --config YAML <- flags."""
    import tyro

    _check_flags(argv)
    argv = list(argv)
    resume = _flag_value(argv, "--resume")
    if "--resume" in argv and resume is None:  # bare --resume: use --run-dir
        run_dir = _flag_value(argv, "--run-dir")
        if run_dir is None:
            raise ConfigError("--resume needs a run directory: --resume RUN_DIR, or --resume with --run-dir RUN_DIR")
        argv[argv.index("--resume")] = f"--resume={run_dir}"
        resume = run_dir
    if resume is not None:
        saved = Path(resume) / "config.yaml"
        if not saved.exists():
            raise ConfigError(f"--resume {resume}: no run there ({saved} is missing)")
        base = config_from_dict(_load_yaml(str(saved)), source=str(saved))
    else:
        env = _flag_value(argv, "--env") or PPOConfig.env
        base = TrainConfig(ppo=preset(env))
    yaml_path = _flag_value(argv, "--config")
    if yaml_path is not None:
        data = _load_yaml(yaml_path)
        if resume is None and "env" in {k.replace("-", "_") for k in data} and _flag_value(argv, "--env") is None:
            base = TrainConfig(ppo=preset(data.get("env")))
        base = config_from_dict(data, base, source=yaml_path)

    stderr = io.StringIO()
    try:
        with _scientific_int_registry(), contextlib.redirect_stderr(stderr):
            config = tyro.cli(
                TrainConfig, args=argv, default=base, prog="python -m jaxrl.train",
                description="Train PPO. Flags default to the env's preset (see jaxrl/config.py).",
                config=(tyro.conf.OmitArgPrefixes,),
            )
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        raise ConfigError(_tyro_error_line(stderr.getvalue())) from None
    if resume is not None:
        config = dataclasses.replace(config, run_dir=resume)
    return config


# -- run directory ---------------------------------------------------------------------


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


def default_run_dir(config: TrainConfig) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.ppo.env)
    return Path("runs") / f"{name}-ppo-{stamp}"


def truncate_metrics(path: Path, last_update: int) -> int:
    """Drop records after ``last_update`` (a resume from an older checkpoint redoes them); returns how many.

    Rewrites the file atomically (temporary file, then rename).
    """
    import json
    import os

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


def save_config(config: TrainConfig, run_dir: Path) -> None:
    import yaml

    (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def load_run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run directory ({path.name} is missing)")
    return config_from_dict(_load_yaml(str(path)), source=str(path))


# -- building and restoring ------------------------------------------------------------


def init_state(algo, config: TrainConfig):
    import jax

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
    import jax

    from jaxrl import ppo, sharding
    from jaxrl.checkpoint import Checkpointer

    run_dir, step = _split_checkpoint_path(Path(path))
    config = config or load_run_config(run_dir)
    algo = ppo.make(config.ppo)
    mesh = mesh if mesh is not None else sharding.make_mesh(1)
    abstract = sharding.abstract_state(jax.eval_shape(lambda: init_state(algo, config)), mesh, config.num_seeds)
    directory = run_dir / "checkpoints"
    if step is not None and Path(path).parent.name == "best":
        directory = directory / "best"
    checkpointer = Checkpointer(directory, max_to_keep=config.keep_checkpoints)
    try:
        state, meta, step = checkpointer.restore(abstract, step, report=report)
        extra = checkpointer.restore_extra(step)
    finally:
        checkpointer.close()
    if extra is not None:
        meta["callback_arrays"] = extra  # in memory only: callbacks' saved arrays (opponent pool)
    return algo, state, meta


# -- main ----------------------------------------------------------------------------------


def _summary(config: TrainConfig, algo, run_dir: Path, start_update: int, mesh) -> str:
    import jax

    from jaxrl import sharding

    cfg = config.ppo
    kinds = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in mesh.devices.flat}))
    env = algo.env
    lines = [
        f"jaxrl: PPO on {cfg.env} (v{env.version}), run dir {run_dir}",
        f"devices: {sharding.describe(mesh)} x {kinds}, {cfg.num_envs // mesh.size} envs each; jax {jax.__version__}",
        f"observation {env.observation_space(algo.env_params).shape}, actions {env.action_space(algo.env_params)}",
        f"batch: {cfg.num_envs} envs x {cfg.num_steps} steps = {cfg.batch_size} per update, "
        f"{cfg.num_minibatches} minibatches of {cfg.minibatch_size}, {cfg.update_epochs} epochs; seeds {config.num_seeds}",
        f"updates: {cfg.num_updates} ({cfg.num_updates * cfg.batch_size} env steps per seed"
        + (f"; {cfg.total_timesteps - cfg.num_updates * cfg.batch_size} steps of --total-timesteps short of a whole update are not run"
           if cfg.total_timesteps % cfg.batch_size else "")
        + ")" + (f", resuming after update {start_update}" if start_update else ""),
    ]
    return "\n".join(lines)


def run(config: TrainConfig, stdout: TextIO) -> int:
    """Run training for a parsed config; returns the exit code."""
    import jax

    from jaxrl import ppo, sharding
    from jaxrl.callbacks import CheckpointCallback, EarlyStopCallback, EvaluationCallback, GameEvaluationCallback
    from jaxrl.checkpoint import Checkpointer
    from jaxrl.display import Display
    from jaxrl.loggers import JsonlLogger, LoggerGroup, TensorBoardLogger, WandbLogger
    from jaxrl.loop import Trainer, TrainingComponents

    # Several processes (hosts) run this same function; only process 0 prints and writes run-directory
    # files, every process takes part in the computation and in orbax's checkpoint writes.
    validate_run(config)  # first what does not depend on the devices
    sharding.initialize_distributed(config.coordinator_address, config.num_processes, config.process_id)
    cfg = config.ppo
    mesh = sharding.make_mesh(config.devices or sharding.default_device_count(cfg.num_envs, cfg.minibatch_size))
    validate_run(config, mesh.size)
    main_process = sharding.is_main_process()
    resuming = config.resume is not None
    run_dir = Path(config.run_dir) if config.run_dir else Path(sharding.broadcast_text(str(default_run_dir(config))))
    meta: dict[str, Any] = {}
    if resuming:
        saved = load_run_config(run_dir)
        diffs = resume_differences(saved, config)
        if diffs:
            raise ConfigError(f"--resume {run_dir}: config differs from the checkpoint's in " + "; ".join(diffs))
        restore_messages: list[str] = []  # reported once train.log is open
        algo, state, meta = restore_run(run_dir, config, report=restore_messages.append, mesh=mesh)
    else:
        restore_messages = []
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(f"run directory {run_dir} already exists and is not empty; pick another --run-dir or --resume it")
        algo = ppo.make(config.ppo)
        state = None
    sharding.sync("jaxrl-run-dir-checked")  # every process has looked before process 0 writes
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        log_file: TextIO | None = open(run_dir / "train.log", "a", buffering=1)
        tee: TextIO = Tee(stdout, log_file)
        report = lambda msg: print(msg, file=tee, flush=True)  # noqa: E731
    else:
        log_file, tee, report = None, stdout, lambda msg: None
    try:
        if main_process:
            # The process layout belongs to this launch, not to the run: a resume may use another.
            save_config(dataclasses.replace(config, coordinator_address=None, num_processes=None, process_id=None), run_dir)
        sharding.sync("jaxrl-run-dir-ready")
        if state is None:
            state = sharding.shard_state(init_state(algo, config), mesh, config.num_seeds)
        start_update = int(jax.device_get(state.update).max())
        for message in restore_messages:
            report(message)
        if resuming and main_process:
            dropped = truncate_metrics(run_dir / "metrics.jsonl", start_update)
            if dropped:
                report(f"resuming from update {start_update}: dropped {dropped} metric records logged after it")
        report(_summary(config, algo, run_dir, start_update, mesh))

        loggers: list = [JsonlLogger(run_dir / "metrics.jsonl")] if main_process else []
        if config.tensorboard and main_process:
            loggers.append(TensorBoardLogger(run_dir / "tensorboard"))
        if config.wandb != "disabled" and main_process:
            wandb_id = meta.get("wandb_id")
            wandb_logger = WandbLogger(config.wandb, config.wandb_project, run_dir, config_to_dict(config), run_dir.name, wandb_id)
            meta["wandb_id"] = wandb_logger.run_id
            loggers.append(wandb_logger)
        callbacks: list = []
        if config.eval_every > 0 and algo.num_players > 1:
            callbacks.append(GameEvaluationCallback(
                config.eval_every, config.eval_games, config.minimax_depth, config.opponent_pool_size,
                elo_k=config.elo_k, seed=config.seed,
            ))
        elif config.eval_every > 0:
            callbacks.append(EvaluationCallback(config.eval_every, config.eval_episodes, config.seed))
        if config.target_return is not None:
            callbacks.append(EarlyStopCallback(config.target_return))
        best_metric = "eval/elo" if algo.num_players > 1 else "eval/episode_return"
        best = meta.get("best_eval") or {}
        callbacks.append(CheckpointCallback(
            config.checkpoint_every, best=best.get("value") if best.get("metric") == best_metric else None,
            metric=best_metric,
        ))
        for callback in callbacks:  # a resumed run continues the callbacks' own state
            saved = meta.get("callbacks", {}).get(callback.checkpoint_name or "")
            if saved is not None:
                callback.restore_checkpoint_state(saved, meta.get("callback_arrays", {}).get(callback.checkpoint_name))
        live = stdout.isatty()
        components = TrainingComponents(
            algo=algo,
            loggers=LoggerGroup(loggers, report),
            callbacks=callbacks,
            checkpointer=Checkpointer(run_dir / "checkpoints", max_to_keep=config.keep_checkpoints),
            display=Display(algo.config.num_updates * algo.config.batch_size, config.display_interval,
                            stream=stdout if live else tee, live=live) if main_process else None,
            num_seeds=config.num_seeds,
            updates_per_epoch=config.updates_per_epoch,
            # Carried over a resume: the W&B run to continue and the best evaluation so far.
            metadata={"config": config_to_dict(config), **{k: meta[k] for k in ("wandb_id", "best_eval") if k in meta}},
            log=log_file if live else None,
            report=report,
            mesh=mesh,
        )
        trainer = Trainer(components, state, time_offset=float(meta.get("wall_time", 0.0)))
        code = trainer.run()
        components.loggers.close()
        components.checkpointer.close()
        if config.plot and main_process:
            try:
                from jaxrl.plot import plot_runs

                plot_runs([run_dir], run_dir / "learning_curves.png")
            except Exception as error:  # noqa: BLE001 - a plot must not fail the run
                report(f"warning: could not write the learning-curve plot ({type(error).__name__}: {error})")
        report(f"finished in {trainer.elapsed():.1f}s (compile {trainer.compile_seconds:.1f}s); run dir {run_dir}")
        return code
    finally:
        if log_file is not None:
            log_file.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from jaxrl.checkpoint import CheckpointError

    try:
        config = parse_args(argv)
        return run(config, sys.stdout)
    except (ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - last resort: one line, traceback only with JAXRL_DEBUG
        import os
        import traceback

        if os.environ.get("JAXRL_DEBUG"):
            traceback.print_exc()
        print(f"error: {type(error).__name__}: {error} (set JAXRL_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

