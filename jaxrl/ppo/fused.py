"""The PPO minibatch gradient of an MLP actor-critic as two fused GPU kernels (Pallas, Triton).

XLA runs a minibatch gradient step of the small MLPs PPO uses (two hidden
layers of 64) as some sixty kernels that each read or write ``[rows, 64]``
activations in device memory: the step is bound by memory traffic (about 28
passes over the activations per step, BENCHMARKS.md). Here one kernel takes
the actor and one the critic through the forward pass, their part of the PPO
loss and the backward pass with the activations in registers: only the rows'
inputs (observation, action, old log-probability, advantage, old value,
target) are read, and every program writes one partial gradient, which XLA
sums.

Each program loops over ``tiles`` tiles of ``rows`` rows and accumulates its
gradient in registers; the grid has one program per ``rows * tiles`` rows.
Under `jax.vmap` (seeds, hyperparameter sweeps) Pallas adds a grid axis, so
every seed's minibatch runs in the same two launches.

The result is the same function as ``jax.grad`` of `jaxrl.ppo.losses.ppo_loss`
(tests compare the two, including JAX's tie-breaking where ``max`` and
``clip`` meet), rounded differently: matmuls use TF32 like XLA's default
float32 precision on GPUs, and the sums over rows run in another order.

Applies to (`supports` says why not otherwise): flat observations, discrete
actions without a mask, and the MLP torso with hidden widths that are powers
of two >= 16. Inputs and heads are padded to 16 columns (Triton's smallest
matmul side); a padded action gets a logit of -1e30, so probability 0.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from jaxrl.ppo.losses import LossInfo
from jaxrl.sharding import ENV_AXIS

_PAD = 16  # Triton's smallest matmul side: narrow inputs and heads are padded to it
_NEG = -1e30  # logit of a padded (non-existent) action: exp() gives exactly 0
# Row-independent scalars handed to the kernels (they may be traced: vmapped hyperparameters).
_CLIP, _VF, _ENT, _INV_ROWS = range(4)
# Per-program sums: policy loss, entropy, approx KL, clipped count (actor); value loss (critic).
_POLICY, _ENTROPY, _KL, _CLIPPED, _VALUE = range(5)

# Launch shape (measured on an H100, BENCHMARKS.md "What was tried"): rows per tile, warps per
# program, and the fewest programs worth having before tiles are looped inside one program.
ROWS = 64
NUM_WARPS = 4
NUM_STAGES = 1
MIN_PROGRAMS = 256
# Matmul precision inside the kernels: None is TF32, like XLA's default for float32 on GPUs;
# `jax.lax.Precision.HIGHEST` gives float32 products, measured 9x slower on an H100.
PRECISION = None


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
        return f"observations of shape {tuple(obs_shape)} (needs flat vectors)"
    sizes = tuple(network.hidden_sizes)
    if not sizes or any(s < _PAD or s & (s - 1) for s in sizes):
        return f"hidden sizes {sizes} (needs powers of two >= {_PAD})"
    if network.activation not in ("tanh", "relu"):
        return f"activation {network.activation}"
    return None


def tiling(num_rows: int) -> tuple[int, int] | None:
    """``(rows, tiles)`` per program for a minibatch of ``num_rows`` rows, or None if it does not tile.

    Tiles have `ROWS` rows (or the largest power of two >= 16 dividing ``num_rows``, if
    fewer); a program loops over as many tiles as keeps the grid at `MIN_PROGRAMS` or more.
    """
    rows = next((r for r in (ROWS, 64, 32, 16) if r <= ROWS and num_rows % r == 0), None)
    if rows is None:
        return None
    blocks = num_rows // rows
    tiles = 1
    while blocks % (2 * tiles) == 0 and blocks // (2 * tiles) >= MIN_PROGRAMS:
        tiles *= 2
    return rows, tiles


# -- the kernels -----------------------------------------------------------------------------


def _activate(z, activation):
    return jnp.tanh(z) if activation == "tanh" else jnp.maximum(z, 0.0)


def _activation_grad(h, activation):
    """d activation / d z from the activation's output ``h`` (tanh' = 1 - h^2; relu' = h > 0)."""
    return 1.0 - h * h if activation == "tanh" else jnp.where(h > 0.0, 1.0, 0.0)


def _dot(a, b, trans_a=False, trans_b=False):
    """``a @ b`` of 2-D tiles, either side transposed; float32 accumulation at default precision."""
    contract = (((0 if trans_a else 1,), (1 if trans_b else 0,)), ((), ()))
    return jax.lax.dot_general(a, b, contract, precision=PRECISION, preferred_element_type=jnp.float32)


