"""Choices that depend on the kind of device, made in one place.

Some forms of the same computation are fast on one backend and slow on
another (measured; BENCHMARKS.md, "What was tried"). An algorithm resolves
them once, when it is built, with `resolve`; the result is a plain record
that the run writes beside its resolved config, so a reader sees what ran.
Nothing else in the package asks which backend it is on.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Literal

import jax

Setting = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Backend:
    """What runs where. ``platform`` is 'cpu', 'gpu' or 'tpu'; the other fields are the choices made for it.

    gae_method: 'doubling' (shifted multiply-adds, log2 T rounds; less compile time on CPUs) or
        'associative' (`lax.associative_scan`; measured faster on GPUs). Same advantages either way.
    rollout_unroll: unroll factor of the rollout scan (GPUs are bound by kernels per step there).
    narrow_matmuls: layers with a narrow side as broadcast multiply-adds (`jaxrl.networks.Dense`);
        faster on GPUs, 2x slower on CPUs.
    fused_gradient: the PPO minibatch gradient as fused Pallas kernels (`jaxrl.ppo.fused`).
    interpret_kernels: Pallas kernels run interpreted (every backend but the GPU).
    conv_as_matmul: 3x3 convolutions as one matmul over the 9 shifted copies of the input
        (`jaxrl.networks.Conv3x3`); on CPUs a convolution inside a loop (every training update is one)
        runs ~10x slower than outside it, a matmul does not. The same function either way.
    graph_loops: XLA runs while loops and conditionals inside CUDA graphs (command buffers with
        WHILE and CONDITIONAL), so an iteration needs no round trip to the host to test its
        condition; asked for by algorithms whose programs are made of many short loops (the tree
        search: 1.13x faster on an H200), GPUs only.
    board_torso: the torso a network set to 'auto' gets for board planes: 'conv' (two convolutions)
        on accelerators, 'small_conv' (one of 16 channels) on CPUs, where the first trains ~10x slower.
    """

    platform: str
    gae_method: str
    rollout_unroll: int
    narrow_matmuls: bool
    fused_gradient: bool
    interpret_kernels: bool
    conv_as_matmul: bool = False
    graph_loops: bool = False
    board_torso: str = "conv"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def compiler_options(self) -> dict[str, str] | None:
        """XLA options for compiling this algorithm's programs (`jax.stages.Lowered.compile`), or None."""
        return {"xla_gpu_enable_command_buffer": GRAPH_LOOP_COMMANDS} if self.graph_loops else None


# XLA's default command-buffer commands plus the two that keep loops on the device.
GRAPH_LOOP_COMMANDS = "FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL"


def current_platform() -> str:
    """The default backend's platform, with GPU vendors' names folded into 'gpu'."""
    name = jax.default_backend()
    return "gpu" if name in ("gpu", "cuda", "rocm") else name


def _setting(value: Setting, default: bool) -> bool:
    return default if value == "auto" else value == "on"


def resolve(
    *,
    platform: str | None = None,
    rollout_unroll: int = 0,
    narrow_matmuls: Setting = "auto",
    fused_gradient: Setting = "auto",
    fused_unsupported: str | None = None,
    graph_loops: Setting = "off",
) -> Backend:
    """The choices for ``platform`` (default: the current one).

    ``rollout_unroll`` 0 picks 4 on accelerators and 1 on CPUs. ``narrow_matmuls`` and
    ``fused_gradient`` 'auto' turn them on for GPUs only; the fused gradient also needs
    ``fused_unsupported`` to be None (else it is the reason it cannot run, and 'on' is
    an error the caller reports). ``graph_loops`` 'auto' turns it on for GPUs.
    """
    platform = platform or current_platform()
    gpu, cpu = platform == "gpu", platform == "cpu"
    if fused_gradient == "on" and fused_unsupported is not None:
        raise ValueError(f"the fused gradient does not support {fused_unsupported}")
    return Backend(
        platform=platform,
        gae_method="doubling" if cpu else "associative",
        rollout_unroll=rollout_unroll or (1 if cpu else 4),
        narrow_matmuls=_setting(narrow_matmuls, gpu),
        fused_gradient=fused_unsupported is None and _setting(fused_gradient, gpu),
        interpret_kernels=not gpu,
        conv_as_matmul=cpu,
        graph_loops=_setting(graph_loops, gpu),
        board_torso="small_conv" if cpu else "conv",
    )


DETERMINISTIC_XLA_FLAG = "--xla_gpu_deterministic_ops=true"
"""XLA's switch for GPU programs that give the same bits in every process: without it each process
autotunes its kernels anew and may pick others, which round differently (BENCHMARKS.md)."""


def request_determinism() -> None:
    """Ask XLA for run-to-run identical GPU results (`DETERMINISTIC_XLA_FLAG`); no effect on CPUs.

    XLA reads its flags when JAX starts its backends, so this must run before anything touches
    a device (the command line calls it first thing for ``--deterministic``).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if DETERMINISTIC_XLA_FLAG not in flags.split():
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA_FLAG}".strip()


__all__ = ["DETERMINISTIC_XLA_FLAG", "GRAPH_LOOP_COMMANDS", "Backend", "current_platform", "request_determinism", "resolve"]
