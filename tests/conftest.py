"""Settings for the whole test session: one JAX persistent compilation cache for every test process.

Many tests build the same small programs (a tiny CartPole PPO, a tiny Connect Four game); with the
cache only the first process to compile one pays XLA's compile, in-process and in the training
subprocesses alike, and both pytest-xdist workers read each other's entries.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory) -> Path:
    """The session's cache directory, shared by the xdist workers of one run and nothing else."""
    import jax

    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-compilation-cache"
    path.mkdir(exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path
