"""``python -m benchmarks.cpu_seeds``: CPU time of one seed vs N vmapped seeds of the default config.

One seed is ``algo.train``; N seeds are ``jax.vmap(algo.train)`` (``--init map``
initialises the seeds one by one with ``lax.map``, then vmaps ``train_from``).
Compile apart, warm up, median of ``--repeats``. Target: N seeds in at most
~N times one seed's time. Exit codes: 0 on target, 1 above it, 3 on a hang.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.throughput import int_list


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cpu_seeds", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--seeds", type=int_list, default=[4], help="vmapped seed counts to compare with one seed"
    )
    parser.add_argument("--total-timesteps", type=lambda s: int(float(s)), default=500_000, help="per seed")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs after the warm-up (median reported)"
    )
    parser.add_argument(
        "--init",
        choices=("vmap", "map"),
        default="vmap",
        help="vmap: jax.vmap(algo.train); map: seeds initialised with lax.map, then vmapped",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="allowed excess over N x one seed's time before exiting 1 (0.1 = 10%%)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds one compile-and-time may take before it is declared hung (exit 3; 0: never)",
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def measure_seeds(algo, num_seeds: int | None, args: argparse.Namespace, watchdog) -> dict[str, Any]:
    """Time ``algo.train`` (``num_seeds`` None) or ``num_seeds`` vmapped seeds of it."""
    import jax

    from benchmarks.common import measure
    from benchmarks.throughput import final_return, seeds_train_fn

    key = jax.random.PRNGKey(0)
    if num_seeds is None:
        fn, fn_args, label = algo.train, (key,), "1 (train)"
    else:
        fn, fn_args = seeds_train_fn(algo, args.init), (jax.random.split(key, num_seeds),)
        label = f"{num_seeds} ({args.init} init)"
    with watchdog.stage(f"{label} seeds: compile and {args.repeats + 1} runs"):
        timing, (_, metrics), _ = measure(fn, *fn_args, repeats=args.repeats)
    returns, counts = jax.device_get((metrics["episode_return"], metrics["episodes"]))
    steps = (num_seeds or 1) * algo.config.num_updates * algo.config.batch_size
    print(
        f"  {label} seeds: median {timing.median_seconds:.2f}s, compile {timing.compile_seconds:.1f}s",
        flush=True,
    )
    return {
        "seeds": num_seeds or 1,
        "vmapped": num_seeds is not None,
        "label": label,
        **timing.as_dict(),
        "sps": steps / timing.median_seconds,
        "final_return": final_return(returns, counts),
    }


def summary_table(runs: list[dict[str, Any]]) -> str:
    from benchmarks.common import format_number, format_table

    rows = []
    for run in runs:
        target = run.get("target_ratio")
        verdict = "-" if target is None else ("ok" if run["on_target"] else "ABOVE TARGET")
        rows.append(
            [
                run["label"],
                f"{run['compile_seconds']:.1f}",
                f"{run['median_seconds']:.2f}",
                " ".join(f"{s:.2f}" for s in run["run_seconds"]),
                format_number(run["sps"]),
                f"{run['ratio_to_one_seed']:.2f}x",
                "-" if target is None else f"<= {target}x",
                verdict,
                f"{run['final_return']:.1f}",
            ]
        )
    headers = ["seeds", "compile s", "median s", "runs s", "steps/s", "time vs 1", "target", "", "return"]
    return format_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before jax is imported: this benchmark is about the CPU
    from benchmarks.common import Watchdog, describe_environment, environment_info, write_json
    from jaxrl import ppo
    from jaxrl.config import PPOConfig

    info = environment_info()
    if info["platform"] != "cpu":
        print(f"warning: running on {info['platform']}, not the CPU", file=sys.stderr)
    results: dict[str, Any] = {
        "benchmark": "cpu_seeds",
        "environment": info,
        "settings": vars(args),
        "runs": [],
    }

    def save_partial(stage: str) -> None:
        if args.out:
            write_json(args.out, {**results, "hang": stage})

    watchdog = Watchdog(args.timeout, on_hang=save_partial)
    algo = ppo.make(PPOConfig(total_timesteps=args.total_timesteps))
    steps = algo.config.num_updates * algo.config.batch_size
    print(
        f"cpu_seeds: {algo.config.env} default config, {steps} steps per seed, init {args.init}; "
        f"{describe_environment(info)}",
        flush=True,
    )
    baseline = measure_seeds(algo, None, args, watchdog)
    baseline.update(ratio_to_one_seed=1.0, target_ratio=None, on_target=True)
    results["runs"].append(baseline)
    for num_seeds in args.seeds:
        run = measure_seeds(algo, num_seeds, args, watchdog)
        run["ratio_to_one_seed"] = run["median_seconds"] / baseline["median_seconds"]
        run["target_ratio"] = num_seeds
        run["on_target"] = run["ratio_to_one_seed"] <= num_seeds * (1 + args.tolerance)
        results["runs"].append(run)
    print()
    print(summary_table(results["runs"]))
    if args.out:
        print(f"results: {write_json(args.out, results)}")
    return 0 if all(r["on_target"] for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
