"""Data parallelism over devices and hosts: the device mesh, the state's shardings, multi-host start-up.

The env batch (axis ``B`` of ``env_state`` and ``obs``; with ``--num-seeds`` the
axis after the seed axis) is split over the 1-D mesh axis ``"envs"``; parameters,
optimiser state, rng and counters are replicated. The learner stays device-agnostic:
jit with these shardings lets XLA (GSPMD) run each device's slice of the env
batch and all-reduce the gradients, so results match one device up to float
reduction order. Minibatches dealt per env (the default) keep every row on its
device; the global shuffle gathers across devices. The learner's one hint is
`split_over_devices` on the minibatches. One device is the same code path with
a mesh of one.

Several hosts use JAX's multi-controller runtime: every process runs the same
program (`initialize_distributed` first), the mesh spans every process's
devices, and only process 0 writes run-directory files (`is_main_process`).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl.errors import ConfigError

ENV_AXIS = "envs"

# Environment variables read when the matching flag is not given (JAX itself reads the first).
COORDINATOR_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
)


# -- processes -------------------------------------------------------------------------------


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} is not an integer") from None


def initialize_distributed(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> bool:
    """Start JAX's multi-process runtime when asked to; returns whether this is a multi-process run.

    Values not given fall back to ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
    and ``JAX_PROCESS_ID``. Nothing given (or one process): a single-process
    run, nothing is started. Must run before anything touches a device.
    """
    coordinator_address = coordinator_address or os.environ.get(COORDINATOR_ENV) or None
    num_processes = num_processes if num_processes is not None else _env_int(NUM_PROCESSES_ENV)
    process_id = process_id if process_id is not None else _env_int(PROCESS_ID_ENV)
    if coordinator_address is None and num_processes in (None, 1) and process_id in (None, 0):
        return False
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes must be a positive integer, got {num_processes}")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ConfigError(
            f"--process-id {process_id} is out of range for --num-processes {num_processes} (0..{num_processes - 1})"
        )
    if coordinator_address is None and num_processes is not None and num_processes > 1:
        raise ConfigError(
            f"--num-processes {num_processes} needs --coordinator-address HOST:PORT (or {COORDINATOR_ENV})"
        )
    # On other clusters (SLURM, Open MPI, TPU pods) JAX fills in what is None itself.
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    return jax.process_count() > 1


def is_main_process() -> bool:
    """Process 0: the one that prints, logs and writes run-directory files."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """Barrier across processes (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (``flag`` itself with one process).

    Processes must take every collective step together: a stop request that
    reaches one process (a signal) stops all of them at the same epoch.
    """
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array([flag], np.int32))))


def process_max(value: int) -> int:
    """The largest ``value`` over the processes (``value`` itself with one process): a choice they share."""
    if jax.process_count() == 1:
        return int(value)
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.array([value], np.int64))))


def broadcast_text(text: str, max_bytes: int = 4096) -> str:
    """Process 0's ``text`` on every process (e.g. a run directory named after the clock)."""
    if jax.process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    data = text.encode()
    if len(data) > max_bytes:
        raise ValueError(f"text of {len(data)} bytes is longer than {max_bytes}")
    buffer = np.zeros(max_bytes + 1, np.int32)
    buffer[0], buffer[1 : len(data) + 1] = len(data), np.frombuffer(data, np.uint8)
    received = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
    return bytes(received[1 : received[0] + 1].astype(np.uint8)).decode()


# -- the mesh --------------------------------------------------------------------------------


def select_devices(num_devices: int = 0) -> list[jax.Device]:
    """``num_devices`` devices (0: all), an equal number from every process, ordered by process.

    Raises ConfigError (one line) when there are not that many.
    """
    available = jax.devices()
    processes = jax.process_count()
    if num_devices < 0:
        raise ConfigError(f"--devices must be >= 0 (0: all {len(available)}), got {num_devices}")
    if num_devices == 0:
        num_devices = len(available)
    if num_devices > len(available):
        raise ConfigError(
            f"--devices {num_devices} asks for more devices than the {len(available)} available"
        )
    if num_devices % processes:
        raise ConfigError(
            f"--devices {num_devices} cannot be split evenly over {processes} processes; use a multiple of {processes}"
        )
    per_process = num_devices // processes
    chosen = []
    for process in range(processes):
        local = sorted((d for d in available if d.process_index == process), key=lambda d: d.id)
        if len(local) < per_process:
            raise ConfigError(
                f"--devices {num_devices} needs {per_process} devices on process {process}, which has {len(local)}"
            )
        chosen.extend(local[:per_process])
    return chosen


def default_device_count(*sizes: int) -> int:
    """What ``--devices 0`` uses: every device, or the most that divide all ``sizes`` (num_envs,
    minibatch size) and split evenly over the processes, so a default run works on any machine."""
    total, processes = jax.device_count(), jax.process_count()
    for count in range(total, 0, -1):
        if count % processes == 0 and all(size % count == 0 for size in sizes):
            return count
    return total


def make_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D mesh with axis ``"envs"`` over `select_devices`."""
    return Mesh(np.array(select_devices(num_devices)), (ENV_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def env_batch_sharding(mesh: Mesh, num_seeds: int = 1) -> NamedSharding:
    """Sharding of a leaf whose env axis comes after the seed axis (if any)."""
    leading = (None,) if num_seeds > 1 else ()
    return NamedSharding(mesh, PartitionSpec(*leading, ENV_AXIS))


ENV_BATCH_FIELDS = ("env_state", "obs")
"""The fields of a training state whose leaves have the env batch axis (`jaxrl.algorithm.Algorithm`)."""


def state_shardings(state: Any, mesh: Mesh, num_seeds: int = 1, fields: tuple[str, ...] = ENV_BATCH_FIELDS) -> Any:
    """A pytree like ``state`` (concrete or abstract) of NamedShardings.

    The leaves of the state's ``fields`` are split along the env axis; every
    other leaf is replicated.
    """
    envs, whole = env_batch_sharding(mesh, num_seeds), replicated(mesh)
    shardings = jax.tree.map(lambda _: whole, state)
    return shardings.replace(**{name: jax.tree.map(lambda _: envs, getattr(state, name)) for name in fields})


def abstract_state(state: Any, mesh: Mesh, num_seeds: int = 1, fields: tuple[str, ...] = ENV_BATCH_FIELDS) -> Any:
    """``state``'s shapes and dtypes with their target shardings: what a restore fills in."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        state,
        state_shardings(state, mesh, num_seeds, fields),
    )


