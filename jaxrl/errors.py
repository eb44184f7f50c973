"""Errors shown to the user as one line (no traceback)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A user error in the configuration or the command line (one line, exit code 2)."""


__all__ = ["ConfigError"]