def _max_grad_weights(a, b):
    """d max(a, b) / d(a, b) as JAX defines it: all to the larger, half each on a tie."""
    wa = jnp.where(a > b, 1.0, jnp.where(a < b, 0.0, 0.5))
    return wa, 1.0 - wa


def _clip_grad(x, low, high):
    """d clip(x, low, high) / dx as JAX defines it: 1 inside, 0 outside, 0.5 on an edge."""
    inside = jnp.where((x > low) & (x < high), 1.0, 0.0)
    return jnp.where((x == low) | (x == high), 0.5, inside)


def _policy_head(logits, row, scalars):
    """Policy terms of the loss for one tile: d(loss)/d(logits) and per-row sums.

    ``row``: (action, old log-prob, advantage) ``[R]``. Returns ``d_logits`` ``[R, A]``
    and (policy loss, entropy, approx KL, clipped) per row.
    """
    action, old_log_prob, advantage = row
    clip_eps, ent_coef, inv_rows = scalars[_CLIP], scalars[_ENT], scalars[_INV_ROWS]
    shifted = logits - jnp.max(logits, axis=1)[:, None]
    exp = jnp.exp(shifted)
    total = jnp.sum(exp, axis=1)
    log_probs = shifted - jnp.log(total)[:, None]
    probs = exp / total[:, None]
    chosen = jax.lax.broadcasted_iota(jnp.int32, logits.shape, 1) == action[:, None]
    log_prob = jnp.sum(jnp.where(chosen, log_probs, 0.0), axis=1)
    entropy = -jnp.sum(probs * log_probs, axis=1)
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    low, high = 1.0 - clip_eps, 1.0 + clip_eps
    unclipped = -advantage * ratio
    clipped = -advantage * jnp.clip(ratio, low, high)
    w_unclipped, w_clipped = _max_grad_weights(unclipped, clipped)
    d_log_prob = -advantage * (w_unclipped + w_clipped * _clip_grad(ratio, low, high)) * ratio
    # d/dlogits of log p(a) is onehot(a) - p; of the entropy, -p * (log p + H).
    d_logits = inv_rows * (
        d_log_prob[:, None] * (jnp.where(chosen, 1.0, 0.0) - probs)
        + ent_coef * probs * (log_probs + entropy[:, None])
    )
    sums = (
        jnp.maximum(unclipped, clipped),
        entropy,
        (ratio - 1.0) - log_ratio,
        jnp.where(jnp.abs(ratio - 1.0) > clip_eps, 1.0, 0.0),
    )
    return d_logits, sums


def _value_head(out, row, scalars, *, clip_value_loss):
    """Value terms of the loss for one tile (the value is column 0 of ``out`` ``[R, 16]``)."""
    old_value, target = row
    clip_eps, vf_coef, inv_rows = scalars[_CLIP], scalars[_VF], scalars[_INV_ROWS]
    first = jax.lax.broadcasted_iota(jnp.int32, out.shape, 1) == 0
    value = jnp.sum(jnp.where(first, out, 0.0), axis=1)
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
    d_out = jnp.where(first, (inv_rows * vf_coef * 0.5 * d_value)[:, None], 0.0)
    return d_out, (0.5 * squared,)


