"""The PPO minibatch gradient of the MLP actor-critic as one fused GPU kernel (Pallas, Triton).

XLA runs a minibatch gradient step of the small MLPs PPO uses (two hidden
layers of 64) as a dozen kernels, each reading and writing ``[rows, 64]``
activations to memory: the step is memory-bound. Here every block of rows
goes through the actor and critic forward pass, the PPO loss and the backward
pass in registers; only the rows' inputs are read and one partial gradient
per block is written, then summed. The gradient is the same function as
``jax.grad`` of `jaxrl.ppo.losses.ppo_loss` (up to float rounding; the tests
compare the two), with the same tie-breaking as JAX where ``max`` and
``clip`` meet.

Applies to: a flat observation, discrete actions without a mask, the MLP
torso with two hidden layers of one power-of-two width (>= 16), tanh or
relu. `supports` says whether a config qualifies. Matmuls use TF32 like
XLA's default float32 precision on GPU. With a device mesh the kernel runs
on each device's rows (`jax.shard_map`) and the partial gradients are summed
across devices.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxrl.ppo.losses import LossInfo

_PAD = 16  # Triton's smallest matmul side: narrow inputs and heads are padded to it
_NEG = -1e30  # logit of a padded (non-existent) action: exp() gives exactly 0
_LAYERS = ("Dense_0", "Dense_1")
# Row-independent scalars passed to the kernel (they may be traced, e.g. vmapped over).
_CLIP, _VF, _ENT, _INV_ROWS = range(4)
# Partial sums written per block: policy loss, value loss (0.5 * squared error), entropy, KL, clipped.
_POLICY, _VALUE, _ENTROPY, _KL, _CLIPPED = range(5)


def _pow2_at_least(n: int, floor: int = _PAD) -> int:
    return max(floor, 1 << (max(n, 1) - 1).bit_length())


def supports(network: Any, has_mask: bool, obs_shape: tuple[int, ...]) -> str | None:
    """None when the fused gradient applies to this network, else the reason it does not."""
    if network.continuous:
        return "continuous actions"
    if has_mask:
        return "action masks"
    if network.torso != "mlp":
        return f"the {network.torso} torso"
    if len(obs_shape) != 1:
        return "observations that are not flat vectors"
    sizes = tuple(network.hidden_sizes)
    if len(sizes) != 2 or sizes[0] != sizes[1] or sizes[0] < _PAD or sizes[0] & (sizes[0] - 1):
        return f"hidden sizes {sizes} (needs two equal power-of-two widths >= {_PAD})"
    if network.activation not in ("tanh", "relu"):
        return f"activation {network.activation}"
    return None


# Launch shape, tuned on an H100 (see BENCHMARKS.md): rows per program and warps per program.
ROWS_PER_BLOCK = 128
NUM_WARPS = 4
REDUCE = True


def _rows_per_block(num_rows: int) -> int | None:
    for rows in (ROWS_PER_BLOCK, 64, 32, 16):
        if num_rows % rows == 0:
            return rows
    return None


# -- the kernel ------------------------------------------------------------------------------


def _activate(z, activation):
    return jnp.tanh(z) if activation == "tanh" else jnp.maximum(z, 0.0)


def _activation_grad(z, h, activation):
    return 1.0 - h * h if activation == "tanh" else (z > 0.0).astype(z.dtype)


def _dot(a, b, trans_a=False, trans_b=False):
    """``a @ b`` of 2-D tiles, either side transposed; float32 accumulation at default precision."""
    contract = (((0 if trans_a else 1,), (1 if trans_b else 0,)), ((), ()))
    return jax.lax.dot_general(a, b, contract, preferred_element_type=jnp.float32)


def _torso_forward(x, w1, b1, w2, b2, activation):
    z1 = _dot(x, w1) + b1[None, :]
    h1 = _activate(z1, activation)
    z2 = _dot(h1, w2) + b2[None, :]
    return z1, h1, z2, _activate(z2, activation)


def _torso_backward(x, z1, h1, z2, h2, w2, w3, dout, activation):
    """Gradients of the two hidden layers and the head, given d(loss)/d(head output) ``[R, P]``."""
    g_w3, g_b3 = _dot(h2, dout, trans_a=True), jnp.sum(dout, axis=0)
    dz2 = _dot(dout, w3, trans_b=True) * _activation_grad(z2, h2, activation)
    g_w2, g_b2 = _dot(h1, dz2, trans_a=True), jnp.sum(dz2, axis=0)
    dz1 = _dot(dz2, w2, trans_b=True) * _activation_grad(z1, h1, activation)
    g_w1, g_b1 = _dot(x, dz1, trans_a=True), jnp.sum(dz1, axis=0)
    return g_w1, g_b1, g_w2, g_b2, g_w3, g_b3


def _max_grad_weights(a, b):
    """d max(a, b) / d(a, b) as JAX defines it: all to the larger, half each on a tie."""
    wa = jnp.where(a > b, 1.0, jnp.where(a < b, 0.0, 0.5))
    return wa, 1.0 - wa


def _clip_grad(x, low, high):
    """d clip(x, low, high) / dx as JAX defines it: 1 inside, 0 outside, 0.5 on an edge."""
    inside = jnp.where((x > low) & (x < high), 1.0, 0.0)
    return jnp.where((x == low) | (x == high), 0.5, inside)


def _kernel(
    obs_ref, action_ref, old_log_prob_ref, old_value_ref, advantage_ref, target_ref, scalars_ref,
    aw1, ab1, aw2, ab2, aw3, ab3, cw1, cb1, cw2, cb2, cw3, cb3,
    g_aw1, g_ab1, g_aw2, g_ab2, g_aw3, g_ab3, g_cw1, g_cb1, g_cw2, g_cb2, g_cw3, g_cb3, sums_ref,
    *, activation: str, clip_value_loss: bool,
):
    clip_eps, vf_coef, ent_coef, inv_rows = (scalars_ref[i] for i in (_CLIP, _VF, _ENT, _INV_ROWS))
    x = obs_ref[...]
    action = action_ref[...]
    old_log_prob, old_value = old_log_prob_ref[...], old_value_ref[...]
    advantage, target = advantage_ref[...], target_ref[...]

    # Actor forward and the policy terms of the loss.
    actor = (aw1[...], ab1[...], aw2[...], ab2[...])
    a_z1, a_h1, a_z2, a_h2 = _torso_forward(x, *actor, activation)
    w3a = aw3[...]
    logits = _dot(a_h2, w3a) + ab3[...][None, :]
    shifted = logits - jnp.max(logits, axis=1)[:, None]
    exp = jnp.exp(shifted)
    total = jnp.sum(exp, axis=1)
    log_probs = shifted - jnp.log(total)[:, None]
    probs = exp / total[:, None]
    columns = jax.lax.broadcasted_iota(jnp.int32, logits.shape, 1)
    chosen = columns == action[:, None]
    log_prob = jnp.sum(jnp.where(chosen, log_probs, 0.0), axis=1)
    entropy = -jnp.sum(probs * log_probs, axis=1)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    low, high = 1.0 - clip_eps, 1.0 + clip_eps
    unclipped = -advantage * ratio
    clipped = -advantage * jnp.clip(ratio, low, high)
    w_unclipped, w_clipped = _max_grad_weights(unclipped, clipped)
    d_ratio = -advantage * (w_unclipped + w_clipped * _clip_grad(ratio, low, high))
    d_log_prob = d_ratio * ratio
    onehot = jnp.where(chosen, 1.0, 0.0)
    # d/dlogits of log p(a) is onehot - p; of the entropy, -p * (log p + H).
    d_logits = inv_rows * (
        d_log_prob[:, None] * (onehot - probs) + ent_coef * probs * (log_probs + entropy[:, None])
    )
    actor_grads = _torso_backward(x, a_z1, a_h1, a_z2, a_h2, actor[2], w3a, d_logits, activation)

    # Critic forward (value in column 0 of the padded head) and the value terms.
    critic = (cw1[...], cw2[...])
    c_z1, c_h1, c_z2, c_h2 = _torso_forward(x, critic[0], cb1[...], critic[1], cb2[...], activation)
    w3c = cw3[...]
    first = jax.lax.broadcasted_iota(jnp.int32, (x.shape[0], w3c.shape[1]), 1) == 0
    value = jnp.sum(jnp.where(first, _dot(c_h2, w3c) + cb3[...][None, :], 0.0), axis=1)
    error = value - target
    squared = error * error
    d_value = 2.0 * error
    if clip_value_loss:
        delta = value - old_value
        clipped_error = old_value + jnp.clip(delta, -clip_eps, clip_eps) - target
        clipped_squared = clipped_error * clipped_error
        w_plain, w_clip = _max_grad_weights(squared, clipped_squared)
        d_value = w_plain * d_value + w_clip * 2.0 * clipped_error * _clip_grad(delta, -clip_eps, clip_eps)
        squared = jnp.maximum(squared, clipped_squared)
    d_head = jnp.where(first, (inv_rows * vf_coef * 0.5 * d_value)[:, None], 0.0)
    critic_grads = _torso_backward(x, c_z1, c_h1, c_z2, c_h2, critic[1], w3c, d_head, activation)

    for ref, grad in zip(
        (g_aw1, g_ab1, g_aw2, g_ab2, g_aw3, g_ab3, g_cw1, g_cb1, g_cw2, g_cb2, g_cw3, g_cb3),
        actor_grads + critic_grads,
    ):
        ref[...] = grad
    sums = (
        jnp.sum(jnp.maximum(unclipped, clipped)),
        jnp.sum(0.5 * squared),
        jnp.sum(entropy),
        jnp.sum((ratio - 1.0) - log_ratio),
        jnp.sum(jnp.where(jnp.abs(ratio - 1.0) > clip_eps, 1.0, 0.0)),
    )
    slots = jax.lax.broadcasted_iota(jnp.int32, (_PAD,), 0)
    sums_ref[...] = sum(jnp.where(slots == i, s, 0.0) for i, s in enumerate(sums))


# -- padding the parameters to the kernel's shapes and back ----------------------------------


def _padded_params(params: Any, obs_dim: int, num_actions: int):
    """Kernel operands from flax params: inputs padded to a power of two >= 16, heads to 16 columns."""
    tree = params["params"]
    obs_pad, head_pad = _pow2_at_least(obs_dim), _pow2_at_least(num_actions)
    out = []
    for torso, head, pad_bias in (("actor_torso", "actor_head", _NEG), ("critic_torso", "critic_head", 0.0)):
        layer0, layer1, last = tree[torso][_LAYERS[0]], tree[torso][_LAYERS[1]], tree[head]
        w3 = last["kernel"]
        out += [
            jnp.pad(layer0["kernel"], ((0, obs_pad - obs_dim), (0, 0))),
            layer0["bias"],
            layer1["kernel"],
            layer1["bias"],
            jnp.pad(w3, ((0, 0), (0, head_pad - w3.shape[1]))),
            jnp.pad(last["bias"], (0, head_pad - w3.shape[1]), constant_values=pad_bias),
        ]
    return out


def _unpadded_grads(grads: list, params: Any) -> Any:
    """Kernel gradients (padded) back in the shape of flax ``params``."""
    tree = params["params"]
    out = {}
    parts = iter(grads)
    for torso, head in (("actor_torso", "actor_head"), ("critic_torso", "critic_head")):
        layers = {}
        for name in _LAYERS:
            kernel, bias = next(parts), next(parts)
            shape = tree[torso][name]["kernel"].shape
            layers[name] = {"kernel": kernel[: shape[0], : shape[1]], "bias": bias}
        out[torso] = layers
        kernel, bias = next(parts), next(parts)
        width = tree[head]["kernel"].shape[1]
        out[head] = {"kernel": kernel[:, :width], "bias": bias[:width]}
    return {"params": out}


# -- the gradient ----------------------------------------------------------------------------


def _block_sums(rows, operands, scalars, *, activation, clip_value_loss, interpret):
    """Partial gradients and loss sums of every ``rows``-row block, summed over the blocks."""
    from jax.experimental import pallas as pl

    obs = operands[0]
    num_rows = obs.shape[0]
    num_blocks = num_rows // rows
    weights = operands[6:]
    row_specs = [pl.BlockSpec((rows, obs.shape[1]), lambda i: (i, 0))] + [
        pl.BlockSpec((rows,), lambda i: (i,)) for _ in range(5)
    ]
    whole = [pl.BlockSpec(w.shape, lambda i, n=w.ndim: (0,) * n) for w in (scalars, *weights)]
    per_block = [pl.BlockSpec((None, *w.shape), lambda i, n=w.ndim: (i,) + (0,) * n) for w in weights]
    kwargs = {}
    if not interpret:
        from jax.experimental.pallas import triton as plgpu

        kwargs["compiler_params"] = plgpu.CompilerParams(num_warps=NUM_WARPS, num_stages=1)
    out = pl.pallas_call(
        functools.partial(_kernel, activation=activation, clip_value_loss=clip_value_loss),
        grid=(num_blocks,),
        in_specs=row_specs + whole,
        out_specs=per_block + [pl.BlockSpec((None, _PAD), lambda i: (i, 0))],
        out_shape=[jax.ShapeDtypeStruct((num_blocks, *w.shape), jnp.float32) for w in weights]
        + [jax.ShapeDtypeStruct((num_blocks, _PAD), jnp.float32)],
        interpret=interpret,
        name="ppo_mlp_grad",
        **kwargs,
    )(*operands[:6], scalars, *weights)
    return [o.sum(axis=0) for o in out] if REDUCE else [o[0] for o in out]


def loss_and_grad(
    params: Any,
    obs: jax.Array,
    action: jax.Array,
    old_log_prob: jax.Array,
    old_value: jax.Array,
    advantage: jax.Array,
    target: jax.Array,
    *,
    clip_eps: float | jax.Array,
    vf_coef: float | jax.Array,
    ent_coef: float | jax.Array,
    num_actions: int,
    activation: str = "tanh",
    clip_value_loss: bool = True,
    row_axis: int = 0,
    interpret: bool = False,
) -> tuple[Any, LossInfo]:
    """``jax.grad`` of the PPO loss (advantages already normalised) with its `LossInfo`, fused.

    Inputs are one minibatch with any leading row axes (``obs`` ``[*rows, D]``,
    the rest ``[*rows]``). Under a device mesh with an ``"envs"`` axis, leading axis
    ``row_axis`` is the one split over it: each device runs its own rows and the
    sums are added across devices.
    """
    from jaxrl.sharding import ENV_AXIS

    num_rows = int(np.prod(action.shape))
    obs_dim = obs.shape[-1]
    obs_pad = _pow2_at_least(obs_dim)
    values = [jnp.asarray(v, jnp.float32) for v in (clip_eps, vf_coef, ent_coef, 1.0 / num_rows)]
    scalars = jnp.pad(jnp.stack(values), (0, _PAD - len(values)))
    weights = _padded_params(params, obs_dim, num_actions)
    mesh = jax.sharding.get_abstract_mesh()
    sharded = not mesh.empty and ENV_AXIS in mesh.axis_names and mesh.shape[ENV_AXIS] > 1

    def local(obs, action, old_log_prob, old_value, advantage, target, scalars, *weights):
        rows = _rows_per_block(int(np.prod(action.shape)))
        flat = [x.reshape(-1) for x in (action.astype(jnp.int32), old_log_prob, old_value, advantage, target)]
        x = jnp.pad(obs.reshape(-1, obs_dim), ((0, 0), (0, obs_pad - obs_dim)))
        sums = _block_sums(
            rows, [x, *flat, *weights], scalars,
            activation=activation, clip_value_loss=clip_value_loss, interpret=interpret,
        )
        if sharded:
            sums = jax.lax.psum(sums, ENV_AXIS)
        return sums

    if sharded:
        rows_spec = PartitionSpec(*([None] * row_axis), ENV_AXIS)
        local = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(rows_spec,) * 6 + (PartitionSpec(),) * (1 + len(weights)),
            out_specs=PartitionSpec(),
            check_vma=False,  # the kernel's outputs carry no varying-axis annotation
        )
    *grads, sums = local(obs, action, old_log_prob, old_value, advantage, target, scalars, *weights)
    mean = sums / num_rows
    policy_loss, value_loss, entropy = mean[_POLICY], mean[_VALUE], mean[_ENTROPY]
    total = policy_loss + vf_coef * value_loss - ent_coef * entropy
    info = LossInfo(total, policy_loss, value_loss, entropy, mean[_KL], mean[_CLIPPED])
    return _unpadded_grads(grads, params), info


def rows_fit(num_rows_per_device: int) -> bool:
    """Whether a minibatch of this many rows (per device) splits into the kernel's blocks."""
    return _rows_per_block(num_rows_per_device) is not None
