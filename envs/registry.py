"""Name -> environment registry: ``make("CartPole-v1") -> (env, params)``.

Entries are import paths, so an env's module (and any optional library it
needs) is imported only when that env is made.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any

from envs.core import Environment

_REGISTRY: dict[str, str] = {}


def register(name: str, entry_point: str) -> None:
    """Register ``name`` -> ``"package.module:ClassName"`` (constructed with no arguments)."""
    if name in _REGISTRY and _REGISTRY[name] != entry_point:
        raise ValueError(f"environment {name!r} is already registered to {_REGISTRY[name]}")
    _REGISTRY[name] = entry_point


def registered_names() -> list[str]:
    """Every registered environment name, sorted."""
    return sorted(_REGISTRY)


def closest_names(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``name`` (case-insensitive)."""
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[m] for m in matches]


def unknown_env_message(name: str) -> str:
    close = closest_names(name, registered_names())
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "no close match"
    return (
        f"unknown environment {name!r}: {hint} "
        f"(registered: {', '.join(registered_names())}; "
        "gymnax envs as 'gymnax:<name>', pgx games as 'pgx:<id>', Brax envs as 'brax:<name>')"
    )


def make(name: str, **param_overrides: Any) -> tuple[Environment, Any]:
    """Build a registered environment and its params, with field overrides applied.

    ``make("gymnax:<name>")`` wraps a gymnax environment through the adapter, ``make("pgx:<id>")``
    a pgx game (`envs.adapters.pgx`), ``make("brax:<name>")`` a Brax env (`envs.adapters.brax`);
    ``make("package.module:ClassName")`` builds a user's own Environment subclass.
    Raises ValueError naming the closest names for an unknown ``name``, and the
    valid fields for an unknown override.
    """
    if name.startswith("gymnax:"):
        from envs.adapters.gymnax import make_gymnax

        env, params = make_gymnax(name.split(":", 1)[1])
    elif name.startswith("pgx:"):
        from envs.adapters.pgx import make_pgx

        env, params = make_pgx(name.split(":", 1)[1])
    elif name.startswith("brax:"):
        from envs.adapters.brax import make_brax

        env, params = make_brax(name.split(":", 1)[1])
    else:
        if name in _REGISTRY:
            entry_point = _REGISTRY[name]
        elif ":" in name:
            entry_point = name
        else:
            raise ValueError(unknown_env_message(name))
        env = _construct(entry_point)
        params = env.default_params
    return env, override_params(name, params, param_overrides)


def _construct(entry_point: str) -> Environment:
    module_name, _, class_name = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot load environment {entry_point!r}: {error}") from None
    if not hasattr(module, class_name):
        envs_there = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, Environment)]
        close = closest_names(class_name, envs_there, n=1)
        hint = f"did you mean '{module_name}:{close[0]}'?" if close else f"its environments: {', '.join(envs_there) or 'none'}"
        raise ValueError(f"cannot load environment {entry_point!r}: {module_name} has no {class_name!r}; {hint}")
    cls = getattr(module, class_name)
    env = cls()
    if not isinstance(env, Environment):
        # ValueError, like every other bad name given to `make`: callers catch one kind.
        raise ValueError(f"{entry_point!r} is not an envs.Environment subclass")  # noqa: TRY004
    return env


def override_params(name: str, params: Any, overrides: dict[str, Any]) -> Any:
    if not overrides:
        return params
    valid = [f.name for f in dataclasses.fields(params)]
    unknown = [k for k in overrides if k not in valid]
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for {name}; valid parameters: {', '.join(valid)}"
        )
    return params.replace(**overrides)


for _name, _entry in {
    "CartPole-v1": "envs.classic_control.cartpole:CartPole",
    "Acrobot-v1": "envs.classic_control.acrobot:Acrobot",
    "MountainCar-v0": "envs.classic_control.mountain_car:MountainCar",
    "MountainCarContinuous-v0": "envs.classic_control.continuous_mountain_car:ContinuousMountainCar",
    "Pendulum-v1": "envs.classic_control.pendulum:Pendulum",
    "ConnectFour-v0": "envs.games.connect_four:ConnectFour",
    "Shogi-v0": "envs.games.shogi:Shogi",
    "Triangles-v0": "envs.puzzles.triangles:Triangles",
}.items():
    register(_name, _entry)