def _mlp_kernel(scalars_ref, obs_ref, *refs, head: Callable, num_row_inputs: int, num_layers: int,
                num_sums: int, rows: int, tiles: int, activation: str):
    """Forward, loss and backward of one MLP over ``tiles`` tiles of ``rows`` rows; one partial gradient out.

    ``refs``: the per-row inputs, then the layers' (kernel, bias) pairs (hidden layers,
    then the head), then the same for the gradients, then the per-program sums ``[16]``.
    """
    row_refs = refs[:num_row_inputs]
    weight_refs = refs[num_row_inputs : num_row_inputs + 2 * num_layers]
    grad_refs = refs[num_row_inputs + 2 * num_layers : num_row_inputs + 4 * num_layers]
    sums_ref = refs[-1]
    from jax.experimental import pallas as pl

    scalars = [scalars_ref[i] for i in range(4)]
    weights = [(weight_refs[2 * i][...], weight_refs[2 * i + 1][...]) for i in range(num_layers)]

    def tile(t, carry):
        grads, sums = carry
        start = pl.multiple_of(t * rows, rows) if tiles > 1 else 0
        x = obs_ref[pl.ds(start, rows), :]
        inputs = [x]
        out = x
        for i, (kernel, bias) in enumerate(weights):
            out = _dot(out, kernel) + bias[None, :]
            if i < num_layers - 1:
                out = _activate(out, activation)
                inputs.append(out)
        d_out, row_sums = head(out, [r[pl.ds(start, rows)] for r in row_refs], scalars)
        new_grads = [None] * num_layers
        for i in reversed(range(num_layers)):
            h = inputs[i]
            g_kernel, g_bias = grads[i]
            new_grads[i] = (g_kernel + _dot(h, d_out, trans_a=True), g_bias + jnp.sum(d_out, axis=0))
            if i > 0:
                d_out = _dot(d_out, weights[i][0], trans_b=True) * _activation_grad(h, activation)
        return new_grads, [s + r for s, r in zip(sums, row_sums)]

    zeros = [(jnp.zeros(k.shape, jnp.float32), jnp.zeros(b.shape, jnp.float32)) for k, b in weights]
    init = (zeros, [jnp.zeros((rows,), jnp.float32) for _ in range(num_sums)])
    grads, sums = jax.lax.fori_loop(0, tiles, tile, init) if tiles > 1 else tile(0, init)
    for i, (g_kernel, g_bias) in enumerate(grads):
        grad_refs[2 * i][...] = g_kernel
        grad_refs[2 * i + 1][...] = g_bias
    slots = jax.lax.broadcasted_iota(jnp.int32, (_PAD,), 0)
    sums_ref[...] = sum(jnp.where(slots == i, jnp.sum(s), 0.0) for i, s in enumerate(sums))


def _run_mlp(obs, row_inputs, weights, scalars, *, head, num_sums, activation, interpret, name):
    """Partial gradients of one MLP's weights summed over programs, and its loss sums ``[16]``."""
    from jax.experimental import pallas as pl

    num_rows = obs.shape[0]
    rows, tiles = tiling(num_rows)
    block = rows * tiles
    num_programs = num_rows // block
    num_layers = len(weights) // 2
    in_specs = (
        [pl.BlockSpec(scalars.shape, lambda i: (0,)), pl.BlockSpec((block, obs.shape[1]), lambda i: (i, 0))]
        + [pl.BlockSpec((block,), lambda i: (i,)) for _ in row_inputs]
        + [pl.BlockSpec(w.shape, lambda i, n=w.ndim: (0,) * n) for w in weights]
    )
    out_specs = [pl.BlockSpec((None, *w.shape), lambda i, n=w.ndim: (i,) + (0,) * n) for w in weights]
    out_specs.append(pl.BlockSpec((None, _PAD), lambda i: (i, 0)))
    out_shape = [jax.ShapeDtypeStruct((num_programs, *w.shape), jnp.float32) for w in weights]
    out_shape.append(jax.ShapeDtypeStruct((num_programs, _PAD), jnp.float32))
    kwargs = {}
    if not interpret:
        from jax.experimental.pallas import triton as plgpu

        kwargs["compiler_params"] = plgpu.CompilerParams(num_warps=NUM_WARPS, num_stages=NUM_STAGES)
    kernel = functools.partial(
        _mlp_kernel, head=head, num_row_inputs=len(row_inputs), num_layers=num_layers,
        num_sums=num_sums, rows=rows, tiles=tiles, activation=activation,
    )
    out = pl.pallas_call(
        kernel, grid=(num_programs,), in_specs=in_specs, out_specs=out_specs, out_shape=out_shape,
        interpret=interpret, name=name, **kwargs,
    )(scalars, obs, *row_inputs, *weights)
    return [o.sum(axis=0) for o in out]


# -- padding the parameters to the kernels' shapes and back ----------------------------------


def _padded_weights(tree: Any, torso: str, head: str, num_hidden: int, obs_pad: int, head_pad: int,
                    pad_bias: float) -> list[jax.Array]:
    """One MLP's (kernel, bias) operands: the input rows padded to ``obs_pad``, the head to ``head_pad`` columns."""
    out = []
    for i in range(num_hidden):
        layer = tree[torso][f"Dense_{i}"]
        kernel = layer["kernel"]
        if i == 0:
            kernel = jnp.pad(kernel, ((0, obs_pad - kernel.shape[0]), (0, 0)))
        out += [kernel, layer["bias"]]
    kernel, bias = tree[head]["kernel"], tree[head]["bias"]
    width = kernel.shape[1]
    out += [
        jnp.pad(kernel, ((0, 0), (0, head_pad - width))),
        jnp.pad(bias, (0, head_pad - width), constant_values=pad_bias),
    ]
    return out


