"""The host loop: epochs of K jitted updates of any `jaxrl.algorithm.Algorithm`, then metrics,
display, logging, callbacks and checkpoints.

    for each epoch:                        # one device dispatch
        state, metrics = epoch_fn(state)   # K updates in one lax.scan, compiled once, state donated
        pull metrics (the only sync), compute SPS, display, log, run callbacks, honour stop requests

Stop requests (SIGINT/SIGTERM) finish the current epoch, save and end with
exit code 130; a second Ctrl-C kills the process at once. Non-finite losses
or parameters stop the run with one line naming the update and the metric.
Callbacks decide when to save (`Trainer.request_checkpoint`); the loop saves,
after every callback of the epoch has run, with each callback's own state.
"""

from __future__ import annotations

import contextlib
import signal
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import seats, sharding
from jaxrl.algorithm import Algorithm, State
from jaxrl.errors import RunDataError
from jaxrl.run.callbacks import Callback
from jaxrl.run.checkpoint import Checkpointer, committed_steps, metadata
from jaxrl.run.display import Display
from jaxrl.run.loggers import LoggerGroup

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Per-seed values of these metrics are logged as "<name>/seed_<i>" when --num-seeds > 1.
PER_SEED_METRICS = ("episode_return", "episode_length", *seats.OUTCOME_RATES)


def epoch_updates(remaining_updates: int, requested: int) -> list[int]:
    """Updates run by each epoch: ``requested`` each, the last one possibly fewer.

    The epoch program always has room for ``requested`` updates and is told
    how many to run, so it compiles once and the run ends exactly after
    ``remaining_updates`` updates.
    """
    size = max(1, min(requested, remaining_updates))
    full, tail = divmod(remaining_updates, size)
    return [size] * full + ([tail] if tail else [])


class EpochSizer:
    """How many updates each epoch runs: a fixed count, or (``"auto"``) enough for a target wall time.

    ``auto`` compiles a one-update program and dispatches it as often as an
    epoch needs (the dispatches are asynchronous and queue on the device, so
    the host still syncs once per epoch). The first epoch runs one update; each
    later one is sized from the last epoch's measured seconds per update,
    growing at most 4x per epoch, so a fast configuration ramps up within a
    few epochs and a slow one never queues more than about ``seconds`` of work
    ahead of a stop request.
    """

    GROWTH = 4

    def __init__(self, requested: int | str, seconds: float = 2.0):
        self.auto = requested == "auto"
        self.requested = 1 if self.auto else int(requested)
        self.seconds = seconds
        self._next = self._proposed = 1  # auto: the first epoch runs one update

    @property
    def room(self) -> int:
        """Updates the compiled program has room for."""
        return self.requested

    def size(self, remaining: int) -> int:
        """Updates of the next epoch, with ``remaining`` updates left in the run."""
        if not self.auto:
            return max(1, min(self.requested, remaining))
        return max(1, min(self._next, remaining))

    def observe(self, updates: int, seconds: float) -> None:
        """An epoch of ``updates`` took ``seconds`` of wall time: size the next ones from it."""
        if self.auto and updates > 0 and seconds > 0:
            self._proposed = max(1, min(int(self.seconds * updates / seconds), self.GROWTH * updates))

    def agree(self) -> None:
        """Adopt the size proposed by the last `observe`, the same on every process (a collective step)."""
        if self.auto:
            self._next = sharding.process_max(self._proposed)


@dataclass
class TrainingComponents:
    """Everything the loop composes: the algorithm and what runs around it on the host."""

    algo: Algorithm
    loggers: LoggerGroup
    callbacks: list[Callback] = field(default_factory=list)
    checkpointer: Checkpointer | None = None
    display: Display | None = None
    num_seeds: int = 1
    updates_per_epoch: int | str = 10  # or "auto": sized by wall time (EpochSizer)
    epoch_seconds: float = 2.0  # the target of "auto"
    metadata: dict[str, Any] = field(default_factory=dict)  # resolved config etc., saved with checkpoints
    log: TextIO | None = None  # train.log, when the display draws a live bar on the terminal
    report: Any = print
    mesh: Any = None  # jax.sharding.Mesh the env batch is split over (jaxrl.sharding.make_mesh); None: one device


