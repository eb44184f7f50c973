"""Errors shown to the user as one line (no traceback)."""

from __future__ import annotations

import errno
import os


class ConfigError(ValueError):
    """A user error in the configuration or the command line (one line, exit code 2)."""


class RunDataError(RuntimeError):
    """Data the user cannot get back (metrics file, checkpoint) could not be written: the run stops."""


# Causes of a failed write worth naming even when a library wraps them in a long message of its own
# (TensorStore puts the OS's words after the path of the file it was writing).
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO)


def storage_cause(error: BaseException) -> str:
    """Why a write failed, in a few words: 'No space left on device', 'Read-only file system', ..."""
    chain, seen = [], set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        chain.append(link)
        link = link.__cause__ or link.__context__
    for link in chain:
        if isinstance(link, OSError) and link.strerror:
            return link.strerror
    for link in chain:
        for code in _STORAGE_ERRNOS:
            if os.strerror(code) in str(link):
                return os.strerror(code)
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]


__all__ = ["ConfigError", "RunDataError", "storage_cause"]
