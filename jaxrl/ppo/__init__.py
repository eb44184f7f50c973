"""PPO as a pure, embeddable train step (discrete, continuous and masked actions)."""

from jaxrl.ppo.config import PRESETS, PPOConfig, preset, validate
from jaxrl.ppo.gae import gae
from jaxrl.ppo.learner import (
    CHECKED_METRICS,
    METRICS,
    PPO,
    Batch,
    PPOState,
    Transition,
    build_env,
    build_network,
    make,
)
from jaxrl.ppo.losses import LossInfo, ppo_loss

__all__ = [
    "CHECKED_METRICS", "METRICS", "PPO", "PRESETS", "Batch", "LossInfo", "PPOConfig", "PPOState", "Transition",
    "build_env", "build_network", "gae", "make", "ppo_loss", "preset", "validate",
]
