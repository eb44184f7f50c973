"""AlphaZero end to end on tiny configs: the Algorithm contract, self-play and learning, determinism."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import alphazero
from jaxrl.algorithm import Algorithm
from jaxrl.alphazero import buffer as replay
from jaxrl.alphazero.learner import bare_state
from jaxrl.errors import ConfigError

pytestmark = pytest.mark.usefixtures("fast_compilation")

# A few games of a tiny net: enough moves per update for Connect Four games to end in the first epoch.
TINY = {
    "num_envs": 4, "num_steps": 12, "num_simulations": 4, "eval_num_simulations": 4,
    "max_num_considered_actions": 4, "channels": 8, "num_blocks": 1, "buffer_capacity": 1024,
    "min_buffer_size": 16, "batch_size": 32, "train_steps": 8, "lr": 1e-2,
}
TINY_CONFIGS = {
    "ConnectFour-v0": {**TINY, "total_timesteps": 4 * 12 * 3},
    "Triangles-v0": {
        **TINY, "total_timesteps": 4 * 12 * 3, "value_target": "n_step", "n_step": 3, "discount": 0.99,
        "value_scale": 10.0,
    },
}
EPOCH = 3  # updates per train_from call: the one compiled program every test here uses


class Tiny:
    """One env's algorithm, its jitted epoch (``train_from`` with ``num_active``) and a first epoch's result."""

    def __init__(self, env: str):
        self.algo = alphazero.make(alphazero.AlphaZeroConfig(env=env, **TINY_CONFIGS[env]))
        self.init = jax.jit(self.algo.init)
        self.epoch = jax.jit(self.algo.train_from, static_argnums=1)
        self.start = self.init(jax.random.PRNGKey(0))
        self.after, self.metrics = self.epoch(self.start, EPOCH, jnp.int32(EPOCH))


_BUILT: dict[str, Tiny] = {}


def built(env: str) -> Tiny:
    """Each env's `Tiny`, built once per session (compiling dominates these tests)."""
    if env not in _BUILT:
        _BUILT[env] = Tiny(env)
    return _BUILT[env]


@pytest.fixture(params=sorted(TINY_CONFIGS))
def tiny(request) -> Tiny:
    return built(request.param)


@pytest.fixture
def connect_four() -> Tiny:
    return built("ConnectFour-v0")


def test_the_contract_is_implemented(tiny):
    algo = tiny.algo
    assert isinstance(algo, Algorithm) and algo.name == "alphazero"
    assert algo.num_updates == 3 and algo.steps_per_update == 4 * 12
    assert set(algo.checked_metrics) <= set(algo.metric_names) and "update" in algo.metric_names
    assert algo.backend.platform == jax.default_backend()
    for field in algo.env_batch_fields:  # the leaves a device mesh splits really carry the env batch
        chex.assert_tree_shape_prefix(getattr(tiny.start, field), (algo.config.num_envs,))
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(tiny.start))  # checkpointable as is
    assert int(tiny.start.update) == 0 and algo.env_steps(tiny.after) == 3 * algo.steps_per_update


def test_metrics_are_the_named_scalars(tiny):
    assert set(tiny.metrics) == set(tiny.algo.metric_names)
    for value in tiny.metrics.values():
        chex.assert_shape(value, (EPOCH,))
    np.testing.assert_array_equal(tiny.metrics["update"], [1, 2, 3])
    if tiny.algo.num_players == 2:
        assert {"games", "black_wins", "white_wins", "draws", "black_wins_rate"} <= set(tiny.metrics)
        assert int(tiny.metrics["games"].sum()) > 0
        games = sum(int(tiny.metrics[name].sum()) for name in ("black_wins", "white_wins", "draws"))
        assert games == int(tiny.metrics["games"].sum())
    else:
        assert {"episode_return", "episode_score", "episode_length"} <= set(tiny.metrics)


def test_train_from_runs_active_updates_only_and_is_deterministic(connect_four):
    tiny = connect_four
    start = tiny.init(jax.random.PRNGKey(0))  # the same key: the same state
    chex.assert_trees_all_equal(start, tiny.start)
    after, metrics = tiny.epoch(start, EPOCH, jnp.int32(2))
    assert int(after.update) == 2
    np.testing.assert_array_equal(metrics["update"], [1, 2, 0])
    for name in tiny.algo.checked_metrics:
        assert np.isfinite(metrics[name][:2]).all() and np.isnan(metrics[name][2]), name
    # An epoch of inactive updates passes the state through; one update twice equals two at once
    # (the state carries everything: a resume continues bit-exactly, and the same key gives the same bits).
    same, _ = tiny.epoch(after, EPOCH, jnp.int32(0))
    chex.assert_trees_all_equal(same, after)
    one, _ = tiny.epoch(tiny.start, EPOCH, jnp.int32(1))
    two, _ = tiny.epoch(one, EPOCH, jnp.int32(1))
    chex.assert_trees_all_equal(two, after)
    assert any(jax.tree.leaves(jax.tree.map(lambda a, b: bool((a != b).any()), after.params, start.params)))
    # Another key, other parameters.
    other = tiny.init(jax.random.PRNGKey(1))
    assert not all(jax.tree.leaves(jax.tree.map(lambda a, b: bool((a == b).all()), other.params, start.params)))


