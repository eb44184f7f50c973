"""Actor-critic networks (flax) and the action distributions PPO samples from.

One network class serves every action space; only the head and the
distribution differ: Categorical (discrete), MaskedCategorical (discrete with
a legal-action mask) and DiagGaussian (continuous, state-independent log-std).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Large negative logit for illegal actions: exp() underflows to exactly 0 in
# float32 while staying finite, so no inf - inf NaNs appear in gradients.
_MASKED_LOGIT = -1e9


# -- distributions ----------------------------------------------------------------


class Categorical(NamedTuple):
    """Categorical over the last axis of ``logits`` ``[..., A]``."""

    logits: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        log_probs = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_probs = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


class MaskedCategorical(NamedTuple):
    """Categorical restricted to ``mask`` ``[..., A]`` (True = legal).

    Illegal actions get probability exactly 0, are never sampled and do not
    contribute to the entropy. At least one action must be legal.
    """

    logits: jax.Array
    mask: jax.Array

    @property
    def masked_logits(self) -> jax.Array:
        return jnp.where(self.mask, self.logits, _MASKED_LOGIT)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.masked_logits).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        return Categorical(self.masked_logits).log_prob(action)

    def entropy(self) -> jax.Array:
        log_probs = jax.nn.log_softmax(self.masked_logits)
        return -jnp.sum(jnp.where(self.mask, jnp.exp(log_probs) * log_probs, 0.0), axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.masked_logits, axis=-1).astype(jnp.int32)


class DiagGaussian(NamedTuple):
    """Independent Gaussians over the last axis: ``mean`` ``[..., D]``, ``log_std`` ``[D]``."""

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        per_dim = -0.5 * z**2 - self.log_std - 0.5 * np.log(2 * np.pi)
        return jnp.sum(per_dim, axis=-1)

    def entropy(self) -> jax.Array:
        per_dim = self.log_std + 0.5 * (1.0 + np.log(2 * np.pi))
        return jnp.sum(jnp.broadcast_to(per_dim, self.mean.shape), axis=-1)

    def mode(self) -> jax.Array:
        return self.mean


Distribution = Categorical | MaskedCategorical | DiagGaussian


# -- networks ---------------------------------------------------------------------

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def _orthonormal_columns(matrix: jax.Array) -> jax.Array:
    """Q of the QR decomposition with a positive diagonal in R, for ``matrix`` ``[m, k]``, m >= k.

    Classical Gram-Schmidt with one re-orthogonalisation pass: plain matmuls
    in a loop, no LAPACK call. (A batched LAPACK QR is what `vmap` over seeds
    turns the usual orthogonal initialiser into; on CPU it is slow and can
    stall the process.)
    """
    m, k = matrix.shape

    def add_column(j, q):
        v = jax.lax.dynamic_index_in_dim(matrix, j, axis=1, keepdims=False)
        for _ in range(2):
            v = v - q @ (q.T @ v)
        return jax.lax.dynamic_update_index_in_dim(q, v / jnp.linalg.norm(v), j, axis=1)

    return jax.lax.fori_loop(0, k, add_column, jnp.zeros_like(matrix))


def orthogonal(scale: float = 1.0, column_axis: int = -1):
    """Orthogonal initialiser with the same distribution and values as flax's, without LAPACK.

    The kernel is viewed as ``[rows, columns]`` (all axes but ``column_axis``
    are rows); a Gaussian matrix of the larger-by-smaller shape is
    orthonormalised and transposed if needed, then multiplied by ``scale``.
    """

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        n_cols = shape[column_axis]
        n_rows = int(np.prod(shape)) // n_cols
        tall = (n_cols, n_rows) if n_rows < n_cols else (n_rows, n_cols)
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        if n_rows < n_cols:
            q = q.T
        q = jnp.moveaxis(q.reshape(tuple(np.delete(shape, column_axis)) + (n_cols,)), -1, column_axis)
        return (scale * q).astype(dtype)

    return init


# A side of a matmul at most this narrow (CartPole's 4 inputs, a 2-action head) can be written as
# broadcast multiply-adds instead of a dot (`Dense.narrow`; `jaxrl.backend` decides where).
_NARROW = 8


class Dense(nn.Dense):
    """`flax.linen.Dense` (same parameters, names and initialisation) that skips the matmul when one side is narrow.

    With at most `_NARROW` inputs the layer is ``sum_i x[..., i] * kernel[i]``; with at most
    `_NARROW` outputs each output is a sum over the inputs; ``activation`` (if any) is applied
    after the bias. XLA can then fuse the layer into its neighbours: on a GPU the first layer's
    multiply-adds run inside the next matmul's kernel and a narrow head's backward pass becomes
    elementwise, which removes kernels and activation traffic from the memory-bound minibatch
    gradient (BENCHMARKS.md, "What was tried"). The sums run in float32, never in TF32.
    With ``narrow`` False (the CPU's choice: there the multiply-adds measured 2x slower) it is
    a plain matmul.
    """

    activation: Any = None
    narrow: bool = False

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        fan_in = inputs.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (fan_in, self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        narrow = self.narrow
        if narrow and fan_in <= _NARROW:
            out = inputs[..., 0:1] * kernel[0]
            for i in range(1, fan_in):
                out = out + inputs[..., i : i + 1] * kernel[i]
        elif narrow and self.features <= _NARROW:
            out = jnp.sum(inputs[..., :, None] * kernel, axis=-2)
        else:
            out = inputs @ kernel
        out = out + bias
        return out if self.activation is None else self.activation(out)


def _dense(features: int, scale: float, narrow: bool, name: str | None = None, activation: Any = None) -> Dense:
    return Dense(
        features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros, name=name, activation=activation,
        narrow=narrow,
    )


class MLPTorso(nn.Module):
    """Flattens each observation and applies dense layers with orthogonal init (sqrt 2)."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    narrow_matmuls: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, batch_ndim: int) -> jax.Array:
        x = obs.reshape(obs.shape[:batch_ndim] + (-1,))
        for i, width in enumerate(self.hidden_sizes):
            activation = _ACTIVATIONS[self.activation]
            x = _dense(width, np.sqrt(2), self.narrow_matmuls, name=f"Dense_{i}", activation=activation)(x)
        return x


class Conv3x3(nn.Module):
    """A 3x3 same-padded convolution ``[N, H, W, C] -> [N, H, W, features]`` with `flax.linen.Conv`'s
    parameters (``kernel [3, 3, C, features]``, ``bias``), computed as one matmul of the 9 shifted,
    zero-padded copies of the input with the flattened kernel: the same function, rounded differently."""

    features: int
    kernel_init: Any = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        height, width = x.shape[-3], x.shape[-2]
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        # (dy, dx, channel) order, as the kernel's axes flatten.
        patches = jnp.concatenate(
            [padded[:, dy:dy + height, dx:dx + width, :] for dy in range(3) for dx in range(3)], axis=-1
        )
        return patches @ kernel.reshape(-1, self.features) + bias


class ConvTorso(nn.Module):
    """Two 3x3 same-padded convolutions over board planes ``[..., H, W, C]``, then the MLP.

    ``conv_as_matmul``: the convolutions as `Conv3x3` matmuls (same parameters, same function).
    """

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    channels: Sequence[int] = (32, 64)
    narrow_matmuls: bool = False
    conv_as_matmul: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, batch_ndim: int) -> jax.Array:
        batch_shape = obs.shape[:batch_ndim]
        x = obs.reshape((-1,) + obs.shape[batch_ndim:])
        for i, channels in enumerate(self.channels):
            init = orthogonal(np.sqrt(2))
            conv = (Conv3x3(channels, kernel_init=init, name=f"Conv_{i}") if self.conv_as_matmul
                    else nn.Conv(channels, (3, 3), padding="SAME", kernel_init=init, name=f"Conv_{i}"))
            x = _ACTIVATIONS[self.activation](conv(x))
        x = x.reshape(batch_shape + x.shape[1:])
        return MLPTorso(self.hidden_sizes, self.activation, self.narrow_matmuls)(x, batch_ndim)


