"""The algorithms ``--algo`` can name: each entry builds an `jaxrl.algorithm.Algorithm` from its config.

Adding an algorithm is a folder (``jaxrl/<name>/``) with a config dataclass and
a ``make(config)``, an entry here, and a field of that config in `jaxrl.config.TrainConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxrl import ppo
from jaxrl.algorithm import Algorithm
from jaxrl.errors import ConfigError

ALGORITHMS: dict[str, Callable[[Any], Algorithm]] = {
    "ppo": ppo.make,
}


def make_algorithm(name: str, config: Any) -> Algorithm:
    """The algorithm ``name`` built for ``config`` (its own config dataclass)."""
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name](config)


__all__ = ["ALGORITHMS", "make_algorithm"]
