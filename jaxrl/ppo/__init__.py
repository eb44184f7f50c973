"""PPO as a pure, embeddable train step (discrete, continuous and masked actions)."""

from jaxrl.ppo.gae import gae
from jaxrl.ppo.learner import PPO, Batch, PPOState, Transition, build_env, build_network, make
from jaxrl.ppo.losses import LossInfo, ppo_loss

__all__ = ["PPO", "Batch", "LossInfo", "PPOState", "Transition", "build_env", "build_network", "gae", "make", "ppo_loss"]
