"""The fused PPO minibatch gradient (`jaxrl.ppo.fused`) against XLA's ``jax.grad`` of the same loss.

On a CPU the Pallas kernels run interpreted, in exact float32 (no TF32 dots), so the fused gradient
and its LossInfo must equal the reference up to the order of the sums over rows. Checked: networks,
envs and tilings (the in-kernel tile loop included), both clip branches of the policy and value
losses, `jax.vmap` over seeds and over hyperparameters, a two-device mesh, when the kernels apply
(`fused.supports`, `fused.tiling`) and the learner's fallback to XLA, and whole updates.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.config import ConfigError, PPOConfig
from jaxrl.ppo import fused, learner
from jaxrl.ppo.losses import LossInfo
from tests.helpers import runs

# 16 envs x 16 steps in one minibatch: 256 rows, four 64-row tiles.
CONFIG = PPOConfig(num_envs=16, num_steps=16, num_minibatches=1, fused_gradient="on")
# Per parameter leaf, |fused - reference| <= GRAD_RTOL |reference| + GRAD_ATOL (norms over the leaf). The
# sums over 256 rows in another order differ by ~3e-7 relative, ~1e-7 at most in norm; the floor is for
# a leaf whose rows cancel to ~1e-4 by chance (a head bias), where XLA's own rounding error against a
# float64 reference exceeds 1e-5 relative as well.
GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-7
INFO_RTOL, INFO_ATOL = 1e-5, 1e-7
# Spread of the old log-probabilities and values around the current ones: ratios land beyond
# 1 +- clip_eps on both sides for about half the rows, and values beyond old_value +- clip_eps.
OLD_SPREAD = 0.3


# XLA without its expensive backend passes while this module compiles (conftest.py).
pytestmark = pytest.mark.usefixtures("fast_compilation")


def make_algo(**overrides) -> learner.PPO:
    return learner.make(CONFIG, **overrides)


def sample(algo: learner.PPO, seed: int) -> tuple:
    """``(params, minibatch)``: one minibatch of ``minibatch_size`` random rows, as `PPO._deal` makes them.

    Random parameters (weights of std ``1 / sqrt(fan_in)``, so the policy is far from uniform) and
    rows; the old log-probabilities and values are the current ones plus noise of std `OLD_SPREAD`,
    the advantages standardised. Drawn with NumPy: JAX's random bits take seconds to compile on a CPU.
    """
    rng = np.random.default_rng(seed)
    num_rows = algo.config.minibatch_size
    obs_shape = algo.env.observation_space(algo.env_params).shape
    obs = rng.standard_normal((num_rows, *obs_shape), np.float32)
    action = rng.integers(0, algo.env.action_space(algo.env_params).n, num_rows).astype(np.int32)
    shapes = jax.eval_shape(algo.network.init, jax.random.PRNGKey(0), obs)
    # Kernels [fan_in, fan_out] of std 1 / sqrt(fan_in), biases of std 0.3.
    scale = lambda x: 1 / np.sqrt(x.shape[0]) if x.ndim == 2 else 0.3
    params = jax.tree.map(lambda x: (scale(x) * rng.standard_normal(x.shape)).astype(np.float32), shapes)
    log_prob, value = current(algo, params, obs, action)
    advantage = rng.standard_normal(num_rows)
    minibatch = learner.Batch(
        obs=obs,
        action=action,
        log_prob=log_prob + OLD_SPREAD * rng.standard_normal(num_rows, np.float32),
        mask=None,
        value=value + OLD_SPREAD * rng.standard_normal(num_rows, np.float32),
        advantage=((advantage - advantage.mean()) / advantage.std()).astype(np.float32),
        target=value + rng.standard_normal(num_rows, np.float32),
    )
    return jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, minibatch)


def current(algo: learner.PPO, params, obs, action) -> tuple[np.ndarray, np.ndarray]:
    """The log-probabilities of ``action`` and the values under ``params`` (XLA)."""

    @jax.jit
    def evaluate(params, obs, action):
        return (
            algo.policy(params, obs).log_prob(action),
            algo.network.apply(params, obs, method=learner.ActorCritic.value),
        )

    return tuple(np.asarray(x) for x in evaluate(params, obs, action))


def reference(algo: learner.PPO):
    """XLA's gradient of the learner's loss: what `PPO._grad` computes without the kernels."""
    return jax.grad(algo._loss, has_aux=True)


def fused_grad(function, *args):
    """``jax.jit(function)(*args)``, asserting that the traced program runs the Pallas kernels."""
    traced = jax.jit(function).trace(*args)
    assert "pallas_call" in str(traced.jaxpr), "the fused kernels were not used"
    return traced.lower().compile()(*args)


def gradient_errors(grads, ref_grads) -> dict[str, tuple[float, float]]:
    """Per leaf: ``(|grads - ref_grads|, |ref_grads|)`` (Frobenius norms, float64)."""
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    out = {}
    paths = jax.tree_util.tree_leaves_with_path(grads)
    for (path, g), r in zip(paths, jax.tree.leaves(ref_grads), strict=True):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        assert g.shape == r.shape, jax.tree_util.keystr(path)
        out[jax.tree_util.keystr(path)] = (float(np.linalg.norm(g - r)), float(np.linalg.norm(r)))
    return out


def assert_gradients_close(errors: dict[str, tuple[float, float]]) -> None:
    """Every leaf within ``GRAD_RTOL * |reference| + GRAD_ATOL`` of its reference (see `gradient_errors`)."""
    for name, (diff, norm) in errors.items():
        assert norm > 0, f"{name}: the reference gradient is zero"
        assert diff <= GRAD_RTOL * norm + GRAD_ATOL, (
            f"{name}: |difference| {diff:.2e}, |reference| {norm:.2e}"
        )


def assert_info_close(info, ref_info, num_rows: int, context: str = "") -> None:
    """Every LossInfo field close. The clip fraction counts rows with ``|ratio - 1| > clip_eps``: it may
    differ by one row whose ratio lies within rounding of the edge."""
    assert len(info) == len(ref_info) == len(LossInfo._fields)
    for name, value, ref_value in zip(LossInfo._fields, info, ref_info, strict=True):
        assert np.shape(value) == np.shape(ref_value) == (), name
        if name == "clip_fraction":
            rtol, atol = 0.0, 1.0 / num_rows + 1e-7
        else:
            rtol, atol = INFO_RTOL, INFO_ATOL
        np.testing.assert_allclose(value, ref_value, rtol=rtol, atol=atol, err_msg=f"{context} {name}")


def assert_matches_reference(result, ref_result, num_rows: int) -> None:
    """Every gradient leaf and every LossInfo field of ``result`` close to ``ref_result``'s."""
    (grads, info), (ref_grads, ref_info) = result, ref_result
    assert isinstance(info, LossInfo)
    assert_gradients_close(gradient_errors(grads, ref_grads))
    assert_info_close(info, ref_info, num_rows)


