"""Every registered algorithm implements the contract the run layer relies on (`jaxrl.algorithm`)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algorithm import Algorithm
from jaxrl.config import TrainConfig
from jaxrl.registry import ALGORITHMS, make_algorithm
from jaxrl.run.evaluation import make_evaluator

# A tiny config of each algorithm: a few updates of a small batch.
TINY = {
    "ppo": dict(total_timesteps=4 * 8 * 3, num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1),
    "alphazero": dict(total_timesteps=4 * 4 * 3, num_envs=4, num_steps=4, num_simulations=2, eval_num_simulations=2,
                      max_num_considered_actions=2, channels=4, num_blocks=1, buffer_capacity=512, min_buffer_size=0,
                      batch_size=8, train_steps=1),
}


@pytest.fixture(params=sorted(ALGORITHMS))
def algo(request):
    assert request.param in TINY, f"add a tiny config of {request.param} to TINY"
    config = getattr(TrainConfig(), request.param).replace(**TINY[request.param])
    return make_algorithm(request.param, config)


def test_the_contract_is_implemented(algo):
    assert isinstance(algo, Algorithm)
    assert algo.name in ALGORITHMS
    assert algo.num_updates == 3 and algo.steps_per_update > 0
    assert set(algo.checked_metrics) and set(algo.env_batch_fields)
    assert algo.backend.platform == jax.default_backend()
    assert isinstance(algo.describe(), str) and algo.describe()


def test_train_from_runs_active_updates_only(algo):
    state = algo.init(jax.random.PRNGKey(0))
    for field in algo.env_batch_fields:  # the leaves a device mesh splits really carry the env batch
        chex.assert_tree_shape_prefix(getattr(state, field), (algo.config.num_envs,))
    epoch = jax.jit(algo.train_from, static_argnums=1)
    after, metrics = epoch(state, 3, jnp.int32(2))
    assert int(after.update) == 2 and algo.env_steps(after) == 2 * algo.steps_per_update
    chex.assert_shape(metrics["update"], (3,))
    np.testing.assert_array_equal(metrics["update"], [1, 2, 0])
    assert set(metrics) == set(algo.metric_names) and set(algo.checked_metrics) <= set(algo.metric_names)
    for name in algo.checked_metrics:
        assert np.isfinite(metrics[name][:2]).all() and np.isnan(metrics[name][2]), name
    # The inactive update left the state as it was: two active updates equal two plain ones.
    two, _ = jax.jit(algo.train_from, static_argnums=1)(state, 2)
    chex.assert_trees_all_equal(after, two)


def test_agent_policy_plays_the_eval_env(algo):
    state = algo.init(jax.random.PRNGKey(1))
    result = make_evaluator(algo, num_episodes=3)(algo.agent(state), jax.random.PRNGKey(2))
    chex.assert_shape((result["return"], result["length"]), (3,))
    assert (np.asarray(result["length"]) > 0).all()
