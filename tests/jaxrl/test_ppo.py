"""PPO end to end on tiny configs: shapes, counters, determinism, vmap over seeds and learning rates."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import ppo
from jaxrl.config import PPOConfig

# 4 envs x 16 steps = 64 env steps per update, 16 updates. Compilation dominates
# the run time, so the compiled functions are shared through module fixtures.
CONFIG = PPOConfig(
    num_envs=4, num_steps=16, total_timesteps=1024, update_epochs=2, num_minibatches=2, hidden_sizes=(8,)
)
NUM_UPDATES = 16
STEPS_PER_UPDATE = 64
KEY0 = jax.random.PRNGKey(0)
KEY1 = jax.random.PRNGKey(1)
LOSS_METRICS = ("total_loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
METRICS = LOSS_METRICS + (
    "explained_variance", "learning_rate", "episodes", "episode_length", "episode_return", "update"
)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def index(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


class CountingUpdate:
    """``jax.jit(algo.update)`` that counts how often it is traced."""

    def __init__(self, algo):
        self.traces = 0

        def update(state):
            self.traces += 1
            return algo.update(state)

        self.jitted = jax.jit(update)

    def __call__(self, state):
        return self.jitted(state)


# XLA without its expensive backend passes while this module compiles (conftest.py).
pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def algo():
    return ppo.make(CONFIG)


@pytest.fixture(scope="module")
def train(algo):
    return jax.jit(algo.train)


@pytest.fixture(scope="module")
def run0(train):
    """``train(KEY0)``: the reference run other tests compare against."""
    return train(KEY0)


@pytest.fixture(scope="module")
def initial_state(algo):
    return jax.jit(algo.init)(KEY0)


@pytest.fixture(scope="module")
def update(algo):
    return CountingUpdate(algo)


# -- shapes -----------------------------------------------------------------------


def test_config_arithmetic():
    assert CONFIG.num_updates == NUM_UPDATES
    assert CONFIG.batch_size == STEPS_PER_UPDATE


def test_init_shapes(algo, initial_state):
    state = initial_state
    assert state.obs.shape == (4, 4) and state.obs.dtype == jnp.float32
    assert state.update.shape == () and state.update.dtype == jnp.int32 and int(state.update) == 0
    chex.assert_tree_shape_prefix(state.env_state, (CONFIG.num_envs,))
    # One hidden layer of width 8 in the actor and in the critic; 2 logits, 1 value.
    shapes = sorted(x.shape for x in jax.tree.leaves(state.params))
    assert shapes == sorted([(4, 8), (8,), (8, 2), (2,), (4, 8), (8,), (8, 1), (1,)])
    assert algo.env_steps(state) == 0


def test_update_shapes_and_scalar_metrics(update, initial_state):
    state, metrics = update(initial_state)
    assert int(state.update) == 1
    assert state.obs.shape == initial_state.obs.shape
    assert set(metrics) == set(METRICS)
    for name, value in metrics.items():
        assert value.shape == (), name
    for name in LOSS_METRICS:
        assert np.isfinite(metrics[name]), name
    # First update of an annealed run uses the full learning rate.
    assert float(metrics["learning_rate"]) == pytest.approx(CONFIG.lr)
    assert int(metrics["update"]) == 1
    # The update changed the parameters and the optimiser state, and moved the RNG on.
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(state.params), leaves(initial_state.params)))
    assert not np.array_equal(state.rng, initial_state.rng)


def test_train_metrics_are_one_scalar_per_update(run0):
    state, metrics = run0
    assert set(metrics) == set(METRICS)
    for name, value in metrics.items():
        assert value.shape == (NUM_UPDATES,), name
    np.testing.assert_array_equal(metrics["update"], np.arange(1, NUM_UPDATES + 1))
    assert int(state.update) == NUM_UPDATES
    # Linear annealing: lr * (1 - u / num_updates) for update index u = 0 .. 15.
    expected_lr = [CONFIG.lr * (1.0 - u / NUM_UPDATES) for u in range(NUM_UPDATES)]
    np.testing.assert_allclose(metrics["learning_rate"], expected_lr, rtol=1e-6)
    for name in LOSS_METRICS:
        assert np.all(np.isfinite(metrics[name])), name
    assert np.all((metrics["clip_fraction"] >= 0) & (metrics["clip_fraction"] <= 1))
    # CartPole under a near-random policy ends episodes within 16 updates; a return equals a length.
    episodes = np.asarray(metrics["episodes"])
    assert episodes.sum() > 0
    finished = episodes > 0
    np.testing.assert_allclose(metrics["episode_return"][finished], metrics["episode_length"][finished])
    assert np.all(np.isnan(metrics["episode_return"][~finished]))


# -- counters -----------------------------------------------------------------------


def test_update_counter_and_env_steps(algo, update, initial_state):
    state = initial_state
    for expected in range(1, 4):
        state, metrics = update(state)
        assert int(state.update) == expected
        assert int(metrics["update"]) == expected
        assert algo.env_steps(state) == expected * CONFIG.num_envs * CONFIG.num_steps


def test_env_steps_after_train(algo, run0):
    state, _ = run0
    assert algo.env_steps(state) == NUM_UPDATES * STEPS_PER_UPDATE == 1024
    assert isinstance(algo.env_steps(state), int)


def test_optimizer_step_count(run0):
    # Adam (and the lr schedule) advance once per minibatch: 16 updates x 2 epochs x 2 minibatches.
    state, _ = run0
    counts = [int(x) for x in jax.tree.leaves(state.opt_state) if jnp.issubdtype(x.dtype, jnp.integer)]
    assert counts and all(c == NUM_UPDATES * CONFIG.update_epochs * CONFIG.num_minibatches for c in counts)


def test_train_equals_repeated_update(update, initial_state, run0):
    state = initial_state
    metrics = []
    for _ in range(NUM_UPDATES):
        state, step_metrics = update(state)
        metrics.append(step_metrics)
    trained_state, trained_metrics = run0
    chex.assert_trees_all_close(state.params, trained_state.params, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(state.rng, trained_state.rng)
    for name in LOSS_METRICS:
        np.testing.assert_allclose([m[name] for m in metrics], trained_metrics[name], rtol=1e-3, atol=1e-5)


def test_update_compiles_once(update, initial_state):
    state = initial_state
    for _ in range(3):
        state, _ = update(state)
    # Traced once across every test that used this fixture (the state's dtypes and
    # weak types do not drift between updates).
    assert update.traces == 1
    if not hasattr(update.jitted, "_cache_size"):
        pytest.skip("jax.jit(...)._cache_size() is not available in this jax version")
    assert update.jitted._cache_size() == 1


def test_rollout_keeps_final_observation_at_time_limit():
    # CartPole cut at 5 steps: truncations happen inside the 16-step rollout.
    algo = ppo.make(CONFIG.replace(env_kwargs=(("max_steps_in_episode", 5),)))
    _, traj = jax.jit(lambda key: algo.rollout(algo.init(key)))(KEY0)
    obs, final_obs = np.asarray(traj.obs), np.asarray(traj.final_obs)
    terminated, truncated = np.asarray(traj.terminated), np.asarray(traj.truncated)
    done = terminated | truncated
    assert obs.shape == final_obs.shape == (16, 4, 4)
    assert truncated.sum() >= 4
    np.testing.assert_array_equal(traj.episode_done, done)
    # Without a reset the final observation is the next step's observation ...
    continuing = ~done[:-1]
    np.testing.assert_array_equal(final_obs[:-1][continuing], obs[1:][continuing])
    # ... after one it is the last observation of the old episode, not the new first one.
    ended = done[:-1]
    assert np.all(np.any(final_obs[:-1][ended] != obs[1:][ended], axis=-1))
    np.testing.assert_array_less(np.abs(obs[1:][ended]), 0.05 + 1e-6)  # CartPole resets in [-0.05, 0.05]
    # Truncated episodes are exactly 5 steps long; every episode is at most 5.
    np.testing.assert_array_equal(traj.episode_length[truncated & ~terminated], 5)
    assert np.all(traj.episode_length[done] <= 5)
    np.testing.assert_array_equal(traj.reward, 1.0)
    np.testing.assert_array_equal(traj.next_sign, 1.0)
    assert traj.mask is None
    assert traj.action.dtype == jnp.int32 and set(np.unique(traj.action)) <= {0, 1}


# -- determinism and seeds ----------------------------------------------------------


def test_same_key_is_bit_exact(train, run0):
    again = train(KEY0)
    chex.assert_trees_all_equal(again, run0)  # NaNs in the same places count as equal


def test_different_keys_give_different_params(train, run0):
    other_state, _ = train(KEY1)
    assert all(not np.array_equal(a, b) for a, b in zip(leaves(other_state.params), leaves(run0[0].params)))


def test_vmap_over_seeds_matches_single_runs(algo, train, run0):
    keys = jnp.stack([KEY0, KEY1])
    states, metrics = jax.jit(jax.vmap(algo.train))(keys)
    assert metrics["policy_loss"].shape == (2, NUM_UPDATES)
    np.testing.assert_array_equal(states.update, [NUM_UPDATES, NUM_UPDATES])
    assert algo.env_steps(states) == NUM_UPDATES * STEPS_PER_UPDATE
    for i, single in enumerate([run0, train(KEY1)]):
        chex.assert_trees_all_close(index(states.params, i), single[0].params, rtol=1e-4, atol=1e-5)
        for name in LOSS_METRICS:
            np.testing.assert_allclose(metrics[name][i], single[1][name], rtol=1e-3, atol=1e-5, err_msg=name)


def test_vmap_over_learning_rate_matches_separate_runs(run0):
    # The documented way: build PPO inside the vmapped function from a config
    # whose lr is a tracer.
    lrs = jnp.asarray([CONFIG.lr, 4 * CONFIG.lr])
    keys = jnp.stack([KEY0, KEY0])
    states, metrics = jax.vmap(lambda lr, key: ppo.make(CONFIG.replace(lr=lr)).train(key))(lrs, keys)
    assert metrics["learning_rate"].shape == (2, NUM_UPDATES)
    np.testing.assert_allclose(metrics["learning_rate"][:, 0], lrs, rtol=1e-6)

    separate = jax.jit(ppo.make(CONFIG.replace(lr=4 * CONFIG.lr)).train)(KEY0)
    for i, single in enumerate([run0, separate]):
        chex.assert_trees_all_close(index(states.params, i), single[0].params, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(metrics["learning_rate"][i], single[1]["learning_rate"], rtol=1e-6)
        for name in LOSS_METRICS:
            np.testing.assert_allclose(metrics[name][i], single[1][name], rtol=1e-3, atol=1e-5, err_msg=name)
    # Same seed, different lr: the runs really differ.
    assert not np.allclose(leaves(index(states.params, 0))[0], leaves(index(states.params, 1))[0])


def test_jit_of_vmap_over_learning_rate_traces():
    lrs = jnp.asarray([CONFIG.lr, 4 * CONFIG.lr])
    keys = jnp.stack([KEY0, KEY0])
    jax.jit(jax.vmap(lambda lr, key: ppo.make(CONFIG.replace(lr=lr)).train(key))).lower(lrs, keys)


@pytest.mark.parametrize(
    "env, hidden", [("CartPole-v1", (16,)), ("Pendulum-v1", (16,)), ("ConnectFour-v0", (16,))]
)
def test_rollout_log_probs_are_the_policys(env, hidden):
    """The rollout computes log-probabilities after its scan: they must be the acting policy's."""
    config = PPOConfig(env=env, num_envs=4, num_steps=16, total_timesteps=64, num_minibatches=2, hidden_sizes=hidden)
    algo = ppo.make(config)
    state, traj = jax.jit(lambda key: algo.rollout(algo.init(key)))(KEY0)
    expected = algo.policy(state.params, traj.obs, traj.mask).log_prob(traj.action)
    assert traj.log_prob.shape == (16, 4)
    np.testing.assert_allclose(traj.log_prob, expected, rtol=1e-6, atol=1e-6)
    assert np.all(np.asarray(traj.log_prob) <= 0.0) or env == "Pendulum-v1"
    if traj.mask is not None:  # masked actions: every action taken was legal
        assert np.all(np.take_along_axis(np.asarray(traj.mask), np.asarray(traj.action)[..., None], -1))


