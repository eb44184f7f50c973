"""Wrappers that change what an environment returns, keeping the functional contract.

Stateless wrappers pass the inner state through unchanged; stateful ones keep
their extra statistics in a `WrapperState` next to the inner state, so the
whole stack remains one pytree that can be jitted, vmapped and checkpointed.

A typical learner stack (innermost first)::

    env -> EpisodeStatistics -> AutoReset -> NormalizeObservation -> NormalizeReward

Running normalisation statistics sit *outside* AutoReset so that episode
resets do not wipe them.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment, StepResult


class Wrapper(Environment):
    """Delegates everything to `env`; subclasses override what they change."""

    def __init__(self, env: Environment):
        self._env = env

    @property
    def env(self) -> Environment:
        return self._env

    @property
    def unwrapped(self) -> Environment:
        return self._env.unwrapped

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._env.name

    @property
    def version(self) -> int:  # type: ignore[override]
        return self._env.version

    @property
    def num_players(self) -> int:  # type: ignore[override]
        return self._env.num_players

    @property
    def episode_metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._env.episode_metrics

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    def inner_state(self, state: Any) -> Any:
        """The wrapped env's state (identity for stateless wrappers)."""
        return state

    def reset_env(self, key, params):
        return self._env.reset_env(key, params)

    def step_env(self, key, state, action, params) -> StepResult:
        return self._env.step_env(key, state, action, params)

    def observation_space(self, params):
        return self._env.observation_space(params)

    def action_space(self, params):
        return self._env.action_space(params)

    def action_mask(self, state, params=None):
        return self._env.action_mask(self.inner_state(state), params)

    def current_player(self, state, params=None):
        return self._env.current_player(self.inner_state(state), params)

    def render_frame(self, state, params=None):
        return self._env.render_frame(self.inner_state(state), params)

    def __getattr__(self, name: str) -> Any:
        # Reach env-specific helpers (e.g. a game's rendering) through wrappers.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._env!r})"


@struct.dataclass
class WrapperState:
    """Inner env state plus a wrapper's own pytree of statistics."""

    env_state: Any
    extra: Any


class StatefulWrapper(Wrapper):
    def inner_state(self, state: WrapperState) -> Any:
        return state.env_state


# -- stateless --------------------------------------------------------------------


class AutoReset(Wrapper):
    """Resets an episode the step it ends.

    The returned observation is the first one of the new episode; the last
    observation of the finished episode is kept in ``info["final_observation"]``
    (for every step, equal to ``obs`` when no reset happened) so learners can
    bootstrap at a time-limit truncation; games also get ``info["final_player"]``. ``reward``, ``terminated`` and
    ``truncated`` belong to the finished step.
    """

    def step_env(self, key, state, action, params) -> StepResult:
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, truncated, info = self._env.step_env(
            key_step, state, action, params
        )
        obs_reset, state_reset = self._env.reset_env(key_reset, params)
        done = jnp.logical_or(terminated, truncated)
        # Select leaf-wise rather than lax.cond so the wrapper stays cheap under vmap.
        state_out = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_reset, state_step)
        obs_out = jnp.where(done, obs_reset, obs_step)
        info = dict(info)
        info["final_observation"] = obs_step
        if self._env.num_players > 1:
            # Who would move next in the finished step's state: zero-sum learners
            # need it to orient the bootstrap value at a truncation.
            info["final_player"] = self._env.current_player(state_step, params)
        return obs_out, state_out, reward, terminated, truncated, info


class FlattenObservation(Wrapper):
    """Reshapes observations to one dimension."""

    def reset_env(self, key, params):
        obs, state = self._env.reset_env(key, params)
        return obs.reshape(-1), state

    def step_env(self, key, state, action, params) -> StepResult:
        obs, state, reward, terminated, truncated, info = self._env.step_env(key, state, action, params)
        if "final_observation" in info:
            info = dict(info, final_observation=info["final_observation"].reshape(-1))
        return obs.reshape(-1), state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self._env.observation_space(params)
        size = math.prod(space.shape)
        return spaces.Box(space.low.reshape(-1), space.high.reshape(-1), (size,), space.dtype)


class MaterialReward(Wrapper):
    """Adds ``coef`` times the change of each seat's material balance to its reward on every move of
    a two-player game that counts material (``env.material(state, params) -> float32[2]``, each
    seat's; Shogi's piece values), so captures pay before the game is decided.

    Zero-sum (the seats' extras are opposite) and a difference of one potential, the balance, so it
    telescopes over a game. The move that ends a game gets none: the result alone decides who won.
    """

    def __init__(self, env: Environment, coef: float):
        super().__init__(env)
        if not callable(getattr(env, "material", None)):
            raise ValueError(f"{env.name} counts no material (it has no material(state, params) method)")
        self.coef = coef

    def step_env(self, key, state, action, params) -> StepResult:
        before = self._env.material(state, params)
        obs, next_state, reward, terminated, truncated, info = self._env.step_env(key, state, action, params)
        after = self._env.material(next_state, params)
        gain = (after[0] - after[1]) - (before[0] - before[1])
        extra = jnp.where(terminated | truncated, 0.0, self.coef * gain)
        return obs, next_state, reward + jnp.stack([extra, -extra]), terminated, truncated, info


