"""``python -m benchmarks.profile``: where one PPO update spends its device time, kernel by kernel.

Compiles ``--updates`` PPO updates of a CartPole config as one program (or the
rollout alone, or one minibatch gradient step), times it like every benchmark
here (compile apart, warm-up, median of ``--repeats``), then runs it once more
under `jax.profiler` and sums every kernel the device executed by name. The
table gives each kernel's time and calls per update, so a change can be
judged by what it removes (kernel counts and their time), not only by the
wall clock. On a GPU the rows are the CUDA kernels of the device's streams
(XLA names them after its fusions; ``--hlo`` writes the optimised HLO to look
them up). On a CPU they are the XLA thunks run by the host threads (the
spans of loops and branches are left out: their bodies' thunks are counted).

Examples (GPU)::

    PYTHONPATH=. python3 -m benchmarks.profile --num-envs 16384 --num-minibatches 8
    PYTHONPATH=. python3 -m benchmarks.profile --num-envs 4 --seeds 1024 --top 20
    PYTHONPATH=. python3 -m benchmarks.profile --part minibatch --num-envs 2048 --hlo
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.throughput import DEFAULT_OUT

PARTS = ("update", "rollout", "minibatch")
_CPU_CONTAINER = re.compile(r"^(ThunkExecutor|while|conditional|call)\b")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.common import add_set_argument

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=2048, help="CartPole envs (default 2048)")
    parser.add_argument("--num-minibatches", type=int, default=4, help="minibatches per epoch (default 4)")
    parser.add_argument("--num-steps", type=int, default=128, help="rollout length (default 128)")
    parser.add_argument("--seeds", type=int, default=0, help="vmap over this many seeds (default 0: no vmap)")
    parser.add_argument(
        "--part",
        choices=PARTS,
        default="update",
        help="update: whole PPO updates; rollout: the rollout alone; minibatch: one gradient step",
    )
    parser.add_argument("--updates", type=int, default=5, help="updates (or parts) per profiled call (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median reported)")
    parser.add_argument("--top", type=int, default=40, help="kernels listed (default 40; 0: all)")
    add_set_argument(parser, "change a PPO field (repeatable)")
    parser.add_argument("--hlo", action="store_true", help="also write the optimised HLO text next to the JSON")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)")
    args = parser.parse_args(argv)
    for name in ("num_envs", "num_minibatches", "num_steps", "updates", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seeds < 0 or args.top < 0:
        parser.error("--seeds and --top must be >= 0")
    return args


def build(args: argparse.Namespace) -> tuple[Any, tuple, Any]:
    """``(fn, args, config)``: the program to profile, ``--updates`` repetitions of ``--part``."""
    import jax

    from benchmarks.common import parse_overrides
    from jaxrl import ppo
    from jaxrl.config import PPOConfig

    config = PPOConfig(
        num_envs=args.num_envs, num_minibatches=args.num_minibatches, num_steps=args.num_steps
    ).replace(**parse_overrides(args.set))
    config = config.replace(total_timesteps=max(config.total_timesteps, config.batch_size * (args.updates + 1)))
    algo = ppo.make(config)
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds) if args.seeds else jax.random.PRNGKey(0)
    batched = (lambda f: jax.vmap(f)) if args.seeds else (lambda f: f)
    state = jax.jit(batched(algo.init))(keys)

    if args.part == "update":
        step = batched(algo.update)
        operand = state
    elif args.part == "rollout":
        step = batched(lambda s: (algo.rollout(s)[0], None))
        operand = state
    else:
        minibatches = jax.jit(batched(lambda s: minibatches_of(algo, s)))(state)
        carry = (state.params, state.opt_state)
        step = batched(lambda c, mb: (algo._minibatch_step(c, mb)[0], None))
        operand = (carry, minibatches)

        def repeat(operand):
            carry, minibatches = operand
            carry = jax.lax.fori_loop(0, args.updates, lambda _, c: step(c, minibatches)[0], carry)
            return carry, minibatches

        return repeat, (operand,), config

    def repeat(operand):
        return jax.lax.fori_loop(0, args.updates, lambda _, s: step(s)[0], operand)

    return repeat, (operand,), config


def minibatches_of(algo: Any, state: Any) -> Any:
    """The first minibatch of the first epoch of an update from ``state`` (what `_minibatch_step` reads)."""
    import jax

    state, traj = algo.rollout(state)
    return jax.tree.map(lambda x: x[0], algo._deal(state.rng, algo.batch(state.params, traj)))


def kernel_events(profile_dir: str, platform: str) -> dict[str, list[float]]:
    """``{name: [calls, microseconds]}`` summed over the device's kernels (host XLA thunks on a CPU)."""
    from jax.profiler import ProfileData

    paths = sorted(Path(profile_dir).rglob("*.xplane.pb"))
    if not paths:
        raise RuntimeError(f"jax.profiler wrote no trace under {profile_dir}")
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for plane in ProfileData.from_file(str(paths[-1])).planes:
        if platform == "cpu":
            if plane.name != "/host:CPU":
                continue
            lines = [line for line in plane.lines if line.name.startswith("tf_XLA")]
        else:
            if not plane.name.startswith("/device:"):
                continue
            lines = [line for line in plane.lines if "Stream" in line.name]
        for line in lines:
            for event in line.events:
                if platform == "cpu" and _CPU_CONTAINER.match(event.name):
                    continue  # a loop, branch or executor span: its body's thunks are rows of their own
                row = totals[event.name]
                row[0] += 1
                row[1] += event.duration_ns / 1e3
    return totals


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import jax

    from benchmarks.common import describe_environment, environment_info, format_table, measure, write_json

    info = environment_info()
    fn, fn_args, config = build(args)
    timing, _, program = measure(fn, *fn_args, repeats=args.repeats)
    wall = timing.median_seconds / args.updates
    with tempfile.TemporaryDirectory() as profile_dir:
        with jax.profiler.trace(profile_dir):
            jax.block_until_ready(program(*fn_args))
        totals = kernel_events(profile_dir, info["platform"])

    rows = sorted(
        ({"name": k, "calls": c / args.updates, "us": us / args.updates} for k, (c, us) in totals.items()),
        key=lambda r: -r["us"],
    )
    kernel_us = sum(r["us"] for r in rows)
    kernels = sum(r["calls"] for r in rows)
    label = f"{args.part}, CartPole-v1 {config.num_envs} envs x {config.num_steps} steps, {config.num_minibatches} minibatches"
    if args.seeds:
        label += f", {args.seeds} seeds"
    env_steps = config.batch_size * max(args.seeds, 1)
    print(f"profile: {label}; {describe_environment(info)}")
    print(
        f"wall per {args.part} {wall * 1e3:.3f} ms (median of {args.repeats}, {args.updates} per call, compile "
        f"{timing.compile_seconds:.1f} s)"
        + (f", {env_steps / wall / 1e6:.2f} M env steps/s" if args.part == "update" else "")
    )
    print(f"kernels per {args.part}: {kernels:.0f}, {kernel_us / 1e3:.3f} ms of kernel time\n")
    shown = rows[: args.top] if args.top else rows
    print(
        format_table(
            ["kernel", "us", "share", "calls", "us/call"],
            [
                [r["name"][:90], f"{r['us']:.1f}", f"{100 * r['us'] / max(kernel_us, 1e-9):.1f}%", f"{r['calls']:g}",
                 f"{r['us'] / max(r['calls'], 1e-9):.2f}"]
                for r in shown
            ],
        )
    )
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more kernels ({sum(r['us'] for r in rows[len(shown):]):.1f} us)")

    stem = f"profile_{args.part}_{config.num_envs}envs" + (f"_{args.seeds}seeds" if args.seeds else "")
    results = {
        "benchmark": "profile",
        "environment": info,
        "settings": vars(args),
        "config": label,
        "wall_seconds_per_part": wall,
        "timing": timing.as_dict(),
        "kernels_per_part": kernels,
        "kernel_seconds_per_part": kernel_us / 1e6,
        "kernels": rows,
    }
    print(f"\nresults: {write_json(args.out / f'{stem}.json', results)}")
    if args.hlo:
        path = args.out / f"{stem}.hlo.txt"
        path.write_text(program.as_text())
        print(f"optimised HLO: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
