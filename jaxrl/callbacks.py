"""Callbacks run by the host loop at epoch boundaries: evaluation, early stop, checkpoints.

A callback may return extra metrics (merged into the epoch's last record) and
may ask the loop to stop. One that raises is reported once and disabled by
the loop; training goes on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

if TYPE_CHECKING:
    from jaxrl.loop import Trainer


class Callback:
    """Override what you need; ``trainer`` gives the state, counters and `request_stop`."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        """``reason``: 'done', 'stopped' (stop request or early stop) or 'error' (nothing is saved)."""


class EvaluationCallback(Callback):
    """Every ``every`` epochs, the deterministic policy plays ``episodes`` fresh episodes.

    Logs ``eval/episode_return`` (mean over episodes and seeds) and
    ``eval/episode_length``; with several seeds also ``eval/episode_return_std``
    across seeds.
    """

    def __init__(self, every: int, episodes: int, seed: int = 0):
        self.every = every
        self.episodes = episodes
        self._key = jax.random.PRNGKey(seed + 1_000_003)
        self._evaluate = None

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        if trainer.epoch % self.every and not trainer.is_last_epoch:
            return None
        if self._evaluate is None:
            from jaxrl.evaluate import make_evaluator

            evaluate = make_evaluator(trainer.algo, self.episodes)
            self._evaluate = jax.jit(jax.vmap(evaluate, in_axes=(0, 0, None))) if trainer.num_seeds > 1 else evaluate
        self._key, key = jax.random.split(self._key)
        state = trainer.state
        stats = (jax.vmap(trainer.algo.observation_statistics) if trainer.num_seeds > 1
                 else trainer.algo.observation_statistics)(state.env_state)
        result = jax.device_get(self._evaluate(state.params, stats, key))
        per_seed = np.asarray(result["return"]).reshape(trainer.num_seeds, -1).mean(axis=1)
        out = {
            "eval/episode_return": float(per_seed.mean()),
            "eval/episode_length": float(np.mean(result["length"])),
        }
        if trainer.num_seeds > 1:
            out["eval/episode_return_std"] = float(per_seed.std())
        return out


class EarlyStopCallback(Callback):
    """Stops the run once the monitored metric reaches ``target`` (eval return if present)."""

    def __init__(self, target: float, metric: str = "episode_return"):
        self.target = target
        self.metric = metric

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        value = record.get(f"eval/{self.metric}", record.get(self.metric))
        if value is not None and math.isfinite(value) and value >= self.target:
            trainer.request_stop(f"early stop: {self.metric} {value:.4g} >= target {self.target:.4g}", exit_code=0)
        return None


class CheckpointCallback(Callback):
    """Saves every ``every`` epochs, at the end, and on a stop request; keeps the best-evaluated one.

    Reports the seconds the loop was blocked by each save as ``checkpoint_seconds``.
    """

    def __init__(self, every: int):
        self.every = every
        self.best = -math.inf

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if self.every > 0 and trainer.epoch % self.every == 0 and not trainer.is_last_epoch:
            out["checkpoint_seconds"] = trainer.save_checkpoint()
        value = record.get("eval/episode_return")
        if value is not None and math.isfinite(value) and value > self.best:
            self.best = value
            trainer.save_checkpoint(best=True)
        return out or None

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        if reason in ("done", "stopped"):
            trainer.save_checkpoint()
