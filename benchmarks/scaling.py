"""``python -m benchmarks.scaling``: PPO env steps per second against device count (data parallelism).

Two series on CartPole-v1, each for 1, 2, 4, ... devices up to all of them:
``--per-device-envs N`` (weak scaling: the env batch grows with the devices)
and ``--total-envs N`` (strong scaling: one env batch split over more devices).
Each point is the host loop's epoch program (``--updates`` PPO updates in one
jitted call, env batch sharded with `jaxrl.sharding`), compiled apart, run
once to warm up, then timed ``--repeats`` times; the median is reported.
Writes ``scaling.json`` and ``scaling.png`` into ``--out`` and prints a table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("benchmarks") / "results"
RESULTS_FILE = "scaling.json"


def device_counts(available: int, requested: list[int] | None) -> list[int]:
    """``requested`` (checked), or 1, 2, 4, ... and ``available`` itself."""
    if requested:
        bad = [n for n in requested if not 1 <= n <= available]
        if bad:
            raise SystemExit(f"error: --devices {bad} outside 1..{available} (the devices available)")
        return sorted(set(requested))
    counts = [2**i for i in range(int(math.log2(available)) + 1)]
    return counts if counts[-1] == available else [*counts, available]


def measure_point(num_devices: int, num_envs: int, args: argparse.Namespace) -> dict[str, Any]:
    """SPS of ``args.updates`` PPO updates of ``num_envs`` CartPole envs split over ``num_devices``."""
    import jax

    from benchmarks.common import compile_apart, parse_overrides, time_runs
    from jaxrl import ppo, sharding
    from jaxrl.config import PPOConfig, validate

    config = PPOConfig(
        env="CartPole-v1",
        num_envs=num_envs,
        num_steps=args.num_steps,
        num_minibatches=args.num_minibatches,
        total_timesteps=num_envs * args.num_steps * args.updates,
    ).replace(**parse_overrides(args.set))
    validate(config, num_devices)
    algo = ppo.make(config)
    mesh = sharding.make_mesh(num_devices)
    state = sharding.shard_state(algo.init(jax.random.PRNGKey(args.seed)), mesh)
    state_shardings = sharding.state_shardings(state, mesh)
    whole = sharding.replicated(mesh)
    with jax.set_mesh(mesh):  # the learner splits its minibatches over the mesh it is traced under
        program, compile_seconds = compile_apart(
            lambda s: algo.train_from(s, args.updates),
            state,
            in_shardings=(state_shardings,),
            out_shardings=(state_shardings, whole),
        )
    warmup_seconds, run_seconds, (_, metrics) = time_runs(program, state, repeats=args.repeats)
    median = statistics.median(run_seconds)
    env_steps = args.updates * config.batch_size
    return {
        "devices": num_devices,
        "num_envs": num_envs,
        "envs_per_device": num_envs // num_devices,
        "num_steps": config.num_steps,
        "num_minibatches": config.num_minibatches,
        "shuffle": "per_env" if config.per_env_shuffle else "global",
        "updates": args.updates,
        "env_steps": env_steps,
        "sps": env_steps / median,
        "median_seconds": median,
        "run_seconds": list(run_seconds),
        "warmup_seconds": warmup_seconds,
        "compile_seconds": compile_seconds,
        "finite_loss": bool(jax.numpy.isfinite(metrics["total_loss"]).all()),
    }


def run_series(kind: str, counts: list[int], envs: int, args: argparse.Namespace) -> dict[str, Any]:
    """One series; ``envs`` is per device (``kind == 'per_device'``) or the total (``'total'``)."""
    points = []
    for n in counts:
        num_envs = envs * n if kind == "per_device" else envs
        label = f"{kind} {envs}: {n} device{'s' if n > 1 else ''}, {num_envs} envs"
        if num_envs % n or (num_envs * args.num_steps // args.num_minibatches) % n:
            print(
                f"  {label}: skipped (the env batch or minibatch does not split over {n} devices)", flush=True
            )
            continue
        point = measure_point(n, num_envs, args)
        points.append(point)
        print(f"  {label}: {point['sps']:,.0f} steps/s (compile {point['compile_seconds']:.1f}s)", flush=True)
    base = points[0] if points and points[0]["devices"] == 1 else None
    for point in points:
        if base is not None:
            point["speedup"] = point["sps"] / base["sps"]
            point["efficiency"] = point["speedup"] / point["devices"]
    return {"kind": kind, "envs": envs, "points": points}


def table(series: list[dict[str, Any]]) -> str:
    from benchmarks.common import format_number, format_table

    rows = []
    for s in series:
        name = f"{s['envs']} per device" if s["kind"] == "per_device" else f"{s['envs']} total"
        for p in s["points"]:
            rows.append(
                [
                    name,
                    str(p["devices"]),
                    str(p["num_envs"]),
                    format_number(p["sps"]),
                    f"{p['speedup']:.2f}x" if "speedup" in p else "-",
                    f"{100 * p['efficiency']:.0f}%" if "efficiency" in p else "-",
                    f"{p['compile_seconds']:.1f}",
                ]
            )
    return format_table(["series", "devices", "envs", "steps/s", "speedup", "efficiency", "compile s"], rows)


def plot(series: list[dict[str, Any]], path: Path) -> Path:
    from benchmarks.common import loglog_plot

    lines = {}
    for s in series:
        name = f"{s['envs']} envs per device" if s["kind"] == "per_device" else f"{s['envs']} envs in total"
        lines[name] = ([p["devices"] for p in s["points"]], [p["sps"] for p in s["points"]])
    return loglog_plot(
        path, lines, "devices", "env steps / s", "PPO CartPole-v1: steps per second against devices"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    from benchmarks.common import add_set_argument

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--per-device-envs",
        type=int,
        nargs="*",
        default=None,
        help="weak scaling: envs per device (default 16384; 64 with --quick)",
    )
    parser.add_argument(
        "--total-envs",
        type=int,
        nargs="*",
        default=None,
        help="strong scaling: envs in total (default: per-device envs x all devices)",
    )
    parser.add_argument(
        "--devices", type=int, nargs="*", default=None, help="device counts (default 1, 2, 4, ..., all)"
    )
    parser.add_argument("--num-steps", type=int, default=128, help="rollout length (default 128)")
    parser.add_argument("--num-minibatches", type=int, default=8, help="minibatches per epoch (default 8)")
    parser.add_argument("--updates", type=int, default=10, help="PPO updates per timed call (default 10)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls per point; the median is kept (default 5)"
    )
    parser.add_argument("--seed", type=int, default=0)
    add_set_argument(parser, "change a PPO field at every point, e.g. --set shuffle=global (repeatable)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a CPU smoke run: tiny batches, 2 updates, 1 repeat"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_steps, args.updates, args.repeats, args.num_minibatches = 16, 2, 1, 4
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import jax

    from benchmarks.common import describe_environment, environment_info, write_json

    info = environment_info()
    counts = device_counts(jax.device_count(), args.devices)
    per_device = args.per_device_envs
    total = args.total_envs
    if per_device is None and total is None:
        per_device = [64 if args.quick else 16384]
        total = [per_device[0] * counts[-1]]
    print(f"scaling on {describe_environment(info)}; device counts {counts}", flush=True)
    series = []
    for envs in per_device or []:
        print(f"== {envs} envs per device", flush=True)
        series.append(run_series("per_device", counts, envs, args))
    for envs in total or []:
        print(f"== {envs} envs in total", flush=True)
        series.append(run_series("total", counts, envs, args))
    results = {
        "description": "PPO CartPole-v1 env steps per second against device count; each point is the host "
        "loop's epoch program (updates per call below), env batch sharded over the devices, parameters "
        "replicated; compile apart, one warm-up call, median of the timed calls",
        "environment": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "series": series,
    }
    path = write_json(args.out / RESULTS_FILE, results)
    try:
        plot(series, args.out / "scaling.png")
    except Exception as error:  # noqa: BLE001 - the numbers matter more than the picture
        print(f"warning: no plot ({type(error).__name__}: {error})", file=sys.stderr)
    print(table(series))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
