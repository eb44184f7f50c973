"""Pure-functional JAX environments, gymnax-1.0 compatible (no dependency on `jaxrl`)::

    env, params = envs.make("CartPole-v1")  # or "ConnectFour-v0", "Shogi-v0", "Triangles-v0", "gymnax:<name>"
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

The environment classes are imported on first use, as `make` imports an env's
module only when that env is made, so ``import envs`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from envs import spaces, wrappers
from envs.core import Environment, StepResult
from envs.games.base import TwoPlayerGame
from envs.registry import make, register, registered_names

if TYPE_CHECKING:
    from envs.classic_control.acrobot import Acrobot
    from envs.classic_control.cartpole import CartPole
    from envs.classic_control.continuous_mountain_car import ContinuousMountainCar
    from envs.classic_control.mountain_car import MountainCar
    from envs.classic_control.pendulum import Pendulum
    from envs.games.connect_four import ConnectFour
    from envs.games.shogi import Shogi
    from envs.puzzles.triangles import Triangles

_LAZY_CLASSES = {
    "Acrobot": "envs.classic_control.acrobot",
    "CartPole": "envs.classic_control.cartpole",
    "ContinuousMountainCar": "envs.classic_control.continuous_mountain_car",
    "MountainCar": "envs.classic_control.mountain_car",
    "Pendulum": "envs.classic_control.pendulum",
    "ConnectFour": "envs.games.connect_four",
    "Shogi": "envs.games.shogi",
    "Triangles": "envs.puzzles.triangles",
}

__all__ = [
    "Acrobot",
    "CartPole",
    "ConnectFour",
    "ContinuousMountainCar",
    "Environment",
    "MountainCar",
    "Pendulum",
    "Shogi",
    "StepResult",
    "Triangles",
    "TwoPlayerGame",
    "make",
    "register",
    "registered_names",
    "spaces",
    "wrappers",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_CLASSES:
        value = getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_CLASSES))
