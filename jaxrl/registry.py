"""The algorithms ``--algo`` can name, and what the run layer needs to know of each.

Adding an algorithm is a folder (``jaxrl/<name>/``) with a config dataclass, a
``make(config)``, a ``preset(env)`` and a ``validate(config, num_devices)``;
an entry here; and a field of that config, named like the entry, in
`jaxrl.config.TrainConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jaxrl import alphazero, ppo
from jaxrl.algorithm import Algorithm
from jaxrl.errors import ConfigError


@dataclass(frozen=True)
class AlgorithmEntry:
    """One algorithm as the run layer sees it: its config type and the functions on it."""

    make: Callable[[Any], Algorithm]
    """Builds the algorithm from its config."""
    config: type
    """The frozen config dataclass; its fields are the algorithm's command-line flags (unprefixed)."""
    preset: Callable[[str], Any]
    """The config for an env with that env's preset hyperparameters."""
    validate: Callable[[Any, int], None]
    """Raises `ConfigError` (one line) when a config cannot run on that many devices."""
    description: str
    """One line for ``--help``."""

    @property
    def default_env(self) -> str:
        return self.config.env


ALGORITHMS: dict[str, AlgorithmEntry] = {
    "ppo": AlgorithmEntry(
        ppo.make, ppo.PPOConfig, ppo.preset, ppo.validate,
        "Proximal Policy Optimisation (self-play for two-player games)",
    ),
    "alphazero": AlgorithmEntry(
        alphazero.make, alphazero.AlphaZeroConfig, alphazero.preset, alphazero.validate,
        "AlphaZero: batched Gumbel/PUCT tree search (mctx) on the env, on-device replay",
    ),
}


def algorithm_entry(name: str) -> AlgorithmEntry:
    if name not in ALGORITHMS:
        import difflib

        close = difflib.get_close_matches(str(name), sorted(ALGORITHMS), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"--algo {name!r} is not an algorithm; {hint}choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


def make_algorithm(name: str, config: Any) -> Algorithm:
    """The algorithm ``name`` built for ``config`` (its own config dataclass)."""
    return algorithm_entry(name).make(config)


__all__ = ["ALGORITHMS", "AlgorithmEntry", "algorithm_entry", "make_algorithm"]
