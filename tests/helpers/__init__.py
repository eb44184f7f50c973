"""Helpers for the host-loop and checkpoint tests (envs and wrappers run in subprocesses)."""
