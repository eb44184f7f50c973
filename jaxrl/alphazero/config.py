"""AlphaZero's configuration: every field documented once, per-env presets, and validation.

`validate` runs before anything is compiled and raises `ConfigError` with one
line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import jax

import envs
from envs import spaces
from envs.registry import registered_names, unknown_env_message
from jaxrl.errors import ConfigError


@dataclass(frozen=True)
class AlphaZeroConfig:
    """AlphaZero: batched self-play with a tree search (mctx) on the env as a perfect simulator."""

    env: str = "ConnectFour-v0"
    """Registered environment name (or 'pgx:<id>'): a two-player game or a single-player puzzle with a
    legal-action mask, board-plane observations ``[H, W, C]`` and discrete actions."""
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    """Environment parameter overrides as (name, value) pairs."""
    total_timesteps: int = 1_048_576
    """Self-play moves to train for, summed over the games of one seed (rounded down to whole updates)."""
    num_envs: int = 64
    """Games played in parallel per seed (vmapped); one batched search per move."""
    num_steps: int = 16
    """Self-play moves of every game per update, before the gradient steps."""
    num_simulations: int = 32
    """Search simulations per self-play move."""
    eval_num_simulations: int = 64
    """Search simulations per move of the evaluation policy (`agent_policy`)."""
    search: Literal["gumbel", "muzero"] = "gumbel"
    """'gumbel': Gumbel MuZero (sequential halving at the root; acts with the search's chosen action and
    learns its completed-Q policy); 'muzero': PUCT with Dirichlet noise at the root (acts by sampling the
    visit counts, learns them)."""
    max_num_considered_actions: int = 16
    """Gumbel: actions sampled at the root for sequential halving."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the root Gumbel noise in self-play (evaluation uses 0)."""
    dirichlet_alpha: float = 0.3
    """MuZero: concentration of the root Dirichlet noise in self-play."""
    dirichlet_fraction: float = 0.25
    """MuZero: weight of the Dirichlet noise in the root prior in self-play (evaluation uses 0)."""
    pb_c_init: float = 1.25
    """MuZero: PUCT exploration constant c1."""
    pb_c_base: float = 19652.0
    """MuZero: PUCT exploration constant c2."""
    temperature: float = 1.0
    """MuZero: temperature of the visit counts self-play samples its move from."""
    opening_moves: int = 0
    """Self-play plays the first ``opening_moves`` moves of every game uniformly at random among the legal
    moves (the search still runs there and its policy is still learnt): many openings, where the search's
    own choices would narrow self-play onto a few lines. Evaluation never does."""
    value_target: Literal["outcome", "monte_carlo", "n_step"] = "outcome"
    """What the value head learns. Two-player games: 'outcome', the result of the game from the mover's
    view. Single-player: 'monte_carlo', the discounted return to the end of the game; or 'n_step', the
    discounted reward of the next ``n_step`` moves plus the discounted search value after them."""
    n_step: int = 10
    """Moves of reward before the search value is bootstrapped ('n_step' value targets)."""
    max_game_length: int = 42
    """'outcome' and 'monte_carlo': moves kept per game until its end scores them; a game that runs longer
    scores its oldest moves by bootstrapping from the search value this many moves later."""
    discount: float = 1.0
    """Single-player discount of rewards (in the search and the value targets); games are undiscounted."""
    buffer_capacity: int = 65_536
    """Replay buffer size in samples (one per move); the oldest are overwritten. At least
    ``num_envs * (pending moves per game + 1)``: the most one move can write."""
    min_buffer_size: int = 256
    """Gradient steps are skipped (parameters and optimiser kept) until the buffer holds this many samples."""
    batch_size: int = 256
    """Samples per gradient step, drawn uniformly from the filled part of the buffer."""
    train_steps: int = 8
    """Gradient steps per update."""
    lr: float = 1e-3
    """AdamW learning rate (start value of a schedule)."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate schedule over the run's gradient steps: constant, linear decay to 0, or cosine decay to 0."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    value_coef: float = 1.0
    """Weight of the value loss in the total loss."""
    value_scale: float = 1.0
    """Single-player: the size of the returns. The value head learns ``return / value_scale`` and the
    search reads ``value_scale`` x its output, so that returns of tens (Triangles' game-over penalty
    is -10) are learnt at the pace of outcomes of +-1; the value loss is in these units. Games: 1."""
    channels: int = 64
    """Channels of the residual convolution torso."""
    num_blocks: int = 4
    """Residual blocks of the torso."""
    norm: Literal["layer", "rezero"] = "layer"
    """Torso normalisation: 'layer', a layer norm after every convolution; 'rezero', none, each residual
    branch scaled by a learnt scalar that starts at 0 (faster on GPUs, where the norms' passes over the
    activations cost a third of the convolutions)."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Compute type of the torso's convolutions (parameters, optimiser, heads and losses stay float32).
    bfloat16 runs the network about twice as fast on recent GPUs (BENCHMARKS.md); on CPUs it is slower.
    'auto': bfloat16 on GPUs and TPUs, float32 on CPUs."""

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    @property
    def device_split_sizes(self) -> tuple[int, ...]:
        """Sizes a device mesh splits, which the device count must divide: the games."""
        return (self.num_envs,)

    @property
    def pending_length(self) -> int:
        """Moves each game keeps before they are written to the buffer (see `jaxrl.alphazero.trajectory`)."""
        return self.n_step if self.value_target == "n_step" else self.max_game_length

    def replace(self, **changes: Any) -> AlphaZeroConfig:
        return dataclasses.replace(self, **changes)


# Hyperparameters per environment; fields not named keep AlphaZeroConfig's defaults. Sized for one GPU:
# on a 2-core CPU one ConnectFour update of the preset takes minutes (the search dominates).
PRESETS: dict[str, dict[str, Any]] = {
    # 1024 games keep a GPU busy (3x the moves per second of 256 at this network size); 96 steps of
    # 1024 samples per 32k moves train each sample about three times, at 7% fewer moves per second.
    # Four random opening moves keep self-play from collapsing onto a few drawn lines. With both,
    # after 100 s on an H200 it beat depth-4 minimax in every game and PPO's preset (same wall time)
    # 0.55 / 0.57 of games per seat; without them 0.95 / 0.91 and 0.25 / 0.09 (BENCHMARKS.md).
    "ConnectFour-v0": {
        "total_timesteps": 8_388_608, "num_envs": 1024, "num_steps": 32, "num_simulations": 32,
        "eval_num_simulations": 64, "max_num_considered_actions": 7, "value_target": "outcome",
        "max_game_length": 42, "buffer_capacity": 1_048_576, "min_buffer_size": 4096, "batch_size": 1024,
        "train_steps": 96, "opening_moves": 4, "lr": 1e-3, "channels": 64, "num_blocks": 4, "norm": "rezero",
    },
    # Games last hundreds of moves once the agent is decent: n-step targets keep the pending moves short.
    # A sample holds a 720-float observation, so the buffer is half ConnectFour's (about 570 MB).
    "Triangles-v0": {
        "total_timesteps": 4_194_304, "num_envs": 256, "num_steps": 32, "num_simulations": 32,
        "eval_num_simulations": 64, "max_num_considered_actions": 16, "value_target": "n_step", "n_step": 10,
        "discount": 0.99, "value_scale": 10.0, "buffer_capacity": 131_072, "min_buffer_size": 4096,
        "batch_size": 512, "train_steps": 16, "lr": 1e-3, "channels": 64, "num_blocks": 4,
    },
}


def preset(env: str, **overrides: Any) -> AlphaZeroConfig:
    """AlphaZeroConfig for ``env`` with its preset applied, then ``overrides``."""
    return AlphaZeroConfig(env=env, **{**PRESETS.get(env, {}), **overrides})


def _is_finite_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


MAX_UPDATES = 2**31 - 1  # the update counter of the training state is int32


def _validate_env(config: AlphaZeroConfig) -> None:
    if ":" not in config.env and config.env not in registered_names():  # "gymnax:", "pgx:" or a user's class
        raise ConfigError(unknown_env_message(config.env))
    try:
        env, params = envs.make(config.env, **dict(config.env_kwargs))
    except (ValueError, ImportError, TypeError) as error:
        raise ConfigError(str(error).splitlines()[0]) from None
    if env.num_players not in (1, 2):
        raise ConfigError(f"AlphaZero plays one- or two-player envs; {config.env} has {env.num_players} players")
    if not isinstance(env.action_space(params), spaces.Discrete):
        raise ConfigError(f"AlphaZero needs discrete actions; {config.env} has {env.action_space(params)}")
    obs_shape = env.observation_space(params).shape
    if len(obs_shape) != 3:
        raise ConfigError(f"AlphaZero's conv torso needs [H, W, C] observations; {config.env} gives {obs_shape}")
    mask = jax.eval_shape(lambda key: env.action_mask(env.reset(key, params)[1], params), jax.random.PRNGKey(0))
    if mask is None:
        raise ConfigError(f"AlphaZero needs a legal-action mask; {config.env} has none")
    if env.num_players == 2 and config.value_target != "outcome":
        raise ConfigError(f"--value-target for the two-player {config.env} must be 'outcome', got "
                          f"{config.value_target!r}")
    if env.num_players == 2 and config.value_scale != 1:
        raise ConfigError(f"--value-scale must be 1 for the two-player {config.env} (outcomes are +-1), "
                          f"got {config.value_scale!r}")
    if env.num_players == 1 and config.value_target not in ("monte_carlo", "n_step"):
        raise ConfigError(f"--value-target for the single-player {config.env} must be 'monte_carlo' or "
                          f"'n_step', got {config.value_target!r}")


def validate(config: AlphaZeroConfig, num_devices: int = 1) -> None:
    """Raise ConfigError (one line) if ``config`` cannot run."""
    for key, allowed in (("search", ("gumbel", "muzero")), ("dtype", ("auto", "float32", "bfloat16")), ("norm", ("layer", "rezero")),
                         ("value_target", ("outcome", "monte_carlo", "n_step")),
                         ("lr_schedule", ("constant", "linear", "cosine"))):
        if getattr(config, key) not in allowed:
            raise ConfigError(f"{_flag(key)} must be one of {', '.join(allowed)}; got {getattr(config, key)!r}")
    _validate_env(config)
    for key in ("total_timesteps", "num_envs", "num_steps", "num_simulations", "eval_num_simulations",
                "max_num_considered_actions", "n_step", "max_game_length", "buffer_capacity", "batch_size",
                "train_steps", "channels", "num_blocks"):
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{_flag(key)} must be a positive integer, got {value!r}")
    if not isinstance(config.opening_moves, int) or isinstance(config.opening_moves, bool) or config.opening_moves < 0:
        raise ConfigError(f"--opening-moves must be a non-negative integer, got {config.opening_moves!r}")
    if not isinstance(config.min_buffer_size, int) or config.min_buffer_size < 0:
        raise ConfigError(f"--min-buffer-size must be a non-negative integer, got {config.min_buffer_size!r}")
    most_per_move = config.num_envs * (config.pending_length + 1)
    if config.buffer_capacity < most_per_move:
        raise ConfigError(
            f"--buffer-capacity {config.buffer_capacity} is less than one move can write (num_envs * "
            f"(pending moves + 1) = {most_per_move}); raise it or lower --num-envs"
        )
    if config.min_buffer_size > config.buffer_capacity:
        raise ConfigError(f"--min-buffer-size {config.min_buffer_size} exceeds --buffer-capacity "
                          f"{config.buffer_capacity}; training would never start")
    if config.num_updates < 1:
        raise ConfigError(
            f"--total-timesteps {config.total_timesteps} is less than one update "
            f"(num_envs * num_steps = {config.steps_per_update}); raise it or shrink the batch"
        )
    if config.num_updates > MAX_UPDATES:
        raise ConfigError(f"--total-timesteps {config.total_timesteps:.3g} is more updates than the int32 "
                          f"update counter holds")
    if config.num_envs % num_devices:
        raise ConfigError(
            f"--num-envs {config.num_envs} is not divisible by the {num_devices} devices in use; "
            f"use a multiple of {num_devices} or --devices"
        )
    checks = {
        "lr": lambda v: v > 0,
        "weight_decay": lambda v: v >= 0,
        "max_grad_norm": lambda v: v > 0,
        "value_coef": lambda v: v >= 0,
        "value_scale": lambda v: v > 0,
        "discount": lambda v: 0 <= v <= 1,
        "gumbel_scale": lambda v: v >= 0,
        "dirichlet_alpha": lambda v: v > 0,
        "dirichlet_fraction": lambda v: 0 <= v <= 1,
        "pb_c_init": lambda v: v > 0,
        "pb_c_base": lambda v: v > 0,
        "temperature": lambda v: v > 0,
    }
    for key, ok in checks.items():
        value = getattr(config, key)
        if isinstance(value, jax.core.Tracer):
            continue
        if not (_is_finite_number(value) and ok(value)):
            raise ConfigError(f"{_flag(key)} has an invalid value {value!r}")


__all__ = ["PRESETS", "AlphaZeroConfig", "preset", "validate"]
