"""Slow: AlphaZero learns Connect Four on a CPU well enough to beat uniform random play from both seats."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrl import alphazero
from jaxrl.games import both_seats, from_opponent, random_opponent

# Small enough for a CPU: few simulations, a narrow net. The evaluation searches as little as self-play
# does, so that the search alone (an untrained net with 8 simulations) does not already beat random play.
CONFIG = alphazero.preset(
    "ConnectFour-v0", total_timesteps=64 * 16 * 150, num_envs=64, num_steps=16, num_simulations=16,
    eval_num_simulations=8, channels=32, num_blocks=2, buffer_capacity=65_536, min_buffer_size=1024,
    batch_size=256, train_steps=8, lr=2e-3,
)
GAMES = 200  # per seat


def win_rates(algo, params, key) -> np.ndarray:
    """The greedy agent's win rate against uniform random play, as black and as white."""
    env, env_params = algo.eval_env()

    def match(params, key):
        policy = algo.agent_policy(params, greedy=True)
        return both_seats(env, env_params, policy, from_opponent(random_opponent()), key, GAMES, 42)

    return np.asarray(jax.jit(match)(params, key)["wins"]) / GAMES


@pytest.mark.slow
def test_beats_random_play_from_both_seats():
    algo = alphazero.make(CONFIG)
    untrained = win_rates(algo, algo.agent(jax.jit(algo.init)(jax.random.PRNGKey(0))), jax.random.PRNGKey(1))
    state, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0))
    assert np.isfinite(np.asarray(metrics["total_loss"])).all()
    trained = win_rates(algo, algo.agent(state), jax.random.PRNGKey(1))
    assert (trained >= 0.9).all(), (untrained, trained)
    assert trained.mean() > untrained.mean(), (untrained, trained)