# -- the fused gradient equals XLA's ------------------------------------------------------------------

CASES = {
    "cartpole": {},
    "relu": {"activation": "relu"},
    "three-layers": {"hidden_sizes": (32, 64, 16)},
    "no-value-clip": {"clip_value_loss": False},
    # 6 observations and 3 actions (both padded to 16 columns); 3 envs x 16 steps = 48 rows: three
    # programs of 16-row tiles.
    "acrobot": {"env": "Acrobot-v1", "num_envs": 3},
    "coefficients": {"clip_eps": 0.1, "vf_coef": 0.7, "ent_coef": 0.05},
}


@pytest.mark.parametrize("overrides", list(CASES.values()), ids=list(CASES))
def test_fused_gradient_equals_xla(overrides):
    """Gradient and LossInfo of `PPO._grad` (the kernels) equal ``jax.grad`` of `PPO._loss`."""
    algo = make_algo(**overrides)
    assert algo.fused_gradient
    params, minibatch = sample(algo, 0)
    ref = jax.jit(reference(algo))(params, minibatch)
    assert 0.0 < float(ref[1].clip_fraction) < 1.0
    assert_matches_reference(fused_grad(algo._grad, params, minibatch), ref, algo.config.minibatch_size)


@pytest.mark.parametrize(
    ("rows", "min_programs", "expected"),
    [(64, 1, (64, 4)), (32, 2, (32, 4))],
    ids=["one-program", "two-programs"],
)
def test_tile_loop_equals_xla(monkeypatch, rows, min_programs, expected):
    """Tiles looped inside a program (accumulating the gradient across tiles) give the same gradient."""
    monkeypatch.setattr(fused, "ROWS", rows)
    monkeypatch.setattr(fused, "MIN_PROGRAMS", min_programs)
    algo = make_algo()
    num_rows = algo.config.minibatch_size
    assert fused.tiling(num_rows) == expected and fused.tiling(num_rows)[1] > 1
    params, minibatch = sample(algo, 1)
    ref = jax.jit(reference(algo))(params, minibatch)
    assert_matches_reference(fused_grad(algo._grad, params, minibatch), ref, num_rows)


