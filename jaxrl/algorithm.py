"""The contract every learning algorithm implements, and what the run layer may rely on.

The host loop, checkpoints, display, loggers, evaluation and the command line
know an algorithm only through this `Protocol` (structural: an algorithm
need not inherit from it). ``B`` below is the env batch of one seed, ``K``
the updates of one host-loop epoch.

Optional, outside the `Protocol` (an algorithm without it needs nothing):

``display_state(state) -> env state``
    One game's own env state (the unwrapped env's, no batch axis) from one
    seed's training state. When the algorithm has it, the live display of a
    terminal run draws that game's board (the env's ``render``): the loop calls
    it jitted, at most once per display interval, on the state of the epoch
    just done, and copies the small result to the host.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from envs import Environment
from jaxrl.backend import Backend
from jaxrl.games.match import Policy

State = Any
"""A training state: a pytree (`flax.struct.dataclass`) holding *everything* a bit-exact resume needs
(parameters, optimiser state, env states, observations, rng, counters, buffers). It has at least
``update`` (``int32[]``, updates done) and ``params`` (what the finiteness check and opponent pools
read). A checkpoint is this pytree, whole; `env_batch_fields` name its leaves that carry the env
batch axis ``[B, ...]``, which a device mesh splits (every other leaf is replicated)."""

Metrics = dict[str, jax.Array]
"""Per-update scalars reduced on device, by name; always ``update`` (the update just done, int32).
From `update` they are ``[]``, from `train_from` ``[K]``. Never per-step arrays."""

Agent = Any
"""What acting needs from a state (for one seed): e.g. parameters and observation statistics; a pytree."""


@runtime_checkable
class Algorithm(Protocol):
    """A learner for one configuration: pure functions plus what the run layer reads.

    ``init``, ``update``, ``train`` and ``train_from`` are jit-, vmap- (seeds,
    hyperparameters) and shard-able and never touch the host.
    """

    name: str
    """Registry name, e.g. 'ppo'."""
    config: Any
    """The algorithm's own frozen config dataclass."""
    env: Environment
    """The training env (with the algorithm's wrappers); ``env.name``, ``version`` and ``num_players`` are read."""
    env_params: Any
    metric_names: tuple[str, ...]
    """Every metric `update` reports, by name (``update`` among them)."""
    checked_metrics: tuple[str, ...]
    """Metrics whose non-finite value stops a run (losses)."""
    env_batch_fields: tuple[str, ...]
    """Fields of the state whose leaves are ``[B, ...]`` (split over a device mesh)."""
    backend: Backend
    """The device-dependent choices this build made (`jaxrl.backend.resolve`); the run records them."""

    @property
    def num_updates(self) -> int:
        """Updates in a whole run."""
        ...

    @property
    def steps_per_update(self) -> int:
        """Env steps one update takes, per seed (``env_steps = update * steps_per_update``)."""
        ...

    def describe(self) -> str:
        """One line on what an update does (batch, search, ...), for the run's start-up summary."""
        ...

    def init(self, key: jax.Array) -> State:
        """A fresh training state (``update`` 0)."""
        ...

    def update(self, state: State) -> tuple[State, Metrics]:
        """One iteration (collect, then learn); metrics ``[]``."""
        ...

    def train(self, key: jax.Array) -> tuple[State, Metrics]:
        """Every update of a run from ``init(key)`` in one `lax.scan`; metrics ``[num_updates]``."""
        ...

    def train_from(
        self, state: State, num_updates: int, num_active: jax.Array | None = None
    ) -> tuple[State, Metrics]:
        """The host loop's epoch: ``num_updates`` (static) updates from ``state``, metrics ``[K]``.

        With ``num_active`` (a traced int) only the first ``num_active`` take effect and the
        rest pass the state through with NaN (float) or 0 (int) metrics, so one compiled
        program serves a shorter last epoch.
        """
        ...

    def env_steps(self, state: State) -> int:
        """Env steps taken by one seed, an exact Python int (host side)."""
        ...

    def eval_env(self) -> tuple[Environment, Any]:
        """The env evaluation plays (whole episodes, no auto-reset) and its params."""
        ...

    def agent(self, state: State) -> Agent:
        """What acting needs from one seed's state."""
        ...

    def agent_policy(self, agent: Agent, *, greedy: bool = True) -> Policy:
        """A `jaxrl.games.Policy` ``(key, env_state, obs, mask) -> action`` for one game or episode."""
        ...


__all__ = ["Agent", "Algorithm", "Metrics", "State"]
