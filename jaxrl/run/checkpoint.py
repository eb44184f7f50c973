"""Whole-state checkpoints on orbax: save, keep the last K and the best, restore with fallback.

A checkpoint holds the complete training-state pytree (params, optimiser
state, env state including normaliser statistics, observations, rng,
counters) and JSON metadata (jaxrl version, env name and version, update,
env_steps, date, the resolved config). orbax commits each step atomically
(a temporary directory renamed on success), so a kill during a save leaves
the previous checkpoint usable; leftover temporaries are removed on open.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax

from jaxrl.errors import RunDataError, storage_cause
from jaxrl.version import __version__

CALLBACK_ARRAYS = "extra"  # the checkpoint item holding callbacks' arrays (its name on disk)


class CheckpointError(RuntimeError):
    """No usable checkpoint (one line, shown to the user)."""


class NoCheckpointError(CheckpointError):
    """The directory holds no committed checkpoint at all (a run that ended before its first save)."""


def committed_steps(directory: str | Path) -> list[int]:
    """The steps committed under ``directory`` (orbax renames a step's directory to its number on commit)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def _orbax():
    import orbax.checkpoint as ocp

    # orbax logs every save at INFO, and a failed save's traceback at ERROR, through absl; the
    # writes of a failed save that were still in flight end as unretrieved asyncio task errors.
    # Our own line says what failed; JAXRL_DEBUG=1 shows what orbax says.
    if not os.environ.get("JAXRL_DEBUG"):
        for name in ("absl", "asyncio"):
            if logging.getLogger(name).level < logging.CRITICAL:
                logging.getLogger(name).setLevel(logging.CRITICAL)
    return ocp


_CLOSED_LOOP = "RuntimeError: Event loop is closed"


class QuietStderr:
    """``sys.stderr`` without the tracebacks of writes that finish after their event loop closed.

    When a save fails (a full disk), TensorStore still completes the writes in
    flight and calls back into orbax's event loop, which is closed by then; each
    callback prints a traceback ending in ``RuntimeError: Event loop is closed``
    (dozens per failed save). The run has already said in one line what failed;
    every other traceback, and everything else, passes through unchanged.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self._pending = ""  # an incomplete line
        self._block: list[str] | None = None  # the lines of the traceback(s) being read
        self._open = 0  # tracebacks begun in the block and not yet ended (threads print them interleaved)
        self._other = False  # the block holds a traceback of anything else: it is shown
        self._lock = threading.Lock()
        self.dropped = 0

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            while "\n" in self._pending:
                line, self._pending = self._pending.split("\n", 1)
                self._line(line + "\n")
            if self._block is None and self._pending and not self._pending.startswith("Traceback"[: len(self._pending)]):
                self._stream.write(self._pending)
                self._pending = ""
        return len(text)

    def _line(self, line: str) -> None:
        header = line.startswith("Traceback (most recent call last):")
        if self._block is None:
            if header:
                self._block, self._open, self._other = [line], 1, False
            else:
                self._stream.write(line)
            return
        self._block.append(line)
        if header:
            self._open += 1
        elif line[:1] not in (" ", "\t") and line.strip():  # an exception line ends one traceback
            self._open -= 1
            self._other = self._other or line.strip() != _CLOSED_LOOP
            if self._open <= 0:
                block, self._block = self._block, None
                if self._other:
                    self._stream.write("".join(block))
                else:
                    self.dropped += 1

    def flush(self) -> None:
        self._stream.flush()

    def release(self) -> None:
        """Write out whatever is held back (at exit: a traceback cut short is still shown)."""
        try:
            if self._block is not None:
                self._stream.write("".join(self._block))
                self._block = None
            self._stream.write(self._pending)
            self._pending = ""
            self._stream.flush()
        except (OSError, ValueError):  # the stream is closed already
            return
        if self.dropped:
            # Writes still in flight call back while the interpreter shuts down, when Python prints
            # straight to file descriptor 2; after a failed save nothing more of ours is to come.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_stderr() -> None:
    """Install `QuietStderr` (the command line does; JAXRL_DEBUG=1 keeps every traceback)."""
    if not os.environ.get("JAXRL_DEBUG") and not isinstance(sys.stderr, QuietStderr):
        import atexit

        sys.stderr = QuietStderr(sys.stderr)
        atexit.register(sys.stderr.release)


def metadata(config: dict[str, Any], env_name: str, env_version: int, update: int, env_steps: int, **fields) -> dict:
    return {
        "jaxrl_version": __version__,
        "env": env_name,
        "env_version": env_version,
        "update": update,
        "env_steps": env_steps,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        **fields,
    }


def _one_line(error: BaseException) -> str:
    """The readable part of a storage library's error: its first line, without pointers to more detail."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    for noise in (" See full TensorStore details", " [source locations", "<bound method"):
        text = text.split(noise)[0]
    text = text.strip().rstrip(".")
    return text[:160] + ("..." if len(text) > 160 else "")


class Checkpointer:
    """Saves numbered checkpoints (the step is the update count) under ``directory``.

    ``max_to_keep`` most recent are kept; `save_best` keeps one more copy of
    the best-evaluated state under ``directory/best``. Saves are asynchronous:
    `save` returns once arrays are copied on the device (see `save`).
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3):
        ocp = _orbax()
        self.directory = Path(directory).absolute()
        if jax.process_index() == 0:  # several processes share the directory; one cleans it
            self._remove_temporaries(self.directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=True,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._best = None
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="jaxrl-checkpoint")
        self._pending: list[concurrent.futures.Future] = []
        self.last_save_seconds = 0.0

    @staticmethod
    def _remove_temporaries(directory: Path) -> None:
        # orbax writes into '<step>.orbax-checkpoint-tmp-*' and renames on commit;
        # a killed save leaves one behind.
        for path in list(directory.glob("*orbax-checkpoint-tmp*")) + list(directory.glob("*/*orbax-checkpoint-tmp*")):
            shutil.rmtree(path, ignore_errors=True)

    def _args(self, state: Any, meta: dict, arrays: Any = None):
        ocp = _orbax()
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if arrays is not None:
            items[CALLBACK_ARRAYS] = ocp.args.StandardSave(arrays)
        return ocp.args.Composite(**items)

    def save(self, step: int, state: Any, meta: dict, arrays: Any = None) -> float:
        """Start saving ``state`` at ``step``; returns the seconds the caller was blocked.

        The state is copied on device and handed to a background thread that
        runs orbax's save, so the training loop (which donates ``state`` to
        the next epoch) only waits for the copy (with several processes the
        save runs in place: orbax saves are collective). Saves run one at a time, in
        order: a save first waits for the one before it, so a failed save is raised by the
        next `save` (or by `wait`). ``arrays``: a
        pytree of arrays saved beside the state (callbacks' own state), see `restore_callback_arrays`.
        """
        start = time.perf_counter()
        self._settle_previous()
        args = self._args(self._snapshot(state), meta, self._snapshot(arrays))
        self._submit(self._manager.save, step, args=args, force=True)
        self.last_save_seconds = time.perf_counter() - start
        return self.last_save_seconds

    def save_best(self, step: int, state: Any, meta: dict, arrays: Any = None) -> None:
        """Like `save`, into ``directory/best`` (one kept)."""
        self._settle_previous()
        self._submit(self._save_best_now, step, self._snapshot(state), meta, self._snapshot(arrays))

    @staticmethod
    def _snapshot(state: Any) -> Any:
        # An on-device copy: the caller may donate `state` to the next epoch right away.
        return jax.block_until_ready(jax.tree.map(lambda x: x.copy(), state))

    def _submit(self, fn, *args, **kwargs) -> None:
        """Run ``fn`` on the save thread; with several processes, here (orbax's saves are collective)."""
        if jax.process_count() > 1:
            try:
                fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - any failure to write is reported the same way
                raise self._write_failed(error) from error
            return
        self._pending.append(self._worker.submit(fn, *args, **kwargs))

    def _write_failed(self, error: BaseException) -> RunDataError:
        """A failed save as one line; what the save had written half is removed (committed steps stay)."""
        try:  # saves still committing in the background finish first: their directories are not debris
            self._manager.wait_until_finished()
        except Exception:  # noqa: BLE001, S110 - the failure being reported is the one that counts
            pass
        if jax.process_index() == 0:
            self._remove_temporaries(self.directory)
        return RunDataError(f"cannot write a checkpoint in {self.directory}: {storage_cause(error)}")

    def _save_best_now(self, step: int, state: Any, meta: dict, arrays: Any) -> None:
        ocp = _orbax()
        if self._best is None:
            options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, enable_async_checkpointing=True)
            self._best = ocp.CheckpointManager(self.directory / "best", options=options)
        self._best.save(step, args=self._args(state, meta, arrays), force=True)

    def _settle_previous(self) -> None:
        """Wait for the saves still running, then raise the first that failed.

        At most one save is in flight while training goes on: a failed save
        stops the run at the next save, not epochs later, and the state's
        on-device copies do not pile up when saves are slower than epochs.
        The wait counts in the caller's blocked seconds.
        """
        concurrent.futures.wait(self._pending)
        self._raise_failed()

    def _raise_failed(self) -> None:
        done = [future for future in self._pending if future.done()]
        self._pending = [future for future in self._pending if not future.done()]
        for future in done:
            if future.exception() is not None:
                raise self._write_failed(future.exception()) from future.exception()

    def wait(self) -> None:
        """Block until every pending save is committed; `RunDataError` if one failed."""
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result()
            self._manager.wait_until_finished()
            if self._best is not None:
                self._best.wait_until_finished()
        except Exception as error:  # noqa: BLE001 - any failure to write is reported the same way
            raise self._write_failed(error) from error

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def restore(self, abstract_state: Any, step: int | None = None, report=print) -> tuple[Any, dict, int]:
        """Restore ``step`` (default: the newest that loads). Returns ``(state, meta, step)``.

        A checkpoint that fails to load is named in one line through
        ``report`` and the next older one is tried; what orbax logs about it
        is shown only with ``JAXRL_DEBUG=1``.
        """
        candidates = [step] if step is not None else sorted(self.steps(), reverse=True)
        if not candidates:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        ocp = _orbax()
        for candidate in candidates:
            try:
                restored = self._manager.restore(
                    candidate,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
                    ),
                )
                return restored.state, dict(restored.meta), candidate
            except Exception as error:  # noqa: BLE001 - any failure means this step is unusable
                reason = _one_line(error)
                moved = self._set_aside(candidate)
                report(
                    f"warning: checkpoint {self.directory / str(candidate)} is unreadable ({reason}); "
                    f"moved to {moved.name}, trying an older one"
                )
        raise CheckpointError(f"no readable checkpoint in {self.directory} (tried steps {candidates})")

    def restore_callback_arrays(self, step: int) -> Any:
        """The ``arrays`` pytree saved with ``step`` (as saved, on the default device), or None."""
        if not (self.directory / str(step) / CALLBACK_ARRAYS).exists():
            return None
        ocp = _orbax()
        return self._manager.restore(step, args=ocp.args.Composite(**{CALLBACK_ARRAYS: ocp.args.StandardRestore()}))[CALLBACK_ARRAYS]

    def _set_aside(self, step: int) -> Path:
        """Rename an unreadable step out of orbax's view, so the step can be saved again."""
        source = self.directory / str(step)
        target = self.directory / f"unreadable-{step}-{int(time.time())}"
        if jax.process_index() == 0 and source.exists():
            source.rename(target)
        self._manager.reload()
        return target

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._worker.shutdown(wait=True)
        self._manager.close()
        if self._best is not None:
            self._best.close()


def abstract_like(state: Any) -> Any:
    """Shape/dtype structure of a state pytree, for `Checkpointer.restore`."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)


__all__ = ["CheckpointError", "Checkpointer", "NoCheckpointError", "abstract_like", "committed_steps", "metadata"]