def test_both_clip_branches_are_exercised():
    """Rows on every side of the policy and value clips, with both advantage signs: each branch of
    ``max(-A r, -A clip(r))`` and of the clipped value loss is taken by some rows, and the kernels
    still match the reference."""
    algo = make_algo()
    eps = algo.config.clip_eps
    params, minibatch = sample(algo, 2)
    log_prob, value = current(algo, params, minibatch.obs, minibatch.action)
    ratio = np.exp(log_prob - np.asarray(minibatch.log_prob))
    positive = np.asarray(minibatch.advantage) > 0
    sides = {"above": ratio > 1 + eps, "below": ratio < 1 - eps, "inside": abs(ratio - 1) < eps}
    for side, rows in sides.items():
        for sign, sign_rows in (("A > 0", positive), ("A < 0", ~positive)):
            assert np.any(rows & sign_rows), f"no row with ratio {side} the clip range and {sign}"
    old_value, target = np.asarray(minibatch.value), np.asarray(minibatch.target)
    delta = value - old_value
    assert np.any(delta > eps) and np.any(delta < -eps) and np.any(abs(delta) < eps)
    # Outside the value clip, max((V - G)^2, (V_old + clip(V - V_old) - G)^2) takes either term.
    plain, clipped = (value - target) ** 2, (old_value + np.clip(delta, -eps, eps) - target) ** 2
    assert np.any((abs(delta) > eps) & (plain > clipped)) and np.any((abs(delta) > eps) & (clipped > plain))
    ref = jax.jit(reference(algo))(params, minibatch)
    assert 0.0 < float(ref[1].clip_fraction) < 1.0
    np.testing.assert_allclose(ref[1].clip_fraction, np.mean(abs(ratio - 1) > eps), atol=1e-6)
    assert_matches_reference(fused_grad(algo._grad, params, minibatch), ref, algo.config.minibatch_size)


def test_derivatives_at_ties_and_clip_edges_follow_jax():
    """The kernels' derivatives of ``max`` and ``clip`` are JAX's where random data never lands: half to
    each side of a tie, half on a clip edge (the equality tests above cannot see these points)."""
    low, high = np.float32(0.8), np.float32(1.2)
    x = jnp.array([0.5, low, 1.0, high, 1.5], jnp.float32)
    expected = jax.vmap(jax.grad(lambda v: jnp.clip(v, low, high)))(x)
    np.testing.assert_array_equal(expected, [0.0, 0.5, 1.0, 0.5, 0.0])  # what JAX defines
    np.testing.assert_array_equal(fused._clip_grad(x, low, high), expected)
    a, b = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 2.0, 1.0])
    expected_a, expected_b = jax.vmap(jax.grad(jnp.maximum, argnums=(0, 1)))(a, b)
    got_a, got_b = fused._max_grad_weights(a, b)
    np.testing.assert_array_equal(got_a, expected_a)
    np.testing.assert_array_equal(got_b, expected_b)


# -- vmap ------------------------------------------------------------------------------------------------


def test_vmap_over_seeds_equals_xla():
    """`jax.vmap` of `PPO._grad` over three seeds' parameters and minibatches (one batched launch per
    kernel) equals the vmapped reference, seed by seed."""
    algo = make_algo()
    params, minibatch = jax.tree.map(lambda *x: jnp.stack(x), *[sample(algo, seed) for seed in (30, 31, 32)])
    got = fused_grad(jax.vmap(algo._grad), params, minibatch)
    ref = jax.jit(jax.vmap(reference(algo)))(params, minibatch)
    for seed in range(3):
        pick = lambda tree: jax.tree.map(lambda x: x[seed], tree)  # noqa: B023
        assert_matches_reference(pick(got), pick(ref), algo.config.minibatch_size)


def test_vmap_over_hyperparameters_equals_xla():
    """Traced clip_eps, vf_coef and ent_coef (a vmapped sweep building one PPO per value) reach the
    kernels as traced scalars; each member equals the reference with those values."""
    values = {
        "clip_eps": jnp.array([0.1, 0.2, 0.3]),
        "vf_coef": jnp.array([0.5, 1.0, 0.25]),
        "ent_coef": jnp.array([0.0, 0.01, 0.1]),
    }
    params, minibatch = sample(make_algo(), 4)

    def grad(hyper, fused_gradient):
        return learner.make(CONFIG, fused_gradient=fused_gradient, **hyper)._grad(params, minibatch)

    got = fused_grad(jax.vmap(lambda h: grad(h, "on")), values)
    ref = jax.jit(jax.vmap(lambda h: grad(h, "off")))(values)
    for i in range(3):
        pick = lambda tree: jax.tree.map(lambda x: x[i], tree)  # noqa: B023
        assert_matches_reference(pick(got), pick(ref), CONFIG.minibatch_size)


