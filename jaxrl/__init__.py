"""jaxrl: JAX-native reinforcement learning.

The front door: algorithms and their configs, the run configuration, the
host loop (`build_trainer`, `Trainer`), callbacks, and loading trained runs.
Everything listed in ``__all__`` is public; other names are internal.

    import jaxrl
    algo = jaxrl.ppo.make(jaxrl.PPOConfig(env="CartPole-v1"))
    state, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0))
"""

from jaxrl import games, ppo, seats
from jaxrl.algorithm import Algorithm
from jaxrl.backend import Backend
from jaxrl.config import ConfigError, TrainConfig
from jaxrl.ppo import PPO, PPOConfig, PPOState, preset
from jaxrl.registry import ALGORITHMS, make_algorithm
from jaxrl.run import (
    Callback,
    CheckpointCallback,
    CheckpointError,
    EarlyStopCallback,
    EvaluationCallback,
    GameEvaluationCallback,
    Trainer,
    build_trainer,
    load_policy,
    restore_run,
)
from jaxrl.version import __version__

__all__ = [
    "ALGORITHMS", "Algorithm", "Backend", "Callback", "CheckpointCallback", "CheckpointError", "ConfigError",
    "EarlyStopCallback", "EvaluationCallback", "GameEvaluationCallback", "PPO", "PPOConfig", "PPOState",
    "TrainConfig", "Trainer", "__version__", "build_trainer", "games", "load_policy", "make_algorithm", "ppo",
    "preset", "restore_run", "seats",
]
