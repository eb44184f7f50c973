"""AlphaZero's network: a residual convolution torso over board planes, a policy head and a value head.

The torso is a pure function of its parameters (no running statistics in the
training state, the same output for one game or a batch): either layer
normalisation after every convolution, or none at all with each residual
branch scaled by a learnt scalar that starts at 0 (ReZero, Bachlechner et al.
2020), so that the network starts as its stem and deepens as it learns. The
second is the faster one on GPUs: the searches evaluate the network on every
simulation, and there the normalisations' extra passes over the activations
cost about a third as much as the convolutions themselves (BENCHMARKS.md).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.networks import ResidualBlock

# Near-zero policy logits at the start: a uniform prior until the search has taught the network.
_SMALL = nn.initializers.variance_scaling(1e-4, "fan_in", "truncated_normal")


NORMS = ("layer", "rezero")


class AlphaZeroNet(nn.Module):
    """``obs [*batch, H, W, C] -> (logits [*batch, num_actions], value [*batch])``.

    The value is from the viewpoint of the player to move: squashed into
    ``[-1, 1]`` by tanh for two-player games (``bounded_value``), unbounded for
    single-player returns. Flax's default (LeCun normal) initialisers: cheap,
    unlike an orthogonal one, which matters when the state is built outside jit.
    ``dtype`` is the torso's compute type (parameters stay float32; layer norms
    accumulate in float32 either way); the heads and outputs are float32.
    """

    num_actions: int
    channels: int = 64
    num_blocks: int = 4
    bounded_value: bool = True
    dtype: jnp.dtype = jnp.float32
    norm: str = "layer"

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        batch_shape = obs.shape[:-3]
        x = obs.reshape((-1,) + obs.shape[-3:]).astype(self.dtype)
        x = nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype)(x)
        x = nn.relu(nn.LayerNorm(dtype=self.dtype)(x) if self.norm == "layer" else x)
        for _ in range(self.num_blocks):
            x = ResidualBlock(self.channels, self.dtype, self.norm)(x)
        x = x.astype(jnp.float32)

        # The heads' 1x1 convolutions are normalised over the whole flattened board: a layer norm
        # over their one or two channels would erase them.
        policy = nn.Conv(2, (1, 1))(x).reshape(x.shape[0], -1)
        policy = nn.relu(nn.LayerNorm()(policy))
        logits = nn.Dense(self.num_actions, kernel_init=_SMALL)(policy)

        value = nn.Conv(1, (1, 1))(x).reshape(x.shape[0], -1)
        value = nn.relu(nn.Dense(self.channels)(nn.relu(nn.LayerNorm()(value))))
        value = nn.Dense(1)(value)[:, 0]
        if self.bounded_value:
            value = jnp.tanh(value)
        return logits.reshape(batch_shape + (self.num_actions,)), value.reshape(batch_shape)


__all__ = ["NORMS", "AlphaZeroNet", "ResidualBlock"]
