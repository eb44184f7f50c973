"""Benchmarks: PPO and environment throughput, host-loop overhead, peers.

Run from the source tree: ``PYTHONPATH=. python3 -m benchmarks.throughput --help``;
``python -m benchmarks.cpu_seeds`` times vmapped seeds on CPU.
"""