def split_over_devices(x: jax.Array, axis: int) -> jax.Array:
    """Inside a computation traced under ``jax.set_mesh(mesh)`` with an ``"envs"`` axis: ask XLA to
    split ``x`` along ``axis`` over it; anywhere else ``x`` unchanged.

    The learner marks its shuffled minibatches with this: without it XLA keeps
    each minibatch whole on every device after the cross-device shuffle, so the
    update runs unsplit on each device and no gradient is averaged.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or ENV_AXIS not in mesh.axis_names:
        return x
    return jax.lax.with_sharding_constraint(x, PartitionSpec(*([None] * axis), ENV_AXIS))


def _place(x: Any, sharding: NamedSharding) -> jax.Array:
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if sharding.is_fully_addressable:
        return jax.device_put(x, sharding)
    # Several processes: every process holds the same host value and fills in its own shards.
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard_state(state: Any, mesh: Mesh, num_seeds: int = 1, fields: tuple[str, ...] = ENV_BATCH_FIELDS) -> Any:
    """``state`` placed on ``mesh``: env batch split over devices, the rest replicated.

    With several processes every process must pass the same (host-local) state.
    """
    return jax.tree.map(_place, state, state_shardings(state, mesh, num_seeds, fields))


def describe(mesh: Mesh) -> str:
    """'4 devices (2 processes x 2)', '4 of 8 devices' for the start-up summary."""
    processes, total = jax.process_count(), jax.device_count()
    text = (
        f"{mesh.size} device{'s' if mesh.size > 1 else ''}"
        if mesh.size == total
        else f"{mesh.size} of {total} devices"
    )
    return text if processes == 1 else f"{text} ({processes} processes x {mesh.size // processes})"


__all__ = [
    "ENV_AXIS",
    "ENV_BATCH_FIELDS",
    "abstract_state",
    "any_process",
    "broadcast_text",
    "default_device_count",
    "describe",
    "env_batch_sharding",
    "initialize_distributed",
    "is_main_process",
    "make_mesh",
    "replicated",
    "select_devices",
    "shard_state",
    "split_over_devices",
    "state_shardings",
    "sync",
]
