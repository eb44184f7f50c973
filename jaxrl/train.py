"""``python -m jaxrl.train``: train from the command line into a run directory.

The run directory holds ``config.yaml`` (resolved config), ``train.log``
(everything printed), ``metrics.jsonl``, ``checkpoints/`` and
``learning_curves.png``. Exit codes: 0 done, 130 interrupted cleanly (saved),
2 bad usage or config, 1 other error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import io
import re
import sys
from pathlib import Path
from typing import Any, TextIO

import envs
from envs.registry import registered_names
from jaxrl import backend, sharding
from jaxrl.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    field_names,
    parse_int,
    preset_config,
    resume_differences,
    validate_run,
)
from jaxrl.errors import RunDataError, storage_cause
from jaxrl.plot import plot_runs
from jaxrl.registry import ALGORITHMS, algorithm_entry, make_algorithm
from jaxrl.run.build import build_trainer, check_evaluation
from jaxrl.run.checkpoint import CheckpointError, NoCheckpointError, quiet_stderr
from jaxrl.run.loop import EXIT_ERROR, EXIT_USAGE
from jaxrl.run.rundir import Tee, default_run_dir, load_run_config, load_yaml, restore_run, truncate_metrics

# -- command line --------------------------------------------------------------------


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _flags(algo: str) -> set[str]:
    valid = {"--" + name.replace("_", "-") for name in field_names(algo)}
    return valid | {"--no-" + name[2:] for name in valid} | {"--help", "-h", "--list-envs"}


# What other RL codebases (CleanRL, Stable-Baselines3) call our flags; an unknown flag that is one of
# these gets its name here in the error line.
FLAG_ALIASES = {
    "--learning-rate": "--lr", "--env-id": "--env", "--clip-coef": "--clip-eps", "--norm-adv": "--normalize-advantages",
    "--clip-vloss": "--clip-value-loss", "--n-envs": "--num-envs", "--n-steps": "--num-steps",
    "--n-epochs": "--update-epochs", "--track": "--wandb", "--exp-name": "--run-dir", "--env-name": "--env",
    "--timesteps": "--total-timesteps", "--n-timesteps": "--total-timesteps",
}


def _check_flags(argv: list[str], algo: str) -> None:
    """Reject unknown flags with one line and the closest valid one (or the algorithm that has it)."""
    valid = _flags(algo)
    for arg in argv:
        if not arg.startswith("-") or re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", arg):
            continue
        flag = arg.split("=", 1)[0]
        if flag not in valid and FLAG_ALIASES.get(flag) in valid:
            raise ConfigError(f"unknown flag {flag}; did you mean {FLAG_ALIASES[flag]}?")
        if flag not in valid:
            others = [name for name in ALGORITHMS if name != algo and flag in _flags(name)]
            if others:
                raise ConfigError(f"{flag} is a flag of --algo {others[0]}, not of --algo {algo}")
            close = difflib.get_close_matches(flag, sorted(valid), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else "; see --help"
            raise ConfigError(f"unknown flag {flag}{hint}")


_PARSERS: dict[str, type] = {}


def _parser_class(algo: str) -> type:
    """TrainConfig as tyro shows it for ``algo``: the other algorithms' configs hidden, so that the
    selected one's fields are the unprefixed flags (the field docstrings stay TrainConfig's)."""
    if algo not in _PARSERS:
        from typing import Annotated

        import tyro

        hidden = [
            (name, Annotated[type(getattr(TrainConfig(), name)), tyro.conf.Suppress],
             dataclasses.field(default=getattr(TrainConfig(), name)))
            for name in ALGORITHMS if name != algo
        ]
        _PARSERS[algo] = dataclasses.make_dataclass(f"TrainConfig_{algo}", hidden, bases=(TrainConfig,), frozen=True)
    return _PARSERS[algo]


def _scientific_int_registry():
    """tyro rule: integers also accept scientific notation ('1e6', '2.5e5')."""
    import tyro

    registry = tyro.constructors.ConstructorRegistry()

    def parse(args: list[str]) -> int:
        return parse_int(args[0])

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


def _split_env_kwargs(argv: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """``--env-kwargs NAME=VALUE ...`` taken out of ``argv`` (values read as YAML: 3, 0.5, true, text)."""
    import yaml

    rest, pairs, found, i = [], [], False, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--env-kwargs" or arg.startswith("--env-kwargs="):
            found = True
            if "=" in arg.split("--env-kwargs", 1)[1][:1]:
                pairs.append(arg.split("=", 1)[1])
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                pairs.append(argv[i])
                i += 1
            continue
        rest.append(arg)
        i += 1
    if not found:
        return rest, None
    kwargs = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0]:
            raise ConfigError(f"--env-kwargs takes NAME=VALUE pairs (e.g. --env-kwargs max_steps_in_episode=200), "
                              f"got {pair!r}")
        name, text = pair.split("=", 1)
        try:
            kwargs[name] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            kwargs[name] = text
    return rest, kwargs


def list_envs() -> str:
    """The registered environments, one per line, with what kind each is."""
    import jax

    lines = []
    for name in registered_names():
        env, params = envs.make(name)
        obs = env.observation_space(params).shape
        kind = ("two-player game" if env.num_players > 1
                else "puzzle" if jax.eval_shape(lambda k: env.action_mask(env.reset(k, params)[1], params),
                                                jax.random.PRNGKey(0)) is not None
                else "single-agent")
        lines.append(f"{name:<28} {kind:<16} observation {obs}, actions {env.action_space(params)}")
    lines.append("gymnax:<name>                any gymnax env (pip install gymnax)")
    lines.append("pgx:<id>                     any pgx game of one or two players (pip install -e \".[pgx]\")")
    lines.append("brax:<name>                  any Brax env: ant, halfcheetah, hopper, ... (pip install -e \".[brax]\")")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> TrainConfig:
    """Defaults <- env preset <- saved config (resume) <- --config YAML <- flags."""
    import tyro

    argv, env_kwargs = _split_env_kwargs(list(argv))

    algo = _flag_value(argv, "--algo")
    if algo is not None:
        algorithm_entry(algo)
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
        base = config_from_dict(load_yaml(str(saved)), source=str(saved))
        if algo is not None and algo != base.algo:
            raise ConfigError(f"--resume {resume}: the run trained --algo {base.algo}; it cannot continue as --algo {algo}")
    yaml_path = _flag_value(argv, "--config")
    data = load_yaml(yaml_path) if yaml_path is not None else {}
    data = {k.replace("-", "_"): v for k, v in data.items()}
    if resume is None:
        # The algorithm and env pick the preset that YAML values and flags then change.
        algo = algo or str(data.get("algo", "ppo"))
        env = _flag_value(argv, "--env") or data.get("env")
        base = preset_config(algo, None if env is None else str(env))
    if yaml_path is not None:
        base = config_from_dict({**data, "algo": base.algo}, base, source=yaml_path)
    _check_flags(argv, base.algo)

    stderr = io.StringIO()
    try:
        with _scientific_int_registry(), contextlib.redirect_stderr(stderr):
            parser = _parser_class(base.algo)
            entry = algorithm_entry(base.algo)
            parsed = tyro.cli(
                parser, args=argv, default=parser(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}),
                prog="python -m jaxrl.train",
                description=f"Train with {base.algo}: {entry.description}. Flags default to the env's preset "
                f"(jaxrl/{base.algo}/config.py); --algo picks the algorithm and its flags.",
                config=(tyro.conf.OmitArgPrefixes,),
            )
            config = TrainConfig(**{f.name: getattr(parsed, f.name) for f in dataclasses.fields(TrainConfig)})
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        raise ConfigError(_tyro_error_line(stderr.getvalue())) from None
    if resume is not None:
        config = dataclasses.replace(config, run_dir=resume)
    if env_kwargs is not None:
        merged = {**dict(config.algo_config.env_kwargs), **env_kwargs}
        config = config.with_algo(config.algo, config.algo_config.replace(env_kwargs=tuple(sorted(merged.items()))))
    return config


def _schedule_change(saved: TrainConfig, new: TrainConfig) -> str | None:
    """A warning when a resume changes the length of a learning-rate schedule that decays over the run."""
    old, cfg = saved.algo_config, new.algo_config
    decays = getattr(cfg, "anneal_lr", False) or getattr(cfg, "lr_schedule", "constant") != "constant"
    if not decays or old.total_timesteps == cfg.total_timesteps:
        return None
    return (f"warning: --total-timesteps {old.total_timesteps} -> {cfg.total_timesteps} changes the learning-rate "
            "schedule, which decays over the whole run: from here on it follows the new length, so the rate jumps "
            "(keep --total-timesteps, or turn the decay off, to continue it unchanged)")


_COMMAND_LINE = False  # set by `main` when it runs as the command line itself (argv from sys.argv)


def _enable_compile_cache(config: TrainConfig) -> None:
    """JAX's persistent compilation cache in the user's cache dir (unless turned off or set already)."""
    import os

    if not config.compile_cache or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    jax.config.update("jax_compilation_cache_dir", os.path.join(base, "jaxrl", "xla"))


# -- main ----------------------------------------------------------------------------------


def _summary(config: TrainConfig, algo, run_dir: Path, start_update: int, mesh) -> str:
    import jax

    cfg = config.algo_config
    kinds = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in mesh.devices.flat}))
    env = algo.env
    choices = ", ".join(f"{name} {value}" for name, value in algo.backend.to_dict().items() if name != "platform")
    lines = [
        f"jaxrl: {config.algo.upper()} on {cfg.env} (v{env.version}), run dir {run_dir}",
        f"devices: {sharding.describe(mesh)} x {kinds}, {cfg.num_envs // mesh.size} envs each; jax {jax.__version__}",
        f"backend {algo.backend.platform}: {choices}",
        f"observation {env.observation_space(algo.env_params).shape}, actions {env.action_space(algo.env_params)}",
        f"seeds {config.num_seeds}; {algo.describe()}",
        f"updates: {algo.num_updates} ({algo.num_updates * algo.steps_per_update} env steps per seed"
        + (f"; {cfg.total_timesteps - algo.num_updates * algo.steps_per_update} steps of --total-timesteps short of a "
           "whole update are not run" if cfg.total_timesteps % algo.steps_per_update else "")
        + ")" + (f", resuming after update {start_update}" if start_update else ""),
    ]
    return "\n".join(lines)


def run(config: TrainConfig, stdout: TextIO) -> int:
    """Run training for a parsed config; returns the exit code."""

    # Several processes (hosts) run this same function; only process 0 prints and writes run-directory
    # files, every process takes part in the computation and in orbax's checkpoint writes.
    validate_run(config)  # first what does not depend on the devices
    if _COMMAND_LINE:  # a caller's own process keeps its JAX settings
        _enable_compile_cache(config)
    if config.deterministic:
        backend.request_determinism()  # before JAX starts its backends, which read XLA's flags
    sharding.initialize_distributed(config.coordinator_address, config.num_processes, config.process_id)
    cfg = config.algo_config
    mesh = sharding.make_mesh(config.devices or sharding.default_device_count(*cfg.device_split_sizes))
    validate_run(config, mesh.size)
    main_process = sharding.is_main_process()
    resuming = config.resume is not None
    run_dir = Path(config.run_dir) if config.run_dir else Path(sharding.broadcast_text(str(default_run_dir(config))))
    meta: dict[str, Any] = {}
    restore_messages: list[str] = []  # reported once train.log is open
    state = None
    if resuming:
        saved = load_run_config(run_dir)
        diffs = resume_differences(saved, config)
        if diffs:
            raise ConfigError(f"--resume {run_dir}: config differs from the checkpoint's in " + "; ".join(diffs))
        schedule = _schedule_change(saved, config)
        if schedule:
            restore_messages.append(schedule)
        try:
            algo, state, meta = restore_run(run_dir, config, report=restore_messages.append, mesh=mesh)
        except NoCheckpointError:
            # It ended before its first save (stopped while compiling, an error at the first update):
            # nothing to continue, so the run starts over in its own directory with its saved config.
            restore_messages.append(f"no checkpoint in {run_dir} yet: starting the run afresh from its saved config")
            algo = make_algorithm(config.algo, cfg)
    else:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(f"run directory {run_dir} already exists and is not empty; pick another --run-dir or --resume it")
        algo = make_algorithm(config.algo, cfg)
    check_evaluation(config, algo)  # before anything is written
    sharding.sync("jaxrl-run-dir-checked")  # every process has looked before process 0 writes
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        log_file: TextIO | None = open(run_dir / "train.log", "a", buffering=1)
        tee: TextIO = Tee(stdout, log_file)
        report = lambda msg: print(msg, file=tee, flush=True)  # noqa: E731
    else:
        log_file, tee, report = None, stdout, lambda msg: None
    try:
        for message in restore_messages:
            report(message)
        start_update = meta.get("update", 0)
        if resuming and main_process:  # before the metrics file is opened for appending
            dropped = truncate_metrics(run_dir / "metrics.jsonl", start_update)
            if dropped:
                report(f"resuming from update {start_update}: dropped {dropped} metric records logged after it")
        live = stdout.isatty()
        trainer = build_trainer(
            config, run_dir=run_dir, algo=algo, state=state, meta=meta, mesh=mesh,
            stdout=stdout if live else tee, log=log_file if live else None, report=report,
        )
        sharding.sync("jaxrl-run-dir-ready")
        report(_summary(config, algo, run_dir, trainer.update, mesh))
        code = trainer.run()
        try:
            trainer.close()
        except RunDataError:
            if code == 0:
                raise
            # Already reported by the loop, which stopped on the same storage error.
        if config.plot and main_process:
            try:
                plot_runs([run_dir], run_dir / "learning_curves.png")
            except Exception as error:  # noqa: BLE001 - a plot must not fail the run
                (run_dir / "learning_curves.png").unlink(missing_ok=True)  # never a half-written picture
                report(f"warning: could not write the learning-curve plot ({storage_cause(error)})")
        this_run = trainer.elapsed() - float(meta.get("wall_time", 0.0))
        total = f", the run's total {trainer.elapsed():.1f}s" if resuming and meta.get("wall_time") else ""
        report(f"finished in {this_run:.1f}s (compile {trainer.compile_seconds:.1f}s{total}); run dir {run_dir}")
        return code
    finally:
        if log_file is not None:
            log_file.close()


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command line itself, not a caller's own process
        global _COMMAND_LINE
        _COMMAND_LINE = True
        quiet_stderr()
    argv = sys.argv[1:] if argv is None else argv
    try:
        if "--list-envs" in argv:
            print(list_envs())
            return 0
        config = parse_args(argv)
        return run(config, sys.stdout)
    except (ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RunDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
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