def test_self_play_fills_the_buffer_and_learns(tiny):
    metrics, after = tiny.metrics, tiny.after
    for name in tiny.algo.checked_metrics:
        assert np.isfinite(metrics[name]).all(), name
    assert int(after.buffer.size) >= tiny.algo.config.min_buffer_size
    np.testing.assert_array_equal(metrics["buffer_size"][-1], after.buffer.size)
    # Every written sample's policy target is a distribution over legal moves.
    filled = int(after.buffer.size)
    np.testing.assert_allclose(np.asarray(after.buffer.data.policy[:filled]).sum(-1), 1.0, rtol=1e-5)
    # Once the buffer was big enough the gradient steps changed the parameters.
    changed = jax.tree.map(lambda a, b: bool((a != b).any()), after.params, tiny.start.params)
    assert any(jax.tree.leaves(changed))


def test_loss_falls_on_a_fixed_batch(tiny):
    # A batch of the final buffer, most of it trained on: the epoch's gradient steps lowered its loss.
    batch = replay.sample(tiny.after.buffer, jax.random.PRNGKey(5), 64)
    loss = jax.jit(tiny.algo.loss)
    before, (_, value_before) = loss(tiny.start.params, batch)
    after, (_, value_after) = loss(tiny.after.params, batch)
    assert np.isfinite([before, after]).all()
    assert float(after) < 0.8 * float(before), (before, after)
    assert float(value_after) < 0.8 * float(value_before), (value_before, value_after)
    # The value head learns return / value_scale; the search reads it back in the units of the returns.
    scale = tiny.algo.config.value_scale
    heads = jax.jit(lambda p, o: (tiny.algo.network.apply(p, o)[1], tiny.algo.evaluate(p, o)[1]))
    head, value = jax.device_get(heads(tiny.after.params, batch.obs))
    np.testing.assert_allclose(value, scale * head, rtol=1e-6)
    batch = jax.device_get(batch)
    error = np.where(batch.value_mask, head - batch.value / scale, 0.0)
    np.testing.assert_allclose(value_after, (error**2).sum() / max(batch.value_mask.sum(), 1), rtol=1e-4)


def test_agent_policy_is_one_game_and_vmaps(connect_four):
    algo = connect_four.algo
    params = algo.agent(connect_four.after)
    states = bare_state(algo.env, connect_four.after.env_state)  # running games, some columns maybe full
    obs, masks = connect_four.after.obs, states.legal_action_mask
    keys = jax.random.split(jax.random.PRNGKey(2), algo.config.num_envs)

    @jax.jit
    def act(params, keys):
        policy = algo.agent_policy(params, greedy=True)
        actions = jax.vmap(policy)(keys, states, obs, masks)
        return actions, policy(keys[0], None, obs[0], masks[0]), algo.evaluate(params, obs[:1])[0][0]

    actions, prior_action, logits = jax.device_get(act(params, keys))
    masks = np.asarray(masks)
    assert masks[np.arange(len(actions)), actions].all()
    # Greedy play has no noise: other keys, same moves.
    np.testing.assert_array_equal(act(params, jax.random.split(jax.random.PRNGKey(3), len(keys)))[0], actions)
    # Without a state (observation-only callers) it plays the network's prior argmax.
    assert int(prior_action) == int(np.argmax(np.where(masks[0], logits, -np.inf)))


def test_opening_moves_are_random_then_the_search_plays():
    """Without root noise the search plays the same move in every game of one position; two random
    opening moves make the 32 games differ, and the move after them is the search's again."""
    config = alphazero.AlphaZeroConfig(**{**TINY_CONFIGS["ConnectFour-v0"], "num_envs": 32, "gumbel_scale": 0.0,
                                          "buffer_capacity": 2048, "total_timesteps": 384, "opening_moves": 2})
    algo = alphazero.make(config)
    state = algo.init(jax.random.PRNGKey(1))
    move = jax.jit(lambda carry, key: algo._move(state.params, carry, key)[0])
    carry = (state.env_state, state.obs, state.pending, state.buffer)
    for i in range(2):
        carry = move(carry, jax.random.PRNGKey(10 + i))
    before = bare_state(algo.env, carry[0])
    assert len({row.tobytes() for row in np.asarray(before.board).reshape(32, -1)}) >= 8  # of 49 openings
    searched = jax.jit(lambda s, o: algo.search(state.params, jax.random.PRNGKey(0), s, o, greedy=False).action)(
        before, carry[1])
    expected = jax.jit(jax.vmap(algo.game.step_env, in_axes=(0, 0, 0, None)))(
        jax.random.split(jax.random.PRNGKey(0), 32), before, searched, algo.env_params)[1].board
    board = np.asarray(bare_state(algo.env, move(carry, jax.random.PRNGKey(12))[0]).board)
    np.testing.assert_array_equal(board, np.asarray(expected))
    assert ((board >= 0).sum(axis=(1, 2)) == 3).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"env": "Triangles-v0"}, "value-target"),
        ({"value_target": "n_step"}, "value-target"),
        ({"env": "CartPole-v1"}, "observations"),
        ({"search": "puct"}, "--search"),
        ({"num_envs": 64, "buffer_capacity": 1000}, "--buffer-capacity"),
        ({"num_simulations": 0}, "--num-simulations"),
        ({"total_timesteps": 10}, "less than one update"),
        ({"discount": 1.5}, "--discount"),
        ({"value_scale": 10.0}, "--value-scale"),
        ({"env": "ConnectFour"}, "did you mean"),
        ({"opening_moves": -1}, "--opening-moves"),
    ],
)
def test_invalid_configs_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        alphazero.make(alphazero.AlphaZeroConfig(**overrides))
    assert "\n" not in str(error.value)


def test_presets_are_valid():
    for env in alphazero.PRESETS:
        alphazero.validate(alphazero.preset(env))