def _unpadded_grads(grads: list, tree: Any, torso: str, head: str, num_hidden: int) -> dict:
    """One MLP's gradients (padded operands' shapes) back in the shape of its flax parameters."""
    parts = iter(grads)
    layers = {}
    for i in range(num_hidden):
        name = f"Dense_{i}"
        kernel, bias = next(parts), next(parts)
        layers[name] = {"kernel": kernel[: tree[torso][name]["kernel"].shape[0]], "bias": bias}
    kernel, bias = next(parts), next(parts)
    width = tree[head]["kernel"].shape[1]
    return {torso: layers, head: {"kernel": kernel[:, :width], "bias": bias[:width]}}


# -- the gradient ----------------------------------------------------------------------------


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
    activation: str = "tanh",
    clip_value_loss: bool = True,
    interpret: bool = False,
) -> tuple[Any, LossInfo]:
    """``jax.grad`` of the PPO loss (advantages already normalised) and its `LossInfo`, fused.

    One minibatch: ``obs`` ``[N, D]``, the rest ``[N]``; ``N`` must satisfy `tiling`.
    Under a device mesh with an ``"envs"`` axis the rows are split over it: each device
    runs its own rows and the sums are added across devices.
    """

    tree = params["params"]
    num_hidden = len(tree["actor_torso"])
    num_rows, obs_dim = obs.shape
    obs_pad = _pow2_at_least(obs_dim)
    num_actions = tree["actor_head"]["kernel"].shape[1]
    values = [jnp.asarray(v, jnp.float32) for v in (clip_eps, vf_coef, ent_coef, 1.0 / num_rows)]
    scalars = jnp.pad(jnp.stack(values), (0, _PAD - len(values)))
    actor = _padded_weights(tree, "actor_torso", "actor_head", num_hidden, obs_pad, _pow2_at_least(num_actions), _NEG)
    critic = _padded_weights(tree, "critic_torso", "critic_head", num_hidden, obs_pad, _PAD, 0.0)
    mesh = jax.sharding.get_abstract_mesh()
    sharded = not mesh.empty and ENV_AXIS in mesh.axis_names and mesh.shape[ENV_AXIS] > 1

    def local(obs, action, old_log_prob, old_value, advantage, target, scalars, actor, critic):
        x = jnp.pad(obs.astype(jnp.float32), ((0, 0), (0, obs_pad - obs_dim)))
        common = dict(activation=activation, interpret=interpret)
        *actor_grads, actor_sums = _run_mlp(
            x, [action.astype(jnp.int32), old_log_prob, advantage], actor, scalars,
            head=_policy_head, num_sums=4, name="ppo_actor_grad", **common,
        )
        *critic_grads, critic_sums = _run_mlp(
            x, [old_value, target], critic, scalars,
            head=functools.partial(_value_head, clip_value_loss=clip_value_loss),
            num_sums=1, name="ppo_critic_grad", **common,
        )
        out = (actor_grads, critic_grads, jnp.concatenate([actor_sums[:4], critic_sums[:1]]))
        return jax.lax.psum(out, ENV_AXIS) if sharded else out

    if sharded:
        rows = PartitionSpec(ENV_AXIS)
        local = jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(rows,) * 6 + (PartitionSpec(),) * 3,
            out_specs=PartitionSpec(),
            check_vma=False,  # the kernels' outputs carry no varying-axis annotation
        )
    actor_grads, critic_grads, sums = local(obs, action, old_log_prob, old_value, advantage, target,
                                            scalars, actor, critic)
    mean = sums / num_rows
    policy_loss, entropy, value_loss = mean[_POLICY], mean[_ENTROPY], mean[_VALUE]
    total = policy_loss + vf_coef * value_loss - ent_coef * entropy
    info = LossInfo(total, policy_loss, value_loss, entropy, mean[_KL], mean[_CLIPPED])
    grads = _unpadded_grads(actor_grads, tree, "actor_torso", "actor_head", num_hidden)
    grads.update(_unpadded_grads(critic_grads, tree, "critic_torso", "critic_head", num_hidden))
    return {"params": grads}, info


def rows_fit(num_rows_per_device: int) -> bool:
    """Whether a minibatch of this many rows (per device) splits into the kernels' tiles."""
    return tiling(num_rows_per_device) is not None
