"""Run a Brax (>= 0.14) environment through our `Environment` contract: ``envs.make("brax:<name>")``.

brax is imported only inside `make_brax`, so nothing else in `envs` needs it installed.
"""

from __future__ import annotations

import difflib
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment, StepResult, time_limit

ADAPTER_VERSION = 1
"""Bumped when the adapter's own behaviour changes (Brax's envs carry no version; `BraxEnv.brax_version` says
which Brax ran)."""

INSTALL_HINT = 'pip install -e ".[brax]"'
MIN_VERSION = (0, 14)


@struct.dataclass
class BraxParams:
    """The adapter's one parameter; Brax's envs take theirs at construction."""

    max_steps_in_episode: int = 1000  # the time limit: Brax's `episode_length`, its training default


@struct.dataclass
class BraxState:
    """One episode: Brax's own state as its raw env steps it, and the steps taken so far.

    brax_state: the ``brax.envs.State`` (``obs``, ``reward``, ``done`` and ``metrics`` of the last step,
        and the physics state).
    steps: ``int32[]``, steps taken in this episode (what Brax's `EpisodeWrapper` keeps as ``info["steps"]``).
    """

    brax_state: Any
    steps: jax.Array


class BraxEnv(Environment[BraxState, BraxParams]):
    """A Brax environment seen through our contract (its raw env, none of Brax's training wrappers).

    - ``terminated``: Brax's own ``done`` of the step, i.e. the env's termination rule (Ant and Hopper
      when unhealthy, ...); Brax's raw envs never end on time.
    - ``truncated``: ``max_steps_in_episode`` steps taken and not terminated on that step, the rule of
      Brax's `EpisodeWrapper` (its ``info["truncation"]``): the two flags are never both set.
    - Actions: ``Box(-1, 1, [action_size])``, as Brax's policies emit them; the env applies them as given.
    - Observation: Brax's ``float32[observation_size]``; reward Brax's, as float32.
    - ``info``: Brax's per-step ``metrics`` (reward terms, velocities, ...), unchanged.
    - The key of `step` is unused: Brax's raw steps are deterministic (`reset` uses its key).

    Like every env here it never resets; `envs.wrappers.AutoReset` does.
    """

    version = ADAPTER_VERSION

    def __init__(self, brax_env: Any, name: str, brax_version: str = "?"):
        self.brax_env = brax_env
        self.name = f"brax:{name}"
        self.brax_version = brax_version
        # The spaces from the shapes of one reset, traced but not run (Brax's own `observation_size` runs a
        # reset op by op, seconds on a CPU).
        shapes = jax.eval_shape(brax_env.reset, jax.random.PRNGKey(0))
        if not isinstance(shapes.obs, jax.ShapeDtypeStruct) or shapes.obs.ndim != 1:
            raise ValueError(
                f"brax:{name} observes {jax.tree.map(lambda x: x.shape, shapes.obs)}; "
                "the adapter takes flat vector observations only"
            )
        self._obs_size = int(shapes.obs.shape[0])
        self._action_size = int(brax_env.action_size)

    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        # Copies give every leaf its own buffer: Brax's resets put one zeros array under several fields
        # (reward, done, metrics), which a jit donating the state refuses when reset ran outside a jit.
        inner = jax.tree.map(jnp.array, self.brax_env.reset(key))
        return inner.obs, BraxState(inner, jnp.zeros((), jnp.int32))

    def step_env(self, key: jax.Array, state: BraxState, action: Any, params: BraxParams) -> StepResult:
        inner = self.brax_env.step(state.brax_state, jnp.asarray(action, jnp.float32))
        steps = state.steps + 1
        terminated = inner.done != 0
        truncated = time_limit(steps, params.max_steps_in_episode) & ~terminated
        reward = jnp.asarray(inner.reward, jnp.float32)
        return inner.obs, BraxState(inner, steps), reward, terminated, truncated, dict(inner.metrics)

    def observation_space(self, params: BraxParams) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._obs_size,), jnp.float32)

    def action_space(self, params: BraxParams) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._action_size,), jnp.float32)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:2]:
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def make_brax(name: str) -> tuple[BraxEnv, BraxParams]:
    """``brax.envs.get_environment(name)`` (its default backend) wrapped in `BraxEnv`; returns ``(env, params)``."""
    try:
        import brax
        import brax.envs
    except ModuleNotFoundError as error:
        # brax itself, or one of its own imports (mujoco, mujoco-mjx, ...).
        missing = error.name or "brax"
        raise ImportError(f"brax environments need {missing!r}: {INSTALL_HINT}") from None
    found = str(getattr(brax, "__version__", "?"))
    if _version_tuple(found) < MIN_VERSION:
        raise ImportError(f"brax environments need brax >= 0.14, found {found}: {INSTALL_HINT}")
    # Brax keeps its registry (built-in envs and `register_environment`'s) in this dict; it has no public list.
    available = sorted(getattr(brax.envs, "_envs", {}))
    if name not in available:
        close = difflib.get_close_matches(name, available, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(f'brax:{c}') for c in close)}?" if close else "no close match"
        raise ValueError(f"unknown brax environment {name!r}: {hint} (available: {', '.join(available)})")
    env = BraxEnv(brax.envs.get_environment(name), name, found)
    return env, env.default_params