# -- continuous actions -------------------------------------------------------------


def test_pendulum_runs_with_float_actions():
    config = PPOConfig(
        env="Pendulum-v1", num_envs=4, num_steps=16, total_timesteps=128, update_epochs=1, num_minibatches=2,
        hidden_sizes=(8,),
    )
    algo = ppo.make(config)

    @jax.jit
    def rollout_and_train(key):
        _, transitions = algo.rollout(algo.init(key))
        return transitions, algo.train(key)

    transitions, (state, metrics) = rollout_and_train(KEY0)
    actions = np.asarray(transitions.action)
    assert actions.shape == (16, 4, 1)
    assert actions.dtype == np.float32
    # Sampled from a Gaussian: not integers, and spread around zero with std ~ exp(log_std_init) = 1.
    assert np.mean(actions != np.round(actions)) > 0.99
    assert 0.5 < actions.std() < 1.5
    assert np.all(np.isfinite(transitions.log_prob))
    assert transitions.mask is None
    chex.assert_shape(state.params["params"]["log_std"], (1,))
    for name in LOSS_METRICS:
        assert metrics[name].shape == (2,) and np.all(np.isfinite(metrics[name])), name
    assert algo.env_steps(state) == 128


# -- minibatches -----------------------------------------------------------------------------


def dealt(shuffle: str, key=KEY0, num_envs: int = 6, num_steps: int = 8, num_minibatches: int = 4):
    """Minibatches of a batch whose every field holds its row's id ``t * num_envs + b``."""
    algo = ppo.make(
        CONFIG.replace(num_envs=num_envs, num_steps=num_steps, num_minibatches=num_minibatches, shuffle=shuffle)
    )
    ids = jnp.arange(num_steps * num_envs, dtype=jnp.float32).reshape(num_steps, num_envs)
    batch = ppo.Batch(ids[..., None], ids.astype(jnp.int32), ids, None, ids, ids, ids)
    minibatches = jax.jit(algo._deal)(key, batch)
    rows = np.asarray(minibatches.obs[..., 0])
    assert rows.shape == (num_minibatches, num_steps * num_envs // num_minibatches)
    return minibatches, rows


@pytest.mark.parametrize("shuffle", ["per_env", "global"])
def test_minibatches_deal_every_row_once(shuffle):
    minibatches, rows = dealt(shuffle)
    assert rows.shape == (4, 12)
    assert sorted(rows.ravel().tolist()) == list(range(48))
    # Every field went through the same permutation.
    np.testing.assert_array_equal(np.asarray(minibatches.action).reshape(4, -1), rows)
    np.testing.assert_array_equal(np.asarray(minibatches.log_prob).reshape(4, -1), rows)
    # A different key deals differently.
    assert not np.array_equal(dealt(shuffle, KEY1)[1], rows)


def test_per_env_minibatches_take_the_same_share_of_every_env():
    _, rows = dealt("per_env")
    for minibatch in rows.astype(int):
        # Two steps of each env, env after env (each device's share of a minibatch is one block).
        np.testing.assert_array_equal(minibatch % 6, np.repeat(np.arange(6), 2))
    # ... and the steps of one env are shuffled, not dealt in time order.
    first_env_steps = [sorted((m[m % 6 == 0] // 6).tolist()) for m in rows.astype(int)]
    assert first_env_steps != [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize("shuffle", ["per_env", "global"])
def test_advantages_are_standardised_per_minibatch(shuffle):
    minibatches, _ = dealt(shuffle)
    advantages = np.asarray(minibatches.advantage).reshape(4, -1)
    np.testing.assert_allclose(advantages.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(advantages.std(axis=1), 1.0, atol=1e-4)
    raw = np.asarray(minibatches.target).reshape(4, -1)  # targets keep their raw values
    expected = (raw - raw.mean(axis=1, keepdims=True)) / (raw.std(axis=1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)


def test_shuffle_auto_falls_back_to_global_when_steps_do_not_divide():
    assert PPOConfig(num_steps=128, num_minibatches=4).per_env_shuffle
    assert not PPOConfig(num_envs=2, num_steps=6, num_minibatches=4).per_env_shuffle
    assert not PPOConfig(shuffle="global").per_env_shuffle


# -- reward scale -------------------------------------------------------------------------------


def test_reward_scale_scales_what_is_learnt_not_what_is_reported(algo, update, initial_state):
    scaled = ppo.make(CONFIG.replace(reward_scale=10.0))

    @jax.jit
    def batches(state):
        _, traj = algo.rollout(state)
        by_hand = algo.batch(state.params, traj._replace(reward=traj.reward * 10.0))
        return scaled.batch(state.params, traj), by_hand, algo.batch(state.params, traj)

    got, by_hand, plain = batches(initial_state)
    np.testing.assert_allclose(got.advantage, by_hand.advantage, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.target, by_hand.target, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got.target, plain.target)
    # The same rollout from the same state: the returns reported are the env's, unscaled.
    _, metrics = jax.jit(scaled.update)(initial_state)
    _, plain_metrics = update(initial_state)
    assert int(metrics["episodes"]) > 0
    np.testing.assert_allclose(metrics["episode_return"], plain_metrics["episode_return"])
    assert float(metrics["value_loss"]) > 10 * float(plain_metrics["value_loss"])


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_reward_scale_must_be_positive(value):
    from jaxrl.errors import ConfigError

    with pytest.raises(ConfigError, match="--reward-scale"):
        ppo.validate(CONFIG.replace(reward_scale=value))