class SmallConvTorso(ConvTorso):
    """One 3x3 convolution of 16 channels, then the MLP: the network of the MinAtar paper (Young and
    Tian, 2019), with about a tenth of `ConvTorso`'s arithmetic on a 10x10 board."""

    channels: Sequence[int] = (16,)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions and a skip connection, ``[N, H, W, C] -> [N, H, W, C]``.

    ``norm`` 'layer': a layer norm after each convolution; 'rezero': no norm, the branch
    scaled by a learnt scalar initialised to 0 (ReZero, Bachlechner et al. 2020) before it
    joins the skip, so a deep torso starts as the identity. ``conv_as_matmul``: the
    convolutions as `Conv3x3` matmuls (same parameters, float32 only).
    """

    channels: int
    dtype: jnp.dtype = jnp.float32
    norm: str = "layer"
    conv_as_matmul: bool = False

    def _conv(self, name: str) -> nn.Module:
        if self.conv_as_matmul:
            return Conv3x3(self.channels, name=name)
        return nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype, name=name)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self._conv("Conv_0")(x)
        if self.norm == "layer":
            y = nn.relu(nn.LayerNorm(dtype=self.dtype, name="LayerNorm_0")(y))
            y = self._conv("Conv_1")(y)
            return nn.relu(x + nn.LayerNorm(dtype=self.dtype, name="LayerNorm_1")(y))
        y = self._conv("Conv_1")(nn.relu(y))
        scale = self.param("branch_scale", nn.initializers.zeros, ())
        return nn.relu(x + (scale * y).astype(x.dtype))


class ResidualTorso(nn.Module):
    """A 3x3 stem convolution to ``channels``, ``num_blocks`` ReZero residual blocks over board
    planes ``[..., H, W, C]``, then the MLP over the flattened planes.

    No normalisation, so the torso is a pure function of its parameters and one game's output
    does not depend on the batch. ``conv_as_matmul``: see `ConvTorso`.
    """

    hidden_sizes: Sequence[int]
    activation: str = "relu"
    channels: int = 64
    num_blocks: int = 2
    narrow_matmuls: bool = False
    conv_as_matmul: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, batch_ndim: int) -> jax.Array:
        batch_shape = obs.shape[:batch_ndim]
        x = obs.reshape((-1,) + obs.shape[batch_ndim:])
        init = orthogonal(np.sqrt(2))
        stem = (Conv3x3(self.channels, kernel_init=init, name="Stem") if self.conv_as_matmul
                else nn.Conv(self.channels, (3, 3), padding="SAME", kernel_init=init, name="Stem"))
        x = nn.relu(stem(x))
        for i in range(self.num_blocks):
            x = ResidualBlock(self.channels, norm="rezero", conv_as_matmul=self.conv_as_matmul,
                              name=f"Block_{i}")(x)
        x = x.reshape(batch_shape + x.shape[1:])
        return MLPTorso(self.hidden_sizes, self.activation, self.narrow_matmuls)(x, batch_ndim)


TORSOS = {"mlp": MLPTorso, "conv": ConvTorso, "small_conv": SmallConvTorso, "resnet": ResidualTorso}


class ActorCritic(nn.Module):
    """Separate actor and critic networks of the same torso shape.

    Observations are ``[*batch, *obs_shape]`` with ``obs_ndim`` trailing
    observation axes. ``actor(obs)`` returns the head ``(logits_or_mean,
    log_std_or_None)``, ``value(obs)`` the value ``[*batch]``, and
    ``__call__`` both. Keeping them separate lets the rollout run the actor
    alone and evaluate the critic on the whole batch at once afterwards.
    ``narrow_matmuls``: see `Dense.narrow` (the same function either way); ``conv_as_matmul``: see
    `ConvTorso`; ``channels`` and ``num_blocks``: the 'resnet' torso's (`ResidualTorso`).
    """

    action_dim: int
    continuous: bool
    obs_ndim: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    torso: str = "mlp"
    log_std_init: float = 0.0
    narrow_matmuls: bool = False
    conv_as_matmul: bool = False
    channels: int = 64
    num_blocks: int = 2

    def setup(self) -> None:
        cls = TORSOS[self.torso]
        narrow = self.narrow_matmuls
        options = {"narrow_matmuls": narrow}
        if self.torso != "mlp":
            options["conv_as_matmul"] = self.conv_as_matmul
        if self.torso == "resnet":
            options.update(channels=self.channels, num_blocks=self.num_blocks)
        self.actor_torso = cls(tuple(self.hidden_sizes), self.activation, **options)
        self.actor_head = _dense(self.action_dim, 0.01, narrow)
        self.critic_torso = cls(tuple(self.hidden_sizes), self.activation, **options)
        self.critic_head = _dense(1, 1.0, narrow)
        if self.continuous:
            self.log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,))

    def actor(self, obs: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        out = self.actor_head(self.actor_torso(obs, obs.ndim - self.obs_ndim))
        return out, (self.log_std if self.continuous else None)

    def value(self, obs: jax.Array) -> jax.Array:
        return self.critic_head(self.critic_torso(obs, obs.ndim - self.obs_ndim))[..., 0]

    def __call__(self, obs: jax.Array) -> tuple[tuple[jax.Array, jax.Array | None], jax.Array]:
        return self.actor(obs), self.value(obs)


def make_distribution(
    head: tuple[jax.Array, jax.Array | None], mask: jax.Array | None = None
) -> Distribution:
    """The action distribution for a head output ``(logits_or_mean, log_std)``."""
    out, log_std = head
    if log_std is not None:
        return DiagGaussian(out, log_std)
    if mask is not None:
        return MaskedCategorical(out, mask)
    return Categorical(out)
