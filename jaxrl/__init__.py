"""jaxrl: JAX-native reinforcement learning. The learning side (PPO, host loop, checkpoints)."""

__version__ = "0.1.0"
