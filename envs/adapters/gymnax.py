"""Run a gymnax environment through our `Environment` contract (terminated/truncated split).

gymnax is imported only inside `make_gymnax`, so nothing else in `envs` needs it installed.
"""

from __future__ import annotations

import difflib
from typing import Any

import jax.numpy as jnp
import numpy as np

from envs import spaces
from envs.core import Environment, time_limit


class GymnaxEnv(Environment):
    """A gymnax environment seen through our contract; like gymnax's own `step_env`, it never resets.

    The episode-end rule: ``truncated = state.time >= params.max_steps_in_episode`` (the time limit,
    measured on the state after the step, as gymnax does). ``terminated`` is the true end:

    - gymnax >= 1.0 (envs have ``is_truncated``): the done flag of ``step_env`` already excludes
      the time limit, so it is ``terminated`` as is; both flags are true when an episode ends
      naturally on its last allowed step, as with Gymnasium's TimeLimit.
    - older gymnax folds the time limit into done, so ``terminated = done & ~truncated``; there a
      natural end on the last allowed step is reported as a truncation only.

    Rewards are cast to float32, the flags to bool; observations and ``info`` pass through.
    """

    version = 0  # behaviour is gymnax's own; the adapter adds no dynamics

    def __init__(self, gymnax_env: Any, name: str):
        self.gymnax_env = gymnax_env
        self.name = name
        self._done_includes_time_limit = not hasattr(gymnax_env, "is_truncated")

    @property
    def default_params(self) -> Any:
        return self.gymnax_env.default_params

    def reset_env(self, key, params):
        return self.gymnax_env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = self.gymnax_env.step_env(key, state, action, params)
        truncated = jnp.asarray(time_limit(state.time, params.max_steps_in_episode), bool)
        terminated = jnp.asarray(done, bool)
        if self._done_includes_time_limit:
            terminated = terminated & ~truncated
        return obs, state, jnp.asarray(reward, jnp.float32), terminated, truncated, dict(info)

    def observation_space(self, params):
        return convert_space(self.gymnax_env.observation_space(params))

    def action_space(self, params):
        return convert_space(self.gymnax_env.action_space(params))


def convert_space(space: Any) -> Any:
    """gymnax ``Discrete``/``Box`` -> ours; other kinds (Dict, Tuple) are returned unchanged."""
    kind = type(space).__name__
    if kind == "Discrete":
        return spaces.Discrete(int(space.n), space.dtype)
    if kind == "Box":
        return spaces.Box(np.asarray(space.low), np.asarray(space.high), tuple(space.shape), space.dtype)
    return space


def make_gymnax(name: str, **env_kwargs: Any) -> tuple[GymnaxEnv, Any]:
    """``gymnax.make(name)`` wrapped in `GymnaxEnv`; returns ``(env, default params)``."""
    try:
        import gymnax
    except ModuleNotFoundError as error:
        # gymnax itself, or one of its own imports (gymnax 1.0.1 needs `six` without declaring it).
        missing = error.name
        raise ImportError(f"gymnax environments need {missing!r}: pip install 'gymnax>=1.0' six") from error
    if name not in gymnax.registered_envs:
        close = difflib.get_close_matches(name, gymnax.registered_envs, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(f'gymnax:{c}') for c in close)}?" if close else "no close match"
        raise ValueError(f"unknown gymnax environment {name!r}: {hint} (gymnax.registered_envs lists them)")
    gymnax_env, params = gymnax.make(name, **env_kwargs)
    return GymnaxEnv(gymnax_env, f"gymnax:{name}"), params