# -- when the kernels apply ---------------------------------------------------------------------------


def reason(**overrides) -> str | None:
    """`fused.supports` for the network, mask and observations the learner builds for ``overrides``."""
    algo = learner.make(CONFIG, fused_gradient="off", **overrides)
    return fused.supports(algo.network, algo.has_mask, algo.env.observation_space(algo.env_params).shape)


UNSUPPORTED = {
    "continuous": ({"env": "Pendulum-v1"}, "continuous actions"),
    "width-48": ({"hidden_sizes": (48, 64)}, "hidden sizes (48, 64)"),
    "width-8": ({"hidden_sizes": (8,)}, "hidden sizes (8,)"),
    "masked-conv": ({"env": "ConnectFour-v0", "num_envs": 2, "num_steps": 8}, "action masks"),
    "masked-mlp": (
        {"env": "ConnectFour-v0", "num_envs": 2, "num_steps": 8, "network": "mlp"}, "action masks"
    ),
}


@pytest.mark.parametrize(("overrides", "expected"), list(UNSUPPORTED.values()), ids=list(UNSUPPORTED))
def test_unsupported_networks_give_a_reason(overrides, expected):
    """`fused.supports` names why not; ``fused_gradient="on"`` then fails with that reason and "auto"
    quietly uses XLA's gradient."""
    got = reason(**overrides)
    assert isinstance(got, str) and expected in got
    with pytest.raises(ConfigError, match=r"^--fused-gradient on does not support .*" + re.escape(expected)):
        learner.make(CONFIG, fused_gradient="on", **overrides)
    assert learner.make(CONFIG, fused_gradient="auto", **overrides).fused_gradient is False


def test_supports_each_unfused_part():
    """Every condition of `fused.supports` alone: the conv torso and board-shaped observations (a
    Connect Four network without its mask), and the MLP CartPole network (supported)."""
    board = learner.make(CONFIG, env="ConnectFour-v0", num_envs=2, num_steps=8, fused_gradient="off", network="conv")
    board_shape = board.env.observation_space(board.env_params).shape
    assert board.network.torso == "conv" and board.has_mask
    assert fused.supports(board.network, False, board_shape) == "the conv torso"
    mlp = board.network.clone(torso="mlp")
    assert "observations of shape (6, 7, 2)" in fused.supports(mlp, False, board_shape)
    assert fused.supports(mlp, False, (84,)) is None
    assert reason() is None
    assert reason(hidden_sizes=(16, 128, 256)) is None
    assert "activation" in fused.supports(mlp.clone(activation="gelu"), False, (84,))


def test_fused_gradient_setting():
    """``fused_gradient``: "on" uses the kernels where they apply, "auto" only on GPUs (so not here),
    "off" never; any other value fails validation with one line."""
    assert jax.default_backend() == "cpu"
    assert make_algo().fused_gradient is True
    assert make_algo(fused_gradient="auto").fused_gradient is False
    assert make_algo(fused_gradient="off").fused_gradient is False
    with pytest.raises(ConfigError, match=r"^--fused-gradient must be one of auto, on, off; got 'maybe'$"):
        make_algo(fused_gradient="maybe")


# -- tiling and the fallback --------------------------------------------------------------------------


def test_tiling():
    """Rows not a multiple of 16 do not tile; otherwise tiles of the largest power of two <= `fused.ROWS`
    dividing the rows, looped inside a program while the grid keeps `fused.MIN_PROGRAMS` programs."""
    for num_rows in (1, 8, 24, 40, 100, 262_152):
        assert fused.tiling(num_rows) is None and not fused.rows_fit(num_rows), num_rows
    for num_rows in (16, 48, 96, 256, 4096, 3 * 2**14, 262_144, 2**22):
        rows, tiles = fused.tiling(num_rows)
        assert fused.rows_fit(num_rows)
        assert rows in (16, 32, 64) and rows <= fused.ROWS and num_rows % rows == 0, num_rows
        assert rows == fused.ROWS or num_rows % (2 * rows), f"{num_rows}: {rows}-row tiles, not the largest"
        assert num_rows % (rows * tiles) == 0, num_rows
        programs = num_rows // (rows * tiles)
        assert tiles == 1 or programs >= fused.MIN_PROGRAMS, num_rows
        # No longer loop would keep enough programs.
        assert programs % 2 or programs // 2 < fused.MIN_PROGRAMS, num_rows
    # A large minibatch (e.g. 4096 envs x 64 steps): tiles looped, the grid still MIN_PROGRAMS wide.
    rows, tiles = fused.tiling(262_144)
    programs = 262_144 // (rows * tiles)
    assert rows * tiles * programs == 262_144 and programs >= fused.MIN_PROGRAMS and tiles > 1


