"""Value targets: each game's recent moves wait in a per-game ring until their target is known.

Why this and not a fixed window scored backwards after collection: a window
of ``num_steps`` moves must drop the value targets of every game still running
when it closes (their outcome is not known yet), which wastes the most
expensive data there is (a search per move) and, with games longer than the
window, leaves no value target at all. Here a move waits in its game's ring of
``length`` slots (`Pending`) until its target is known, across updates, and is
then written to the replay buffer:

- when the game ends (`advance`): with the discounted return from the move to
  the end, which is the game's outcome from the mover's view in a two-player
  game (rewards come per seat, the move is credited to its mover's seat); a
  game cut by a time limit keeps its policy targets but masks its value targets
  (it was not lost);
- when the ring is full and a new move needs the slot (`record`): the oldest
  move gets the reward of the ``length`` moves since, plus the discounted
  search value of the new position (negated when the opponent moves there).
  That is the n-step target for ``length = n``, and for 'outcome' and
  'monte_carlo' targets happens only to games longer than ``length``.

Shapes: ``B`` games, ``P`` = ``length`` slots; every function is pure and batched over ``B``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Sample:
    """One training sample (leaves gain leading axes in batches and in the buffer).

    obs: the observation searched from (the mover's view). policy: ``float32[A]`` the search's
    action weights. value: ``float32[]`` the value target, from the mover's view.
    value_mask: ``bool[]`` whether ``value`` is a real target (False for games cut by a time limit).
    """

    obs: jax.Array
    policy: jax.Array
    value: jax.Array
    value_mask: jax.Array


@struct.dataclass
class Pending:
    """The moves of every running game not yet written to the buffer; leaves ``[B, P, ...]`` unless noted.

    obs, policy: as in `Sample`. seat: ``int32`` the mover. reward: ``float32`` discounted reward
    collected by the mover's seat since the move. power: ``float32`` the discount the next reward gets.
    valid: ``bool`` the slot holds a move. moves: ``int32[B]`` moves of the current game so far
    (the next move goes to slot ``moves % P``).
    """

    obs: jax.Array
    policy: jax.Array
    seat: jax.Array
    reward: jax.Array
    power: jax.Array
    valid: jax.Array
    moves: jax.Array

    @property
    def length(self) -> int:
        return self.valid.shape[1]


def init(num_envs: int, length: int, obs_example: jax.Array, num_actions: int) -> Pending:
    """Empty rings of ``length`` slots for ``num_envs`` games; ``obs_example`` is one observation."""
    slots = (num_envs, length)
    return Pending(
        obs=jnp.zeros(slots + obs_example.shape, obs_example.dtype),
        policy=jnp.zeros(slots + (num_actions,), jnp.float32),
        seat=jnp.zeros(slots, jnp.int32),
        reward=jnp.zeros(slots, jnp.float32),
        power=jnp.ones(slots, jnp.float32),
        valid=jnp.zeros(slots, bool),
        moves=jnp.zeros(num_envs, jnp.int32),
    )


def _at(x: jax.Array, slot: jax.Array) -> jax.Array:
    """``x[b, slot[b]]`` for every game: ``[B, P, ...] -> [B, ...]``."""
    index = slot.reshape(slot.shape + (1,) * (x.ndim - 1))
    return jnp.take_along_axis(x, index, axis=1)[:, 0]


def _put(x: jax.Array, slot: jax.Array, new: jax.Array) -> jax.Array:
    """``x`` with ``x[b, slot[b]] = new[b]``, as a select (cheap under vmap, no scatter)."""
    hit = jnp.arange(x.shape[1]) == slot[:, None]
    hit = hit.reshape(hit.shape + (1,) * (x.ndim - 2))
    return jnp.where(hit, jnp.expand_dims(new.astype(x.dtype), 1), x)


def record(
    pending: Pending, obs: jax.Array, policy: jax.Array, seat: jax.Array, root_value: jax.Array
) -> tuple[Pending, Sample, jax.Array]:
    """Store the move about to be played (``obs`` ``[B, ...]``, ``policy`` ``[B, A]``, mover ``seat`` ``[B]``).

    The slot it takes may hold the move ``P`` moves back in the same game: that one
    is returned, its target bootstrapped from ``root_value`` ``[B]`` (the search value of
    this position, from ``seat``'s view). Returns the rings, those samples ``[B]``, and
    which of them are real ``bool[B]``.
    """
    slot = pending.moves % pending.length
    old_seat = _at(pending.seat, slot)
    sign = jnp.where(old_seat == seat, 1.0, -1.0)
    target = _at(pending.reward, slot) + _at(pending.power, slot) * sign * root_value
    out = Sample(
        obs=_at(pending.obs, slot), policy=_at(pending.policy, slot), value=target,
        value_mask=jnp.ones_like(target, bool),
    )
    emitted = _at(pending.valid, slot)
    pending = pending.replace(
        obs=_put(pending.obs, slot, obs),
        policy=_put(pending.policy, slot, policy),
        seat=_put(pending.seat, slot, seat),
        reward=_put(pending.reward, slot, jnp.zeros_like(root_value)),
        power=_put(pending.power, slot, jnp.ones_like(root_value)),
        valid=_put(pending.valid, slot, jnp.ones_like(emitted)),
    )
    return pending, out, emitted


def advance(
    pending: Pending, seat_reward: jax.Array, terminated: jax.Array, truncated: jax.Array, discount: float | jax.Array
) -> tuple[Pending, Sample, jax.Array]:
    """Credit the step's reward and write out the moves of games that ended.

    ``seat_reward``: ``float32[B, num_players]`` (``[B, 1]`` for one player); ``terminated``,
    ``truncated``: ``bool[B]``. Every waiting move gains its seat's reward, discounted by its
    ``power``; then the moves of every finished game are returned as samples ``[B * P]`` (with
    which are real, ``bool[B * P]``) and its ring is emptied.
    """
    num_envs, length = pending.valid.shape
    credit = jnp.take_along_axis(seat_reward, pending.seat, axis=1)
    reward = pending.reward + jnp.where(pending.valid, pending.power * credit, 0.0)
    power = pending.power * discount
    done = terminated | truncated
    flat = lambda x: x.reshape((num_envs * length,) + x.shape[2:])
    out = Sample(
        obs=flat(pending.obs), policy=flat(pending.policy), value=flat(reward),
        value_mask=flat(jnp.broadcast_to(terminated[:, None], (num_envs, length))),
    )
    emitted = flat(pending.valid & done[:, None])
    pending = pending.replace(
        reward=reward, power=power, valid=pending.valid & ~done[:, None],
        moves=jnp.where(done, 0, pending.moves + 1),
    )
    return pending, out, emitted


def concat(*parts: tuple[Sample, jax.Array]) -> tuple[Sample, jax.Array]:
    """Samples and validity flags of several `record` / `advance` outputs as one batch."""
    samples = jax.tree.map(lambda *x: jnp.concatenate(x), *(sample for sample, _ in parts))
    return samples, jnp.concatenate([valid for _, valid in parts])


def example_sample(obs_example: jax.Array, num_actions: int) -> Sample:
    """A zero `Sample` shaped like one move's (what `jaxrl.alphazero.buffer.init` takes)."""
    return Sample(
        obs=jnp.zeros_like(obs_example), policy=jnp.zeros(num_actions, jnp.float32),
        value=jnp.zeros((), jnp.float32), value_mask=jnp.zeros((), bool),
    )


__all__ = ["Pending", "Sample", "advance", "concat", "example_sample", "init", "record"]
