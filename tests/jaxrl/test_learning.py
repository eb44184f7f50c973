"""Learning tests: PPO reaches published returns (CPU, seeds vmapped in one program).

CartPole runs in CI; Pendulum and Acrobot are longer and marked slow
(`python -m pytest -m slow tests/jaxrl/test_learning.py`).
"""

import jax
import numpy as np
import pytest

from jaxrl import ppo
from jaxrl.config import PPOConfig, preset


def final_returns(config: PPOConfig, num_seeds: int, tail_fraction: float = 0.05) -> np.ndarray:
    """Per-seed mean episode return over the last ``tail_fraction`` of updates."""
    algo = ppo.make(config)
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    _, metrics = jax.jit(jax.vmap(algo.train))(keys)
    returns = np.asarray(metrics["episode_return"])  # [seeds, updates]; NaN where no episode ended
    tail = max(1, int(returns.shape[1] * tail_fraction))
    return np.nanmean(returns[:, -tail:], axis=1)


def test_cartpole_default_config_solves_over_four_seeds():
    returns = final_returns(PPOConfig(), num_seeds=4)
    print("CartPole-v1 final returns per seed:", returns)
    assert np.all(np.isfinite(returns))
    assert returns.mean() >= 475, returns


@pytest.mark.slow
def test_pendulum_preset_reaches_minus_300():
    returns = final_returns(preset("Pendulum-v1"), num_seeds=4)
    print("Pendulum-v1 final returns per seed:", returns)
    assert returns.mean() >= -300, returns


@pytest.mark.slow
def test_acrobot_preset_reaches_minus_100():
    returns = final_returns(preset("Acrobot-v1"), num_seeds=4)
    print("Acrobot-v1 final returns per seed:", returns)
    assert returns.mean() >= -100, returns


@pytest.mark.slow
def test_cartpole_solves_with_the_gpu_network_path():
    """GPUs run narrow layers as multiply-adds (`networks.Dense`); forced here, learning is unchanged."""
    config = PPOConfig(narrow_matmuls="on")
    assert ppo.make(config).network.narrow_matmuls
    returns = final_returns(config, num_seeds=2)
    print("CartPole-v1 final returns per seed (narrow matmuls):", returns)
    assert np.all(np.isfinite(returns))
    assert returns.mean() >= 475, returns


def test_cartpole_solves_with_the_fused_gradient():
    """The GPU path, forced on the CPU: fused gradient kernels (interpreted here) and narrow layers as multiply-adds."""
    config = PPOConfig(fused_gradient="on", narrow_matmuls="on")
    assert ppo.make(config).fused_gradient
    returns = final_returns(config, num_seeds=2)
    print("CartPole-v1 final returns per seed (fused gradient):", returns)
    assert np.all(np.isfinite(returns))
    assert returns.mean() >= 475, returns
