"""The functional environment contract (gymnax-1.0 compatible signatures).

An `Environment` holds no mutable state: everything lives in `state` and
`params` pytrees, so `reset`/`step` are pure and can be `jit`-ed and `vmap`-ed.
`step` does *not* reset; the `AutoReset` wrapper (envs.wrappers) owns that.

    env.default_params                      -> params
    env.reset(key, params)                  -> obs, state
    env.step(key, state, action, params)    -> obs, state, reward, terminated, truncated, info
    env.observation_space(params), env.action_space(params)

Games additionally expose `action_mask(state, params)` (legal actions of the
player to move, available before acting), `current_player(state, params)` and
`num_players`; single-agent envs return ``None`` for the mask, except puzzles
with legal moves (`envs.puzzles.triangles`), which give one. Two-seat games
subclass `envs.games.base.TwoPlayerGame`, which owns their terminal rules.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp

from envs import spaces

TEnvState = TypeVar("TEnvState")
TEnvParams = TypeVar("TEnvParams")

StepResult = tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


class Environment(Generic[TEnvState, TEnvParams]):
    """Base class: subclasses write only `reset_env`, `step_env` and the spaces.

    Class attributes every env sets:
        name: registered name, e.g. "CartPole-v1".
        version: bumped whenever behaviour changes (dynamics, rewards, obs).
        num_players: 1 for single-agent envs; games set 2.
        episode_metrics: keys of ``info`` whose value on an episode's last step describes the
            whole episode (a puzzle's game score); learners report their mean over finished
            episodes as ``episode_<key>``.
    """

    name: str = "Environment"
    version: int = 0
    num_players: int = 1
    episode_metrics: tuple[str, ...] = ()

    # -- what subclasses implement -------------------------------------------------
    @property
    def default_params(self) -> TEnvParams:
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: TEnvParams) -> tuple[jax.Array, TEnvState]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: TEnvState, action: Any, params: TEnvParams) -> StepResult:
        """One transition. Returns ``obs, state, reward, terminated, truncated, info``.

        ``terminated`` is a true end of the episode (no bootstrap);
        ``truncated`` is a time limit (learners bootstrap from ``obs``).
        Both are boolean scalars; reward is float32.
        """
        raise NotImplementedError

    def observation_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError

    def action_space(self, params: TEnvParams) -> spaces.Space:
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------
    def reset(self, key: jax.Array, params: TEnvParams | None = None) -> tuple[jax.Array, TEnvState]:
        return self.reset_env(key, self.default_params if params is None else params)

    def step(
        self, key: jax.Array, state: TEnvState, action: Any, params: TEnvParams | None = None
    ) -> StepResult:
        return self.step_env(key, state, action, self.default_params if params is None else params)

    def action_mask(self, state: TEnvState, params: TEnvParams | None = None) -> jax.Array | None:
        """Boolean ``[num_actions]`` mask of legal actions, or None when all are legal."""
        return None

    def current_player(self, state: TEnvState, params: TEnvParams | None = None) -> jax.Array:
        """Index of the seat to move (always 0 for single-agent envs)."""
        return jnp.zeros((), jnp.int32)

    @property
    def unwrapped(self) -> Environment:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, version={self.version})"

    def render_frame(self, state: TEnvState, params: TEnvParams | None = None) -> jax.Array:
        """One frame of ``state``, ``uint8[H, W, 3]``, drawn in JAX (jit and vmap it over an episode)."""
        raise NotImplementedError(f"{self.name} has no renderer")

def time_limit(time: jax.Array, max_steps: int | jax.Array) -> jax.Array:
    """Gymnasium's TimeLimit rule: truncated once ``time >= max_steps`` steps were taken."""
    return time >= max_steps
