"""PPO's configuration: every field documented once, per-env presets, and validation.

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
from envs.registry import registered_names, unknown_env_message
from jaxrl.errors import ConfigError


@dataclass(frozen=True)
class PPOConfig:
    """Proximal Policy Optimisation: rollout, advantages and update."""

    env: str = "CartPole-v1"
    """Registered environment name (see `envs.registered_names()`), 'gymnax:<name>', 'pgx:<id>' or
    'brax:<name>'."""
    total_timesteps: int = 500_000
    """Environment steps to train for, summed over all envs of one seed (rounded down to whole updates)."""
    num_envs: int = 4
    """Parallel environments per seed (vmapped)."""
    num_steps: int = 128
    """Steps collected per environment per update (rollout length)."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    num_minibatches: int = 4
    """Minibatches per epoch; num_envs * num_steps must be divisible by it."""
    lr: float = 2.5e-4
    """Adam learning rate (start value when annealed)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip range; also the value-function clip range."""
    clip_value_loss: bool = True
    """Clip the value loss around the rollout's value estimates."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (separate networks)."""
    activation: Literal["tanh", "relu"] = "tanh"
    """Hidden activation."""
    network: Literal["auto", "mlp", "conv", "small_conv", "resnet"] = "auto"
    """Torso: 'mlp'; 'conv', two 3x3 convolutions (32, 64 channels) then the MLP; 'small_conv', one
    3x3 convolution of 16 channels then the MLP (MinAtar's network); 'resnet', a stem convolution and
    ``num_blocks`` ReZero residual blocks of ``channels`` then the MLP. 'auto' picks, for board planes
    (rank-3 observations), conv on accelerators and small_conv on CPUs (where conv trains ~10x
    slower: 650 against 6.2k env steps/s on MinAtar Breakout, 2 cores); else mlp. A run records the
    torso it picked in its config."""
    channels: int = 64
    """Channels of the 'resnet' torso's convolutions."""
    num_blocks: int = 2
    """Residual blocks of the 'resnet' torso."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions)."""
    normalize_observations: bool = False
    """Normalise observations with running statistics (NormalizeObservation wrapper)."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return (NormalizeReward wrapper)."""
    reward_scale: float = 1.0
    """Constant factor on the rewards that advantages and value targets are computed from (Brax's
    ``reward_scaling``; applied after --normalize-rewards when both are set); reported returns stay
    unscaled."""
    material_reward: float = 0.0
    """Two-player games that count material (Shogi): add this times the change of the mover's material
    balance to the reward of every move (`envs.wrappers.MaterialReward`; zero-sum, a pawn is 1, a rook
    10), so that captures pay before a game is won. Training only: evaluation plays for the result."""
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    """Environment parameter overrides as (name, value) pairs."""
    rollout_unroll: int = 0
    """Unroll factor of the rollout scan, a speed knob (fewer device loop iterations); 0: 4 on GPU/TPU, 1 on CPU."""
    minibatch_unroll: int = 1
    """Unroll factor of the minibatch scan: a speed knob, same results."""
    shuffle: Literal["auto", "per_env", "global"] = "auto"
    """How each epoch deals the batch into minibatches. 'per_env': every env's steps are permuted on
    their own and each minibatch takes num_steps / num_minibatches of them from every env (no data
    crosses devices, and results do not depend on the device count); 'global': one permutation of
    the whole batch (a gather across devices); 'auto': per_env when num_steps divides evenly, else global."""
    fused_gradient: Literal["auto", "on", "off"] = "auto"
    """Minibatch gradient as fused GPU kernels (`jaxrl.ppo.fused`), a speed knob: the same function,
    rounded differently. 'auto': on GPUs when the network qualifies (MLP torso of power-of-two widths,
    discrete actions without a mask); 'on': always, or an error saying why not (on a CPU the kernels
    run interpreted, slowly: for tests); 'off': XLA's gradient."""
    narrow_matmuls: Literal["auto", "on", "off"] = "auto"
    """Layers with at most 8 inputs or outputs as broadcast multiply-adds instead of matmuls
    (`jaxrl.networks.Dense`), a speed knob: the same function. 'auto': on GPUs (faster there),
    off on CPUs (2x slower there)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def device_split_sizes(self) -> tuple[int, ...]:
        """Sizes a device mesh splits, which the device count must divide: the envs and a minibatch."""
        return (self.num_envs, self.minibatch_size)

    @property
    def per_env_shuffle(self) -> bool:
        """Whether minibatches are dealt per env (see `shuffle`)."""
        if self.shuffle == "auto":
            return self.num_steps % self.num_minibatches == 0
        return self.shuffle == "per_env"

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def replace(self, **changes: Any) -> PPOConfig:
        return dataclasses.replace(self, **changes)


# Hyperparameters tuned per environment; fields not named keep PPOConfig's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # Tuned so that the greedy policy solves the env in every one of 16 seeds (`benchmarks.presets`,
    # one H200, 2026-12-03; mean / min over seeds of the greedy return over 32 episodes per seed, in
    # two runs of different seeds): CartPole 500 / 500 both; Acrobot -75.6 / -84.8 and -77.4 / -83.8
    # (at 1M steps one seed in 16 ended below -90 in two runs of three); MountainCar -106.4 / -112.5
    # and -109.0 / -116.6, MountainCarContinuous 93.1 / 93.0 both (without observation normalisation
    # the velocity, at most 0.07, is invisible next to the position: 6 of 16 MountainCar seeds
    # reached -130 and no MountainCarContinuous seed left the valley); Pendulum -173 / -236 and
    # -161 / -194, but at lr 1e-3 one seed in 16-32 ended near -400 in two runs of four (GPU
    # reductions are not bitwise repeatable); lr 5e-4 gave -152 / -195 over 32 seeds where lr 1e-3
    # left one at -404 (13 variants side by side); normalised observations made it worse (1 of 16).
    "CartPole-v1": {},
    "Acrobot-v1": dict(total_timesteps=2_000_000, num_envs=16, num_steps=128, lr=1e-3, ent_coef=0.0),
    "MountainCar-v0": dict(
        total_timesteps=2_000_000, num_envs=16, num_steps=256, lr=1e-3, ent_coef=0.01, normalize_rewards=True,
        normalize_observations=True,
    ),
    "MountainCarContinuous-v0": dict(
        total_timesteps=1_000_000, num_envs=16, num_steps=256, lr=3e-4, ent_coef=0.0,
        normalize_rewards=True, normalize_observations=True, log_std_init=0.0,
    ),
    "Pendulum-v1": dict(
        total_timesteps=1_000_000, num_envs=16, num_steps=128, update_epochs=10, num_minibatches=32,
        lr=5e-4, gamma=0.95, gae_lambda=0.95, ent_coef=0.0, normalize_rewards=True,
        hidden_sizes=(64, 64), anneal_lr=True,
    ),
    # Self-play; tuned to beat random play >= 95% from either seat within 15 minutes on a 2-core CPU
    # (the conv torso is ~200x slower per step there). The strong entropy bonus keeps the self-play
    # opponent varied and stops black/white exploitation cycles (with 0.1, 1 seed of 3 ended at
    # 92% / 87% against random; with 0.2 all 3 beat it >= 98.5% from both seats); gamma < 1 makes
    # the policy take a win now rather than later.
    "ConnectFour-v0": dict(
        total_timesteps=5_242_880, num_envs=1024, num_steps=16, update_epochs=4, num_minibatches=8,
        lr=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.2, hidden_sizes=(256, 256), activation="relu",
        network="mlp",
    ),
    # AlphaTriangle's puzzle, masked over its 360 placements, sized for one GPU: 4.8M env steps/s on an
    # H200, so the whole run takes ~7 minutes; its greedy policy scored 332 after 3.5 minutes against
    # the one-step greedy player's 94 (BENCHMARKS.md). The MLP beat the conv torso there (235 at the
    # same wall time: 13x fewer steps/s). The game-over penalty (-10) dominates the return, so the
    # agent learns to keep the board playable, and the score (placed + 2 x cleared triangles) follows.
    "Triangles-v0": dict(
        total_timesteps=2_000_000_000, num_envs=4096, num_steps=32, update_epochs=4, num_minibatches=8,
        lr=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.01, hidden_sizes=(256, 256), activation="relu",
        network="mlp",
    ),
    # Keisei's game by self-play on one GPU. The observation is the env's 47 board planes (pieces by
    # side and promotion, both hands, repetition count, move count, side to move; Keisei's 46 plus
    # the side to move); games are cut at 512 plies as draws. A small residual torso (64 channels,
    # 2 ReZero blocks, then 256 units) per network, the policy masked over the 2187 move encodings.
    # gamma close to 1: games last a hundred plies or more. A small material reward (0.01 per pawn of
    # balance gained, zero-sum) pays for captures before any game is won: on one H200, 32M steps
    # (5.3 minutes) beat random in 92% (black) / 91% (white) of 256 games per seat and capture-greedy
    # in 88% / 89%, where the result alone reached 56% / 45% against random with 80-90% draws.
    # Evaluation against the material search is costly (a 2-ply search expands up to 160 x 160
    # moves per game and move), so training evaluates against random and capture-greedy only.
    "Shogi-v0": dict(
        total_timesteps=200_000_000, num_envs=2048, num_steps=32, update_epochs=4, num_minibatches=8,
        lr=3e-4, gamma=0.995, gae_lambda=0.95, ent_coef=0.01, hidden_sizes=(256,), activation="relu",
        network="resnet", channels=64, num_blocks=2, material_reward=0.01,
    ),
    # Brax's published PPO hyperparameters for Ant (the `ppo.train` settings of Brax's training notebook:
    # 50M steps, episode_length 1000, num_envs 4096, batch_size 2048, num_minibatches 32, unroll_length 5,
    # num_updates_per_batch 4, discounting 0.97, learning_rate 3e-4, entropy_cost 1e-2, reward_scaling 10,
    # normalize_observations; its defaults: gae_lambda 0.95, clipping_epsilon 0.3, vf_loss_coefficient 0.5,
    # constant learning rate, Adam eps 1e-8, no gradient or value clipping). Each Brax update collects
    # batch_size * num_minibatches / num_envs = 16 unrolls of 5 steps per env: here 4096 envs x 80 steps in
    # 32 minibatches of 10240 steps, with GAE over the 80 steps (Brax's restarts every 5). What does not map:
    # Brax's networks (policy 4x32, value 5x256, swish, a tanh-squashed Gaussian); ours are two relu MLPs of
    # one shape and a Gaussian with a state-independent std, clipped to [-1, 1]. "No clipping" is a norm no
    # gradient reaches.
    "brax:ant": {
        "total_timesteps": 50_000_000, "num_envs": 4096, "num_steps": 80, "num_minibatches": 32,
        "update_epochs": 4, "gamma": 0.97, "gae_lambda": 0.95, "lr": 3e-4, "anneal_lr": False,
        "ent_coef": 1e-2, "clip_eps": 0.3, "clip_value_loss": False, "vf_coef": 0.5, "max_grad_norm": 1e9,
        "adam_eps": 1e-8, "normalize_observations": True, "reward_scale": 10.0,
        "hidden_sizes": (256, 256, 256, 256), "activation": "relu",
    },
}


def preset(env: str, **overrides: Any) -> PPOConfig:
    """PPOConfig for ``env`` with its preset applied, then ``overrides``."""
    return PPOConfig(env=env, **{**PRESETS.get(env, {}), **overrides})


def _is_finite_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _is_concrete(value: Any) -> bool:
    return not isinstance(value, jax.core.Tracer)


MAX_UPDATES = 2**31 - 1  # the update counter of the training state is int32


def validate(config: PPOConfig, num_devices: int = 1) -> None:
    """Raise ConfigError (one line) if ``config`` cannot run.

    Numeric hyperparameters that are traced (vmapped over) are skipped.
    """
    name = config.env
    if ":" not in name and name not in registered_names():
        raise ConfigError(unknown_env_message(name))
    if ":" in name or config.env_kwargs:  # a gymnax or user env, or overrides: make it to know it exists
        try:
            envs.make(name, **dict(config.env_kwargs))
        except (ValueError, ImportError, TypeError) as error:
            raise ConfigError(str(error).splitlines()[0]) from None
    for key in ("total_timesteps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "minibatch_unroll",
                "channels", "num_blocks"):
        value = getattr(config, key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"--{key.replace('_', '-')} must be a positive integer, got {value!r}")
    if _is_concrete(config.material_reward) and config.material_reward:
        if not _is_finite_number(config.material_reward) or config.material_reward < 0:
            raise ConfigError(f"--material-reward must be a number >= 0, got {config.material_reward!r}")
        if not callable(getattr(envs.make(name, **dict(config.env_kwargs))[0], "material", None)):
            raise ConfigError(f"--material-reward needs a game that counts material (Shogi-v0); {name} does not")
    if config.batch_size % config.num_minibatches:
        raise ConfigError(
            f"num_envs * num_steps = {config.num_envs} * {config.num_steps} = {config.batch_size} is not divisible "
            f"by --num-minibatches {config.num_minibatches}; choose a divisor of {config.batch_size}"
        )
    if config.fused_gradient not in ("auto", "on", "off"):
        raise ConfigError(f"--fused-gradient must be one of auto, on, off; got {config.fused_gradient!r}")
    if config.narrow_matmuls not in ("auto", "on", "off"):
        raise ConfigError(f"--narrow-matmuls must be one of auto, on, off; got {config.narrow_matmuls!r}")
    if config.shuffle not in ("auto", "per_env", "global"):
        raise ConfigError(f"--shuffle must be one of auto, per_env, global; got {config.shuffle!r}")
    if config.shuffle == "per_env" and config.num_steps % config.num_minibatches:
        raise ConfigError(
            f"--shuffle per_env deals --num-steps {config.num_steps} per env into --num-minibatches "
            f"{config.num_minibatches} equal parts; choose a divisor of {config.num_steps} or --shuffle global"
        )
    if config.num_updates > MAX_UPDATES:
        raise ConfigError(
            f"--total-timesteps {config.total_timesteps:.3g} is {config.num_updates:.3g} updates, more than the "
            f"int32 update counter holds; at most {MAX_UPDATES * config.batch_size:.3g} with this batch"
        )
    if config.num_updates < 1:
        raise ConfigError(
            f"--total-timesteps {config.total_timesteps} is less than one update "
            f"(num_envs * num_steps = {config.batch_size}); raise it or shrink the batch"
        )
    if config.num_envs % num_devices:
        raise ConfigError(
            f"--num-envs {config.num_envs} is not divisible by the {num_devices} devices in use; "
            f"use a multiple of {num_devices} or --devices"
        )
    if config.minibatch_size % num_devices:
        raise ConfigError(
            f"the minibatch size {config.minibatch_size} (num_envs * num_steps / num_minibatches) is not divisible "
            f"by the {num_devices} devices in use; change --num-minibatches, --num-steps or --devices"
        )
    checks = {
        "lr": lambda v: v > 0,
        "gamma": lambda v: 0 <= v <= 1,
        "gae_lambda": lambda v: 0 <= v <= 1,
        "clip_eps": lambda v: v > 0,
        "max_grad_norm": lambda v: v > 0,
        "adam_eps": lambda v: v > 0,
        "ent_coef": lambda v: v >= 0,
        "vf_coef": lambda v: v >= 0,
        "reward_scale": lambda v: v > 0,
    }
    for key, ok in checks.items():
        value = getattr(config, key)
        if _is_concrete(value) and not (_is_finite_number(value) and ok(value)):
            raise ConfigError(f"--{key.replace('_', '-')} has an invalid value {value!r}")
    if not isinstance(config.rollout_unroll, int) or config.rollout_unroll < 0:
        raise ConfigError(f"--rollout-unroll must be >= 0 (0: automatic), got {config.rollout_unroll!r}")
    if not config.hidden_sizes or any(h <= 0 for h in config.hidden_sizes):
        raise ConfigError(f"--hidden-sizes must be positive widths, got {config.hidden_sizes!r}")


__all__ = ["PRESETS", "PPOConfig", "preset", "validate"]
