"""The run's configuration: an algorithm's config plus everything the host loop does around it.

Every run-level field is documented once, here (the algorithms document
theirs in their own ``config.py``). Also the conversions to and from the
flat dicts of YAML files and checkpoints, and the checks a resume makes.

A `TrainConfig` holds one config per algorithm of `jaxrl.registry.ALGORITHMS`
(a field named like it); ``algo`` picks the one that runs, and only that one
is written to files and shown as flags. Flat dicts (YAML, flags) mix the
run-level fields with the selected algorithm's.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from jaxrl.alphazero.config import AlphaZeroConfig
from jaxrl.errors import ConfigError
from jaxrl.ppo.config import PPOConfig, preset, validate
from jaxrl.registry import ALGORITHMS, algorithm_entry


@dataclass(frozen=True)
class TrainConfig:
    """A training run: the algorithm plus everything the host loop does around it."""

    algo: Literal["ppo", "alphazero"] = "ppo"
    """The learning algorithm (see `jaxrl.registry.ALGORITHMS`); its flags follow it (--algo alphazero --help)."""
    ppo: PPOConfig = PPOConfig()
    """PPO's configuration (its flags appear without a prefix: --lr, --num-envs, ...)."""
    alphazero: AlphaZeroConfig = AlphaZeroConfig()
    """AlphaZero's configuration (with --algo alphazero its flags appear without a prefix)."""
    seed: int = 0
    """Random seed; seed i of --num-seeds uses key split i of it."""
    num_seeds: int = 1
    """Independent agents trained side by side (vmapped) in one run."""
    run_dir: str | None = None
    """Run directory (default: runs/<env>-<algo>-<timestamp>)."""
    resume: str | None = None
    """Continue the run in this directory from its latest checkpoint (bare --resume: --run-dir)."""
    config: str | None = None
    """YAML file of flag values (keys as flag names); command-line flags override it."""
    updates_per_epoch: int | Literal["auto"] = 16
    """Updates per host-loop epoch (one device call); the last epoch may run fewer. 'auto': epochs sized
    to --epoch-seconds of wall time from the measured speed (still one compile), so a slow
    configuration answers Ctrl-C and refreshes the display within seconds."""
    epoch_seconds: float = 2.0
    """With --updates-per-epoch auto: the wall time an epoch aims at."""
    display_interval: float = 1.0
    """Seconds between progress display updates."""
    eval_every: int = 20
    """Evaluate the deterministic policy every N epochs and at the end (0: never)."""
    eval_episodes: int = 16
    """Episodes per evaluation."""
    eval_games: int = 128
    """Two-player games: games per seat against each evaluation opponent (random, minimax, each pool snapshot)."""
    minimax_depth: int = 2
    """Two-player games: search depth in plies of the minimax evaluation opponent (0: no minimax opponent)."""
    opponent_pool_size: int = 8
    """Two-player games: past-policy snapshots kept for evaluation and Elo, one added per evaluation (0: none)."""
    elo_k: float = 8.0
    """Two-player games: Elo K factor per game (each evaluation's games update the rating one at a time)."""
    target_return: float | None = None
    """Stop early once the (eval, else training) mean return reaches this."""
    stop_on_divergence: bool = False
    """Stop (exit code 1) when training diverges: a loss 1e6x its first value, or a collapsed policy
    (entropy 0, KL 0). Either way a warning names the metric and the update."""
    checkpoint_every: int = 10
    """Save a checkpoint every N epochs (0: only at the end and on stop requests)."""
    keep_checkpoints: int = 3
    """How many recent checkpoints to keep (plus the best-evaluated one)."""
    tensorboard: bool = False
    """Also write TensorBoard event files to <run_dir>/tensorboard."""
    wandb: Literal["disabled", "online", "offline"] = "disabled"
    """Weights & Biases mode; 'offline' needs no network (sync later with `wandb sync`)."""
    wandb_project: str = "jaxrl"
    """Weights & Biases project name."""
    plot: bool = True
    """Write learning curves to <run_dir>/learning_curves.png at the end."""
    compile_cache: bool = True
    """Keep XLA's compiled programs in a persistent cache (the user's cache dir, or $JAX_COMPILATION_CACHE_DIR), so
    that a second run of the same config starts without compiling."""
    deterministic: bool = False
    """Same config and seed, same bits on a GPU in every process (XLA's deterministic ops: kernels
    not autotuned anew per process); measured 13-15% slower on an H200, so off by default. CPUs are
    deterministic either way."""
    devices: int = 0
    """Devices to split the env batch over (0: all, across every process); num_envs must be divisible by it."""
    coordinator_address: str | None = None
    """Multi-host: HOST:PORT of process 0's coordinator (default: $JAX_COORDINATOR_ADDRESS; unset: one process)."""
    num_processes: int | None = None
    """Multi-host: how many processes take part (default: $JAX_NUM_PROCESSES; unset with a coordinator: JAX's cluster detection)."""
    process_id: int | None = None
    """Multi-host: this process's index, 0..num_processes-1 (default: $JAX_PROCESS_ID; unset with a coordinator: detected)."""

    @property
    def algo_config(self) -> Any:
        """The config of the algorithm ``algo`` names (the field of that name)."""
        return getattr(self, self.algo)

    def with_algo(self, algo: str, algo_config: Any) -> TrainConfig:
        """This config running ``algo`` with ``algo_config``."""
        algorithm_entry(algo)
        return dataclasses.replace(self, algo=algo, **{algo: algo_config})