class ClipAction(Wrapper):
    """Clips continuous actions into the action space's bounds before stepping."""

    def step_env(self, key, state, action, params) -> StepResult:
        space = self._env.action_space(params)
        action = jnp.clip(action, space.low, space.high)
        return self._env.step_env(key, state, action, params)


# -- stateful ---------------------------------------------------------------------


@struct.dataclass
class EpisodeStats:
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStatistics(StatefulWrapper):
    """Tracks return and length of the running episode.

    Adds to ``info``: ``returned_episode`` (an episode finished this step),
    ``returned_episode_returns`` and ``returned_episode_lengths`` (its totals;
    only meaningful where ``returned_episode``). For games with per-seat
    rewards, returns are tracked per seat (shape ``[num_players]``).
    Place it inside `AutoReset`.
    """

    def reset_env(self, key, params):
        obs, env_state = self._env.reset_env(key, params)
        shape = () if self._env.num_players == 1 else (self._env.num_players,)
        stats = EpisodeStats(jnp.zeros(shape, jnp.float32), jnp.zeros((), jnp.int32))
        return obs, WrapperState(env_state, stats)

    def step_env(self, key, state, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step_env(
            key, state.env_state, action, params
        )
        stats = state.extra
        episode_return = stats.episode_return + reward
        episode_length = stats.episode_length + 1
        done = jnp.logical_or(terminated, truncated)
        info = dict(info)
        info["returned_episode"] = done
        info["returned_episode_returns"] = episode_return
        info["returned_episode_lengths"] = episode_length
        new_stats = EpisodeStats(
            jnp.where(done, jnp.zeros_like(episode_return), episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, WrapperState(env_state, new_stats), reward, terminated, truncated, info


@struct.dataclass
class RunningMeanStd:
    """Running mean/variance with Chan's parallel update; ``count`` starts at epsilon."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...], epsilon: float = 1e-4) -> RunningMeanStd:
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.asarray(epsilon, jnp.float32))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Fold in ``batch`` of shape ``[N, *shape]``."""
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
        """``(x - mean) / sqrt(var + epsilon)``."""
        return (x - self.mean) / jnp.sqrt(self.var + epsilon)


class NormalizeObservation(StatefulWrapper):
    """Normalises observations by running mean and standard deviation.

    Statistics are updated with every observation this env instance emits
    (one at a time; under `vmap` each env keeps its own statistics, like
    Gymnasium's per-env wrapper). Place it outside `AutoReset`.
    ``info["final_observation"]`` is normalised with the same statistics.
    """

    def __init__(self, env: Environment, epsilon: float = 1e-8):
        super().__init__(env)
        self.epsilon = epsilon

    def _normalize(self, rms: RunningMeanStd, obs: jax.Array) -> jax.Array:
        return rms.normalize(obs, self.epsilon)

    def reset_env(self, key, params):
        obs, env_state = self._env.reset_env(key, params)
        rms = RunningMeanStd.create(obs.shape).update(obs[None])
        return self._normalize(rms, obs), WrapperState(env_state, rms)

    def step_env(self, key, state, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step_env(
            key, state.env_state, action, params
        )
        rms = state.extra.update(obs[None])
        if "final_observation" in info:
            info = dict(info, final_observation=self._normalize(rms, info["final_observation"]))
        return self._normalize(rms, obs), WrapperState(env_state, rms), reward, terminated, truncated, info

    def observation_space(self, params):
        space = self._env.observation_space(params)
        return spaces.Box(-jnp.inf, jnp.inf, space.shape, jnp.float32)


@struct.dataclass
class RewardNormState:
    rms: RunningMeanStd
    discounted_return: jax.Array


class NormalizeReward(StatefulWrapper):
    """Scales rewards by the running standard deviation of the discounted return.

    The discounted return accumulates ``G_t = gamma * G_{t-1} + r_t`` within an
    episode (``G`` restarts at 0 after a terminated or truncated step); its
    running variance is updated every step and rewards are divided by its std.
    ``info["raw_reward"]`` keeps the unscaled reward.
    """

    def __init__(self, env: Environment, gamma: float = 0.99, epsilon: float = 1e-8):
        super().__init__(env)
        self.gamma = gamma
        self.epsilon = epsilon

    def reset_env(self, key, params):
        obs, env_state = self._env.reset_env(key, params)
        extra = RewardNormState(RunningMeanStd.create(()), jnp.zeros((), jnp.float32))
        return obs, WrapperState(env_state, extra)

    def step_env(self, key, state, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step_env(
            key, state.env_state, action, params
        )
        extra = state.extra
        discounted = extra.discounted_return * self.gamma + reward
        rms = extra.rms.update(discounted[None])
        done = jnp.logical_or(terminated, truncated)
        new_extra = RewardNormState(rms, jnp.where(done, 0.0, discounted))
        info = dict(info, raw_reward=reward)
        scaled = reward / jnp.sqrt(rms.var + self.epsilon)
        return obs, WrapperState(env_state, new_extra), scaled, terminated, truncated, info
