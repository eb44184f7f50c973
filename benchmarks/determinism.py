"""``python -m benchmarks.determinism``: do two processes with the same config and key train the same bits?

Starts ``--processes`` fresh Python processes per setting; each compiles one CartPole PPO train
(``--num-envs``, ``--total-timesteps``; the fused gradient wherever it is on by default), runs it
``--repeats`` times from the same key, and reports a digest of the final training state and the
median run time. Settings: XLA's defaults, and ``--xla_gpu_deterministic_ops=true`` (what
determinism costs is the ratio of the two times). Prints a table, writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def child(args: argparse.Namespace) -> int:
    import hashlib
    import time

    import jax
    import numpy as np

    from jaxrl import ppo

    config = ppo.PPOConfig(
        num_envs=args.num_envs, total_timesteps=int(args.total_timesteps), num_minibatches=args.num_minibatches
    )
    algo = ppo.make(config)
    key = jax.random.PRNGKey(args.seed)
    compiled = jax.jit(algo.train).lower(key).compile()
    digests, seconds, returns = [], [], []
    for _ in range(args.repeats + 1):
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(key))
        seconds.append(time.perf_counter() - start)
        leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]
        digests.append(hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()[:16])
        returns.append(float(np.nanmean(np.asarray(metrics["episode_return"])[-10:])))
    print(json.dumps({
        "digests": digests, "seconds": statistics.median(seconds[1:]), "return": returns[-1],
        "fused_gradient": algo.fused_gradient, "device": jax.devices()[0].device_kind,
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.determinism", description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=2048)
    parser.add_argument("--total-timesteps", type=float, default=2e7)
    parser.add_argument("--num-minibatches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2, help="fresh processes per setting (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process after the first")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=XLA_FLAGS",
        help="another setting to compare, e.g. autotune0=--xla_gpu_autotune_level=0 (repeatable)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    child_args = [
        "--child", "--num-envs", str(args.num_envs), "--total-timesteps", str(args.total_timesteps),
        "--num-minibatches", str(args.num_minibatches), "--seed", str(args.seed), "--repeats", str(args.repeats),
    ]
    results = {}
    settings = [("default", ""), ("deterministic_ops", DETERMINISTIC_FLAG)]
    settings += [tuple(pair.split("=", 1)) for pair in args.setting]
    for setting, flag in settings:
        env = dict(os.environ)
        env["XLA_FLAGS"] = " ".join(x for x in (env.get("XLA_FLAGS", ""), flag) if x)
        runs = []
        for index in range(args.processes):
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.determinism", *child_args],
                env=env, capture_output=True, text=True, check=False,
            )
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                return done.returncode
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{setting} process {index}: {runs[-1]}", flush=True)
        digests = {d for run in runs for d in run["digests"]}
        results[setting] = {
            "runs": runs, "identical": len(digests) == 1, "distinct_digests": len(digests),
            "seconds": statistics.median(run["seconds"] for run in runs),
        }
    base = results["default"]["seconds"]
    print(f"\n{'setting':<18} {'identical':>9} {'digests':>7} {'seconds':>8} {'cost':>6}")
    for setting, result in results.items():
        print(f"{setting:<18} {str(result['identical']):>9} {result['distinct_digests']:>7} "
              f"{result['seconds']:>8.3f} {result['seconds'] / base:>5.2f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "determinism.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
