"""The orthogonal initialiser: same values as flax's, orthonormal, and no LAPACK under vmap."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks import orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (3, 3, 2, 32), (256, 7)])
def test_orthogonal_matches_flax(shape):
    key = jax.random.PRNGKey(3)
    ours = jax.jit(lambda k: orthogonal(1.4)(k, shape))(key)
    theirs = nn.initializers.orthogonal(1.4)(key, shape)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)


def test_orthogonal_columns_are_orthonormal():
    w = orthogonal(2.0)(jax.random.PRNGKey(0), (64, 64)) / 2.0
    np.testing.assert_allclose(w.T @ w, np.eye(64), atol=1e-5)
    wide = orthogonal(1.0)(jax.random.PRNGKey(1), (4, 64))
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)


def test_vmapped_initialiser_has_no_lapack_call():
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    hlo = jax.jit(jax.vmap(lambda k: orthogonal(1.0)(k, (64, 64)))).lower(keys).as_text()
    assert "lapack" not in hlo.lower() and "householder" not in hlo.lower()
    batched = jax.vmap(lambda k: orthogonal(1.0)(k, (64, 64)))(keys)
    single = jnp.stack([orthogonal(1.0)(k, (64, 64)) for k in keys])
    np.testing.assert_allclose(batched, single, atol=1e-6)


@pytest.mark.parametrize(
    "continuous, action_dim, obs_shape, torso",
    [(False, 2, (4,), "mlp"), (True, 3, (3,), "mlp"), (False, 7, (6, 7, 2), "conv"), (False, 12, (17,), "mlp")],
)
def test_narrow_matmuls_are_the_same_function(continuous, action_dim, obs_shape, torso):
    """Broadcast multiply-adds instead of narrow matmuls: same parameters, outputs and gradients."""
    from jaxrl.networks import ActorCritic

    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 5) + obs_shape)

    def loss(params):
        (head, _), value = net.apply(params, obs)
        return jnp.sum(jnp.sin(head)) + jnp.sum(value**2)

    results, dots = {}, {}
    for flag in (False, True):
        net = ActorCritic(action_dim=action_dim, continuous=continuous, obs_ndim=len(obs_shape), torso=torso,
                          narrow_matmuls=flag)
        params = jax.jit(lambda key: net.init(key, obs))(jax.random.PRNGKey(0))
        results[flag] = jax.jit(lambda p: (p, net.apply(p, obs), jax.grad(loss)(p)))(params)
        dots[flag] = str(jax.make_jaxpr(lambda p: net.apply(p, obs))(params)).count("dot_general")
    # The narrow path really ran: some layer (a narrow head at least) lost its matmul.
    assert dots[True] < dots[False], dots
    (params0, out0, grad0), (params1, out1, grad1) = results[False], results[True]
    # The parameter tree (names, shapes, initial values) is flax's Dense, whichever path runs.
    chex.assert_trees_all_equal(params0, params1)
    chex.assert_trees_all_close(out0, out1, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(grad0, grad1, rtol=1e-4, atol=1e-6)


def test_dense_matches_flax_dense():
    from jaxrl.networks import Dense

    x = jax.random.normal(jax.random.PRNGKey(2), (9, 4))
    for features in (2, 64):
        ours, theirs = Dense(features, narrow=True), nn.Dense(features)
        params = theirs.init(jax.random.PRNGKey(0), x)
        assert jax.tree.structure(ours.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(params)
        np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-6, atol=1e-6)
    wide = jax.random.normal(jax.random.PRNGKey(3), (9, 64))
    params = nn.Dense(2).init(jax.random.PRNGKey(0), wide)
    np.testing.assert_allclose(Dense(2, narrow=True).apply(params, wide), nn.Dense(2).apply(params, wide), rtol=1e-5, atol=1e-6)


def test_conv3x3_as_a_matmul_is_flax_conv_with_the_same_parameters():
    import flax.linen as nn

    from jaxrl.networks import Conv3x3

    x = jax.random.normal(jax.random.PRNGKey(0), (5, 6, 7, 3))
    reference = nn.Conv(8, (3, 3), padding="SAME")
    params = reference.init(jax.random.PRNGKey(1), x)
    ours = Conv3x3(8)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), rtol=1e-5, atol=1e-5)


def test_conv_torso_has_the_same_parameters_and_function_either_way():
    from jaxrl.networks import ActorCritic

    obs = jax.random.normal(jax.random.PRNGKey(2), (4, 10, 10, 4))
    nets = [ActorCritic(action_dim=3, continuous=False, obs_ndim=3, torso="conv", conv_as_matmul=m) for m in (False, True)]
    params = [net.init(jax.random.PRNGKey(3), obs) for net in nets]
    chex.assert_trees_all_equal(params[0], params[1])  # same names, shapes and initial values
    (logits_a, _), value_a = nets[0].apply(params[0], obs)
    (logits_b, _), value_b = nets[1].apply(params[0], obs)
    np.testing.assert_allclose(logits_a, logits_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value_a, value_b, rtol=1e-5, atol=1e-5)


def test_residual_torso_starts_as_its_stem_and_matches_its_matmul_form():
    """ReZero blocks start at the identity (their scale is 0), and the matmul convolutions of the CPU
    compute the same function with the same parameters."""
    from jaxrl.networks import ActorCritic, ResidualTorso

    obs = jax.random.normal(jax.random.PRNGKey(4), (2, 3, 9, 9, 5))
    torso = ResidualTorso((16,), channels=8, num_blocks=2)
    params = torso.init(jax.random.PRNGKey(5), obs, 2)
    assert set(params["params"]) == {"Stem", "Block_0", "Block_1", "MLPTorso_0"}
    assert params["params"]["Block_0"]["branch_scale"].shape == ()
    stem_only = ResidualTorso((16,), channels=8, num_blocks=0)
    trimmed = {"params": {k: v for k, v in params["params"].items() if not k.startswith("Block")}}
    np.testing.assert_allclose(torso.apply(params, obs, 2), stem_only.apply(trimmed, obs, 2), rtol=1e-6, atol=1e-6)
    # With the blocks switched on, the output changes: the branches are really in the function.
    live = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.ones_like(x) if "branch_scale" in jax.tree_util.keystr(path) else x, params)
    assert not np.allclose(torso.apply(live, obs, 2), torso.apply(params, obs, 2))

    nets = [ActorCritic(action_dim=5, continuous=False, obs_ndim=3, torso="resnet", channels=8, num_blocks=2,
                        hidden_sizes=(16,), activation="relu", conv_as_matmul=m) for m in (False, True)]
    net_params = nets[0].init(jax.random.PRNGKey(6), obs)
    chex.assert_trees_all_equal_shapes(net_params, nets[1].init(jax.random.PRNGKey(6), obs))
    net_params = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full_like(x, 0.5) if "branch_scale" in jax.tree_util.keystr(path) else x, net_params)
    (logits_a, _), value_a = nets[0].apply(net_params, obs)
    (logits_b, _), value_b = nets[1].apply(net_params, obs)
    assert logits_a.shape == (2, 3, 5) and value_a.shape == (2, 3)
    np.testing.assert_allclose(logits_a, logits_b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value_a, value_b, rtol=1e-4, atol=1e-5)


def test_alphazero_keeps_its_parameter_names_with_the_shared_block():
    """The residual block now lives in jaxrl.networks; AlphaZero checkpoints keep their tree."""
    from jaxrl.alphazero.network import AlphaZeroNet

    obs = jnp.zeros((1, 6, 7, 2))
    for norm, leaves in (("layer", {"Conv_0", "Conv_1", "LayerNorm_0", "LayerNorm_1"}),
                         ("rezero", {"Conv_0", "Conv_1", "branch_scale"})):
        params = AlphaZeroNet(num_actions=7, channels=8, num_blocks=2, norm=norm).init(jax.random.PRNGKey(0), obs)
        assert set(params["params"]["ResidualBlock_1"]) == leaves


def test_auto_torso_is_the_small_conv_on_cpus_and_the_run_records_it(tmp_path):
    """'auto' on board planes: the two-convolution torso on accelerators, one 16-channel convolution on
    CPUs (the parameter shapes say which ran); the saved config names the torso, so a run trained on
    one backend restores the same network on another."""
    from jaxrl import backend, config as jconfig
    from jaxrl.ppo.learner import resolve_torso
    from jaxrl.run.build import build_trainer

    assert resolve_torso("auto", (10, 10, 4), backend.resolve(platform="cpu").board_torso) == "small_conv"
    assert resolve_torso("auto", (10, 10, 4), backend.resolve(platform="gpu").board_torso) == "conv"
    assert resolve_torso("auto", (4,), "small_conv") == "mlp"
    assert resolve_torso("resnet", (10, 10, 4), "small_conv") == "resnet"

    base = jconfig.preset_config("ppo", "ConnectFour-v0", eval_every=0, tensorboard=False)
    train = base.with_algo("ppo", base.algo_config.replace(network="auto", num_envs=2, num_steps=4,
                                                            num_minibatches=1, total_timesteps=8))
    trainer = build_trainer(train, run_dir=tmp_path / "run")
    algo = trainer.algo
    assert algo.config.network == "small_conv"
    kernels = [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(algo.init(jax.random.PRNGKey(0)).params)
               if "Conv" in jax.tree_util.keystr(path) and "kernel" in jax.tree_util.keystr(path)]
    assert kernels and all(shape == (3, 3, 2, 16) for shape in kernels), kernels
    assert "small_conv" in algo.describe() and "--network conv" in algo.describe()
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "network: small_conv" in saved
    trainer.close()
