"""Errors shown to the user as one line (no traceback)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A user error in the configuration or the command line (one line, exit code 2)."""


class RunDataError(RuntimeError):
    """Data the user cannot get back (metrics file, checkpoint) could not be written: the run stops."""


def storage_cause(error: BaseException) -> str:
    """Why a write failed, in a few words: 'No space left on device', 'Read-only file system', ..."""
    while not isinstance(error, OSError) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


__all__ = ["ConfigError", "RunDataError", "storage_cause"]