def epoch_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The epoch's last record with episode statistics pooled over the whole epoch.

    A single update may finish no episode (long episodes, few envs); the
    display, callbacks and early stop look at every episode of the epoch,
    weighting each update's mean by its episode count.
    """
    summary = dict(records[-1])
    counts = np.array([r.get("episodes") or 0.0 for r in records], dtype=np.float64)
    if counts.sum() > 0:
        summary["episodes"] = float(counts.sum())
        # Means over the episodes of one update (return, length, a puzzle's score), not spreads or per-seed values.
        pooled = [k for k in summary if k.startswith("episode_") and "/" not in k and not k.endswith("_std")]
        for key in pooled:
            values = np.array([r.get(key, np.nan) for r in records], dtype=np.float64)
            ok = counts > 0
            summary[key] = float(np.nansum(values[ok] * counts[ok]) / counts[ok].sum())
    seats.pool_outcomes(summary, records)
    return summary


class NonFiniteError(RuntimeError):
    pass


class Trainer:
    """Runs the epochs. Attributes callbacks may read: ``algo``, ``state``, ``epoch``,
    ``update``, ``env_steps``, ``num_seeds``, ``is_last_epoch``, ``metadata`` (saved with
    checkpoints; a callback may add to it)."""

    def __init__(self, components: TrainingComponents, state: State, time_offset: float = 0.0):
        self.components = components
        self.algo = components.algo
        self.num_seeds = components.num_seeds
        self.metadata = components.metadata
        self.report = components.report
        self.mesh = components.mesh if components.mesh is not None else sharding.make_mesh(1)
        self._batch_fields = components.algo.env_batch_fields
        self.state = sharding.shard_state(state, self.mesh, self.num_seeds, self._batch_fields)
        self._update = int(np.max(jax.device_get(self.state.update)))
        self.epoch = 0
        self.is_last_epoch = False
        self.traces = 0  # how many times the epoch function was traced (compiled)
        self.compile_seconds = 0.0
        self._stop_reason: str | None = None
        self._stop_code = EXIT_INTERRUPTED
        self._saved_update: int | None = None  # the update of the last numbered checkpoint
        self._save_requests: set[str] = set()  # 'numbered' and/or 'best', saved once the epoch's callbacks ran
        self._time_offset = time_offset
        self._start = time.perf_counter()
        self._board_fn = self._board_function()

    # -- counters --------------------------------------------------------------------
    @property
    def update(self) -> int:
        """Updates done (host-side: the state itself may be in flight on the device)."""
        return self._update

    @property
    def env_steps(self) -> int:
        return self.update * self.algo.steps_per_update

    def close(self) -> None:
        """Flush and close the loggers and the checkpointer (waits for pending saves).

        Both are closed even when one fails; a failure to write then raises `RunDataError`.
        """
        try:
            self.components.loggers.close()
        finally:
            if self.components.checkpointer is not None:
                self.components.checkpointer.close()

    def elapsed(self) -> float:
        return self._time_offset + time.perf_counter() - self._start

    # -- stop requests -----------------------------------------------------------------
    def request_stop(self, reason: str, exit_code: int = EXIT_INTERRUPTED) -> None:
        if self._stop_reason is None:
            self._stop_reason, self._stop_code = reason, exit_code

    def _on_signal(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        self.request_stop(f"{name} received")
        self.report(f"{name}: finishing the current epoch, then saving (press Ctrl-C again to exit at once)")
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the next Ctrl-C ends the process immediately

    # -- the epoch function ------------------------------------------------------------
    def _epoch_fn(self, num_updates: int):
        algo = self.algo

        def epoch(state, num_active):
            self.traces += 1
            run = lambda s: algo.train_from(s, num_updates, num_active)  # noqa: E731
            state, metrics = jax.vmap(run)(state) if self.num_seeds > 1 else run(state)
            leaves = jax.tree.leaves(state.params)
            params_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
            return state, metrics, params_finite

        # The state keeps its shardings from epoch to epoch (env batch split, the rest replicated);
        # metrics and the finiteness flag come back replicated, readable on every process.
        state_shardings = sharding.state_shardings(self.state, self.mesh, self.num_seeds, self._batch_fields)
        whole = sharding.replicated(self.mesh)
        jitted = jax.jit(epoch, donate_argnums=0, in_shardings=(state_shardings, whole),
                         out_shardings=(state_shardings, whole, whole))
        with warnings.catch_warnings(), jax.set_mesh(self.mesh):
            # CPU cannot donate buffers; the warning is noise there.
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            start = time.perf_counter()
            compiled = jitted.lower(self.state, np.int32(num_updates)).compile(algo.backend.compiler_options())
            self.compile_seconds = time.perf_counter() - start
        return compiled

    # -- the display's board ------------------------------------------------------------
    def _board_function(self):
        """A jitted ``state -> game 0 of seed 0's env state`` when the display draws boards, else None.

        Uses the optional `Algorithm.display_state`. Only with one process: every process would
        have to run it on a state split over hosts, and only process 0 displays.
        """
        display = self.components.display
        display_state = getattr(self.algo, "display_state", None)
        if display is None or not display.shows_board or not callable(display_state) or jax.process_count() > 1:
            return None
        first_seed = (lambda s: jax.tree.map(lambda x: x[0], s)) if self.num_seeds > 1 else (lambda s: s)
        return jax.jit(lambda state: display_state(first_seed(state)))

    def _board(self, state: State, force: bool = False) -> Any:
        """Game 0 of ``state`` on the device (queued, not waited for) when the display wants one
        (or ``force``); else None.

        Called before ``state`` is donated to the next epoch: the small copy is queued ahead of it.
        """
        if self._board_fn is None or state is None or not (force or self.components.display.wants_board()):
            return None
        try:
            return self._board_fn(state)
        except Exception as error:  # noqa: BLE001 - the board must never stop training
            self._board_fn = None
            self.report(f"warning: no board on the display ({type(error).__name__}: {error})")
            return None

    # -- records -----------------------------------------------------------------------
    def _records(
        self, metrics: dict[str, np.ndarray], epoch_seconds: float, sps: float, num_updates: int
    ) -> list[dict[str, Any]]:
        steps_per_update = self.algo.steps_per_update
        now = self.elapsed()
        updates = np.asarray(metrics["update"]).reshape(self.num_seeds, num_updates)[0]
        records = []
        for i in range(num_updates):
            record: dict[str, Any] = {
                "update": int(updates[i]),
                "env_steps": int(updates[i]) * steps_per_update,
                "epoch": self.epoch,
                "time": round(now, 4),
                "sps": sps,
                "epoch_seconds": epoch_seconds,
            }
            for name, value in metrics.items():
                if name == "update":
                    continue
                per_seed = np.asarray(value, dtype=np.float64).reshape(self.num_seeds, num_updates)[:, i]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no episode ended
                    record[name] = float(np.nanmean(per_seed)) if np.any(np.isfinite(per_seed)) else float(per_seed[0])
                    if self.num_seeds > 1 and name in PER_SEED_METRICS:
                        record[f"{name}_std"] = float(np.nanstd(per_seed))
                        for seed, v in enumerate(per_seed):
                            record[f"{name}/seed_{seed}"] = float(v)
            records.append(record)
        return records

    def _check_finite(self, metrics: dict[str, np.ndarray], params_finite: np.ndarray, num_updates: int) -> None:
        updates = np.asarray(metrics["update"]).reshape(self.num_seeds, num_updates)
        for name in self.algo.checked_metrics:
            values = np.asarray(metrics[name]).reshape(self.num_seeds, num_updates)
            bad = ~np.isfinite(values)
            if bad.any():
                seed, i = np.argwhere(bad)[0]
                where = f" (seed {seed})" if self.num_seeds > 1 else ""
                raise NonFiniteError(
                    f"non-finite {name} ({values[seed, i]}) at update {updates[seed, i]}{where}, "
                    f"env_steps {int(updates[seed, i]) * self.algo.steps_per_update}"
                )
        if not bool(np.all(params_finite)):
            raise NonFiniteError(f"non-finite parameters after update {int(updates.max())}")

    # -- checkpoints ---------------------------------------------------------------------
    def request_checkpoint(self, best: bool = False) -> None:
        """Ask for a save of the current state (numbered, or as the best one so far).

        The loop saves once every callback of the epoch (or of the run's end) has
        run, so the saved callback states are the epoch's final ones.
        """
        self._save_requests.add("best" if best else "numbered")

    def _save_requested(self) -> float | None:
        """Carry out the save requests; returns the seconds a numbered save blocked the loop (None: none asked)."""
        requests, self._save_requests = self._save_requests, set()
        blocked = self._save(best=False) if "numbered" in requests else None
        if "best" in requests:
            self._save(best=True)
        return blocked

    def _save(self, best: bool) -> float:
        """Save the current state (no-op without a checkpointer); returns seconds blocked."""
        ckpt = self.components.checkpointer
        if ckpt is None:
            return 0.0
        states, arrays = {}, {}
        for callback in self.components.callbacks:
            saved = callback.checkpoint_state() if callback.checkpoint_name else None
            if saved is not None:
                states[callback.checkpoint_name] = saved[0]
                if saved[1] is not None:
                    arrays[callback.checkpoint_name] = saved[1]
        meta = metadata(
            env_name=self.algo.env.name, env_version=self.algo.env.version,
            update=self.update, env_steps=self.env_steps, wall_time=self.elapsed(), **self.metadata,
            **({"callbacks": states} if states else {}),
        )
        if best:
            ckpt.save_best(self.update, self.state, meta, arrays or None)
            return 0.0
        if self.update == self._saved_update:
            # Already saved (a periodic save in the epoch a stop request ended); saving a step twice
            # is an error in orbax, and with several processes one failing save would stall the others.
            return 0.0
        self._saved_update = self.update
        return ckpt.save(self.update, self.state, meta, arrays or None)

    def _kept_checkpoint(self) -> str:
        """Which saved state a run that stops on an error leaves behind, in words."""
        checkpointer = self.components.checkpointer
        if checkpointer is None:
            return "this run keeps no checkpoints"
        committed = committed_steps(checkpointer.directory)
        if not committed:
            return "nothing was saved: the error came before the first checkpoint"
        return f"the last good checkpoint, update {committed[-1]}, is kept"

    # -- the loop ------------------------------------------------------------------------
    def _run_callbacks(self, record: dict[str, Any]) -> dict[str, Any]:
        """Runs callbacks on the epoch summary; returns the metrics they added (also merged into it)."""
        added: dict[str, Any] = {}
        callbacks = self.components.callbacks
        for callback in list(callbacks):
            try:
                metrics = callback.on_epoch_end(self, record)
            except Exception as error:  # noqa: BLE001 - a callback must never stop training
                self.report(f"warning: callback {type(callback).__name__} failed ({type(error).__name__}: {error}); disabled")
                callbacks.remove(callback)
                continue
            if metrics:
                record.update(metrics)
                added.update(metrics)
        return added

    def _end_callbacks(self, reason: str) -> None:
        for callback in list(self.components.callbacks):
            try:
                callback.on_train_end(self, reason)
            except Exception as error:  # noqa: BLE001
                self.report(f"warning: callback {type(callback).__name__} failed at the end ({type(error).__name__}: {error})")
        if reason == "error":  # the state, or the records before it, are not sound: nothing more is saved
            self._save_requests.clear()
        self._save_requested()

    def _needs_state(self, epoch: int) -> bool:
        return any(callback.needs_state(self, epoch) for callback in self.components.callbacks)

    def _launch(self, compiled, state: State, updates: int) -> tuple[State, list]:
        """Dispatch ``updates`` updates (one call, or several of a smaller program); nothing waits."""
        room, parts = self._sizer.room, []
        for start in range(0, updates, room):
            active = min(room, updates - start)
            state, metrics, params_finite = compiled(state, np.int32(active))
            parts.append((metrics, params_finite, active))
        return state, parts

    def _pull(self, parts: list) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Metrics ``[num_seeds, updates]`` and finiteness flags of a launched epoch (waits for it)."""
        room = self._sizer.room
        pulled = jax.device_get([(metrics, finite) for metrics, finite, _ in parts])
        # Each program has room for `room` updates; only the first `active` ran.
        metrics = {
            name: np.concatenate(
                [np.asarray(m[name]).reshape(self.num_seeds, room)[:, :active]
                 for (m, _), (_, _, active) in zip(pulled, parts)], axis=1)
            for name in pulled[0][0]
        }
        return metrics, np.stack([np.all(finite) for _, finite in pulled])

    def _epochs(self, compiled) -> dict[str, Any] | None:
        """Runs the epochs, pipelined: while the host logs epoch n, the device already runs n + 1.

        The state is donated to the next epoch, so epoch n + 1 is dispatched
        early only when no callback needs epoch n's state (evaluation and
        checkpoint epochs, the last epoch and stop requests wait instead).
        ``epoch_seconds`` is the wall time between two epochs' results. On a GPU
        the results of a pipelined epoch can reach the host only once the epoch
        queued behind it has finished too, so single intervals are shifted by up
        to an epoch around evaluation epochs (their sum is right); ``sps`` is
        therefore the rate over all epochs of this run so far: env steps over
        the summed intervals, which leave out the time the device sat idle
        while callbacks needed the state.
        """
        last_record = None
        save_seconds: float | None = None
        steps_per_update = self.algo.steps_per_update * self.num_seeds
        total, sizer = self.algo.num_updates, self._sizer
        updates_run, seconds_run = 0, 0.0

        def launch(state: State, after: int) -> tuple[State, list, int, int]:
            size = sizer.size(total - after)
            return (*self._launch(compiled, state, size), size, after + size)

        arrived = time.perf_counter()
        inflight = launch(self.state, self.update)
        epoch = 0
        while inflight is not None:
            epoch += 1
            self.epoch = epoch
            state, parts, active, end = inflight
            inflight = None
            self.is_last_epoch = end >= total
            pipelined = not self.is_last_epoch and self._stop_reason is None and not self._needs_state(epoch)
            board = self._board(state)
            if pipelined:
                inflight = launch(state, end)  # donates `state`: nothing below may read it
            metrics, params_finite = self._pull(parts)  # waits for epoch `epoch`
            now = time.perf_counter()
            epoch_seconds, arrived = now - arrived, now
            sizer.observe(active, epoch_seconds)
            self._check_finite(metrics, params_finite, active)
            self._update = int(np.max(metrics["update"]))
            self.state = None if pipelined else state
            updates_run, seconds_run = updates_run + active, seconds_run + epoch_seconds
            records = self._records(metrics, epoch_seconds, updates_run * steps_per_update / seconds_run, active)
            last_record = epoch_summary(records)
            records[-1].update(self._run_callbacks(last_record))
            if save_seconds is not None:  # the previous epoch's save, timed after its records were written
                records[0]["checkpoint_seconds"] = save_seconds
            display = self.components.display
            for record in records:
                self.components.loggers.log(record)
            # A checkpoint is written only once the records up to it are: a resume never lacks one.
            save_seconds = self._save_requested()
            if display is not None and not self.is_last_epoch and self._stop_reason is None:
                display.update(last_record, log=self.components.log, board_state=board)
            sizer.agree()  # where every process is at the same step, beside the stop check
            if sharding.any_process(self._stop_reason is not None):
                self.request_stop("stop requested on another process")
                continue  # an epoch already running finishes; its state is kept and saved
            if inflight is None and not self.is_last_epoch:
                arrived = time.perf_counter()
                inflight = launch(self.state, end)
        return last_record

    def run(self) -> int:
        """Train until ``total_timesteps``, a stop request or an error; returns the exit code."""
        components = self.components
        remaining = self.algo.num_updates - self.update
        if remaining <= 0:
            self.report(f"nothing to do: {self.update} updates already done ({self.algo.num_updates} in the run)")
            return EXIT_OK
        self._sizer = EpochSizer(components.updates_per_epoch, components.epoch_seconds)
        self.report("compiling the training program (XLA; the first run of a config takes the longest) ...")
        sizes = None if self._sizer.auto else epoch_updates(remaining, self._sizer.requested)
        spinner = components.display.compiling() if components.display is not None else contextlib.nullcontext()
        with spinner:  # on a terminal: a spinner with the seconds so far, while the compile blocks
            compiled = self._epoch_fn(self._sizer.room if sizes is None else sizes[0])
        if sizes is None:
            self.report(f"compiled the update function in {self.compile_seconds:.1f}s "
                        f"(--updates-per-epoch auto: epochs of about {components.epoch_seconds:g}s)")
        else:
            self._sizer.requested = sizes[0]
            self.report(f"compiled the epoch function ({sizes[0]} updates per epoch, {len(sizes)} epochs) "
                        f"in {self.compile_seconds:.1f}s")

        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._on_signal)
        reason, code = "done", EXIT_OK
        failure: Exception | None = None
        last_record: dict[str, Any] | None = None
        try:
            last_record = self._epochs(compiled)
            if self._stop_reason is not None:
                reason, code = "stopped", self._stop_code
        except (NonFiniteError, RunDataError) as error:
            reason, code, failure = "error", EXIT_ERROR, error
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if components.display is not None and last_record is not None:
            board = self._board(self.state, force=True) if failure is None else None
            components.display.update(last_record, force=True, log=components.log, board_state=board)
            components.display.close()
        try:
            self._end_callbacks(reason)
            if components.checkpointer is not None:
                components.checkpointer.wait()
        except RunDataError as error:  # the final save: earlier checkpoints stay
            if failure is None:
                reason, code, failure = "error", EXIT_ERROR, error
        if failure is not None:  # reported once the saves in flight have committed or failed
            self.report(f"error: {failure}; stopped at update {self.update} ({self._kept_checkpoint()})")
        if reason == "stopped":
            self.report(f"stopped ({self._stop_reason}) at update {self.update}, env_steps {self.env_steps}")
        return code


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EpochSizer", "Trainer", "TrainingComponents", "epoch_updates"]