def preset_config(algo: str = "ppo", env: str | None = None, **changes: Any) -> TrainConfig:
    """A TrainConfig running ``algo`` on ``env`` (default: the algorithm's) with that env's preset."""
    entry = algorithm_entry(algo)
    return TrainConfig(**changes).with_algo(algo, entry.preset(env or entry.default_env))


def run_field_names() -> list[str]:
    """The run-level fields of TrainConfig (those not of an algorithm)."""
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in ALGORITHMS]


# Fields a resumed run may change; every other field must equal the checkpoint's.
RESUME_FREE_FIELDS = frozenset({
    "total_timesteps", "run_dir", "resume", "config", "updates_per_epoch", "epoch_seconds", "display_interval", "eval_every",
    "eval_episodes", "eval_games", "minimax_depth", "opponent_pool_size", "elo_k", "target_return",
    "stop_on_divergence", "deterministic", "compile_cache", "checkpoint_every", "keep_checkpoints", "fused_gradient",
    "narrow_matmuls", "eval_num_simulations", "tensorboard", "wandb", "wandb_project", "plot", "devices", "coordinator_address",
    "num_processes", "process_id",
})


def flat_fields(config: TrainConfig) -> dict[str, Any]:
    """The run-level fields and the selected algorithm's, un-nested: {'algo': 'ppo', 'lr': ..., 'seed': ...}."""
    out = {name: getattr(config, name) for name in run_field_names()}
    cfg = config.algo_config
    out.update({f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
    return out


def field_names(algo: str = "ppo") -> list[str]:
    """The flat field names (flags, YAML keys) of a run of ``algo``."""
    return list(flat_fields(TrainConfig(algo=algo)))


def parse_int(text: str) -> int:
    """An integer as a flag spells it: '4096', or scientific notation of a whole number ('1e6', '2.5e5')."""
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


def _field_types(algo: str) -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    hints.update(typing.get_type_hints(algorithm_entry(algo).config))
    return hints


def _kind_name(kind: Any) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(kind))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(kind, str(kind))


def _coerce(value: Any, kind: Any) -> Any:
    """``value`` (from YAML or a saved config) as a field of type ``kind`` takes it, read as a flag would be.

    YAML reads ``2e5`` and ``1e-3`` as strings (its floats need a dot): they are numbers here, as on
    the command line. Raises ValueError saying what is wrong.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        for inner in kinds[:-1]:
            try:
                return _coerce(value, inner)
            except ValueError:
                pass
        try:
            return _coerce(value, kinds[-1])
        except ValueError:
            if len(kinds) == 1:
                raise
            raise ValueError(f"{value!r} is not {' or '.join(_kind_name(k) for k in kinds)}") from None
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is tuple:
        if isinstance(value, dict):  # env_kwargs as a mapping
            value = list(value.items())
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{value!r} is not a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return parse_int(str(value))
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    if kind is str and not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def config_from_dict(data: dict[str, Any], base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """Apply a dict of field values (flat, or with the algorithm's nested: {'ppo': {...}}) to ``base``.

    Keys may use dashes or underscores; unknown keys raise ConfigError with a suggestion. An
    ``algo`` other than ``base``'s starts from that algorithm's preset for the env. A
    ``backend`` entry (the choices a run resolved for its devices, written beside the config for
    the reader) is derived, not configuration, and is skipped.
    """
    import difflib

    base = base or TrainConfig()
    flat = {k.replace("-", "_"): v for k, v in data.items()}
    flat.pop("backend", None)
    algo = flat.get("algo", base.algo)
    if algo not in ALGORITHMS:
        raise ConfigError(f"{source}: algo: {algo!r} is not one of {', '.join(ALGORITHMS)}")
    sections = {name: flat.pop(name) for name in ALGORITHMS if name in flat}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: {name}: expected a mapping of {name}'s fields, got {section!r}")
        if name == algo:
            flat = {**{k.replace("-", "_"): v for k, v in section.items()}, **flat}
    if algo != base.algo:
        env = flat.get("env", base.algo_config.env)
        base = base.with_algo(algo, algorithm_entry(algo).preset(str(env)))
    defaults = flat_fields(base)
    for key in flat:
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            other = [name for name in ALGORITHMS if name != algo and key in field_names(name)]
            if other and not close:
                hint = f"; it is a field of {other[0]}, not of {algo}"
            raise ConfigError(f"unknown key '{key}' in {source}{hint}")
    algo_names = {f.name for f in dataclasses.fields(base.algo_config)}
    kinds = _field_types(algo)
    values = {}
    for key, value in flat.items():
        try:
            values[key] = _coerce(value, kinds[key])
        except ValueError as error:
            raise ConfigError(f"{source}: {key}: {error}") from None
    algo_changes = {k: v for k, v in values.items() if k in algo_names}
    run_changes = {k: v for k, v in values.items() if k not in algo_names}
    return dataclasses.replace(base, **run_changes).with_algo(algo, base.algo_config.replace(**algo_changes))


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain-YAML/JSON form: the run fields and the selected algorithm's nested ({'ppo': {...}}), tuples as lists."""

    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    out = {name: plain(getattr(config, name)) for name in run_field_names()}
    cfg = config.algo_config
    out[config.algo] = {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    return out


def validate_run(config: TrainConfig, num_devices: int = 1) -> None:
    algorithm_entry(config.algo).validate(config.algo_config, num_devices)
    if config.updates_per_epoch != "auto" and (
        not isinstance(config.updates_per_epoch, int) or config.updates_per_epoch <= 0
    ):
        raise ConfigError(f"--updates-per-epoch must be a positive integer or auto, got {config.updates_per_epoch!r}")
    if not config.epoch_seconds > 0 or config.epoch_seconds == float("inf"):
        raise ConfigError(f"--epoch-seconds must be a positive number of seconds, got {config.epoch_seconds!r}")
    for key in ("num_seeds", "eval_episodes", "eval_games", "keep_checkpoints"):
        value = getattr(config, key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"--{key.replace('_', '-')} must be a positive integer, got {value!r}")
    for key in ("eval_every", "checkpoint_every", "minimax_depth", "opponent_pool_size"):
        if getattr(config, key) < 0:
            raise ConfigError(f"--{key.replace('_', '-')} must be >= 0")
    if config.display_interval < 0:
        raise ConfigError("--display-interval must be >= 0 seconds")
    if config.devices < 0:
        raise ConfigError(f"--devices must be >= 0 (0: all devices), got {config.devices}")


def resume_differences(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """'field: old -> new' for every computation-changing field that differs."""
    if saved.algo != new.algo:
        return [f"algo: {saved.algo!r} -> {new.algo!r}"]
    old_fields, new_fields = flat_fields(saved), flat_fields(new)
    return [
        f"{key}: {old_fields[key]!r} -> {new_fields[key]!r}"
        for key in old_fields
        if key not in RESUME_FREE_FIELDS and old_fields[key] != new_fields[key]
    ]


__all__ = [
    "AlphaZeroConfig", "ConfigError", "PPOConfig", "RESUME_FREE_FIELDS", "TrainConfig", "config_from_dict",
    "config_to_dict", "field_names", "flat_fields", "preset", "preset_config", "resume_differences",
    "run_field_names", "validate", "validate_run",
]