def test_rows_that_do_not_tile_fall_back_to_xla():
    """3 envs x 8 steps = 24 rows per minibatch: `PPO._grad` runs XLA's gradient, bit for bit."""
    algo = make_algo(num_envs=3, num_steps=8)
    assert algo.fused_gradient and algo.config.minibatch_size == 24
    params, minibatch = sample(algo, 5)
    traced = jax.jit(algo._grad).trace(params, minibatch)
    assert "pallas_call" not in str(traced.jaxpr)
    got = traced.lower().compile()(params, minibatch)
    ref = jax.jit(reference(algo))(params, minibatch)
    chex.assert_trees_all_equal(got, ref)


# -- whole updates -----------------------------------------------------------------------------------


def test_updates_match_xla():
    """Two whole updates (rollout, 4 epochs x 2 minibatches of 64 rows, a large learning rate) from the
    same state with the kernels and without: same parameters and metrics up to float rounding."""
    config = CONFIG.replace(
        num_envs=4, num_steps=32, num_minibatches=2, update_epochs=4, lr=5e-3, total_timesteps=256
    )
    results = {}
    for setting in ("on", "off"):
        algo = learner.make(config, fused_gradient=setting)
        assert algo.fused_gradient is (setting == "on")
        initial = algo.init(jax.random.PRNGKey(6))
        results[setting] = jax.jit(algo.train_from, static_argnums=1)(initial, 2)
    (state_on, metrics_on), (state_off, metrics_off) = results["on"], results["off"]
    chex.assert_trees_all_close(state_on.params, state_off.params, rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(metrics_on, metrics_off, rtol=1e-4, atol=1e-6)  # same metric names too
    # Not a comparison of two barely moved initialisations: the parameters moved by far more than the
    # tolerance, and the first update's ratios went past the clip range.
    moved = [float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(state_off.params),
                                                             jax.tree.leaves(initial.params))]
    assert min(moved) > 1e-3, moved
    assert float(metrics_off["clip_fraction"][0]) > 0


# -- a device mesh -------------------------------------------------------------------------------------

SHARDED = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec
    from jaxrl import sharding
    from jaxrl.ppo import learner
    from tests.jaxrl import test_fused as t

    assert jax.device_count() == 2
    out = {}
    for name, overrides in (("fused", {}), ("fallback", dict(num_envs=3))):
        algo = t.make_algo(**overrides)  # 256 rows (128 per device); 48 rows (24 per device: no tiles)
        params, minibatch = t.sample(algo, 7)
        ref = jax.jit(t.reference(algo))(params, minibatch)
        mesh = sharding.make_mesh(2)
        rows = jax.tree.map(lambda x: NamedSharding(mesh, PartitionSpec(sharding.ENV_AXIS)), minibatch)
        whole = jax.tree.map(lambda x: sharding.replicated(mesh), params)
        with jax.set_mesh(mesh):
            traced = jax.jit(algo._grad, in_shardings=(whole, rows)).trace(params, minibatch)
            got = traced.lower().compile()(jax.device_put(params, whole), jax.device_put(minibatch, rows))
        grads, info = got
        out[name] = dict(
            kernels="pallas_call" in str(traced.jaxpr),
            shard_map="shard_map" in str(traced.jaxpr),
            errors=t.gradient_errors(grads, ref[0]),
            info=[float(x) for x in info],
            ref_info=[float(x) for x in ref[1]],
            rows=algo.config.minibatch_size,
        )
    json.dump(out, sys.stdout)
    """
)


def test_two_device_mesh_equals_one_device(cli_env):
    """`PPO._grad` under a mesh of two CPU devices (rows split over ``"envs"``): each device runs the
    kernels on its rows and the sums are added across devices; the result equals the one-device
    reference. With 24 rows per device it falls back to XLA's gradient."""
    result = subprocess.run(
        [sys.executable, "-c", SHARDED], cwd=runs.REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**cli_env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, check=False,
    )
    assert result.returncode == 0, runs.describe(result)
    out = json.loads(result.stdout)
    assert out["fused"]["kernels"] and out["fused"]["shard_map"]
    assert not out["fallback"]["kernels"]
    for name, case in out.items():
        assert_gradients_close(case["errors"])
        assert_info_close(case["info"], case["ref_info"], case["rows"], name)
