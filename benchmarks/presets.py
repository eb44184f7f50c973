"""``python -m benchmarks.presets``: does each classic-control preset solve its env in every seed?

Trains ``--seeds`` vmapped seeds of each env's PPO preset (``jax.vmap(algo.train)``,
one program per env and variant), then plays ``--episodes`` greedy episodes per
seed (the policy's mean or most likely action, observation statistics of that
seed) and reports, per env, the mean, min and max over seeds of each seed's
mean greedy return against the env's target (`TARGETS`: every seed must reach
it). ``--variants FILE`` tries other hyperparameters side by side: a JSON object
``{env: [{field: value, ...}, ...]}``, each entry a variant of the preset
(``{}`` is the preset itself). Programs compile apart, several at once on a
multi-core host (``--compile-workers``); training wall time is reported without
the compile. Writes ``presets.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

TARGETS = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -90.0,
    "MountainCar-v0": -130.0,
    "MountainCarContinuous-v0": 80.0,
    "Pendulum-v1": -250.0,
}
"""Greedy return every seed must reach: the thresholds published RL baselines count as solved
(CartPole-v1, MountainCarContinuous-v0: Gymnasium's own ``reward_threshold``) or report for PPO."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.presets", description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default=",".join(TARGETS), help="comma-separated env ids")
    parser.add_argument("--seeds", type=int, default=16, help="vmapped seeds per env and variant")
    parser.add_argument("--episodes", type=int, default=32, help="greedy evaluation episodes per seed")
    parser.add_argument("--variants", type=Path, help="JSON {env: [{field: value}, ...]} of variants to try")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of every env's preset (and of every variant)")
    parser.add_argument("--compile-workers", type=int, default=4, help="XLA compiles side by side")
    parser.add_argument("--seed", type=int, default=0, help="first PRNG seed")
    parser.add_argument("--out", default="benchmarks/results/presets")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.episodes < 1:
        parser.error("--seeds and --episodes must be at least 1")
    return args


def seeds_program(algo, episodes: int):
    """``keys [N] -> (final training return [N], greedy returns [N, episodes])`` for ``algo``."""
    import jax

    from jaxrl.run.evaluation import make_evaluator

    evaluate = make_evaluator(algo, episodes, deterministic=True)

    def one_seed(key):
        train_key, eval_key = jax.random.split(key)
        state, metrics = algo.train(train_key)
        greedy = evaluate(algo.agent(state), eval_key)["return"]
        return metrics["episode_return"], metrics["episodes"], greedy

    return jax.vmap(one_seed)


def summarize(env: str, overrides: dict[str, Any], greedy, train_returns, train_counts, seconds: float,
              compile_seconds: float, steps: int) -> dict[str, Any]:
    import numpy as np

    from benchmarks.throughput import final_return

    per_seed = np.asarray(greedy, np.float64).mean(axis=1)
    target = TARGETS.get(env)
    return {
        "env": env,
        "overrides": overrides,
        "seeds": int(per_seed.shape[0]),
        "greedy_per_seed": per_seed.round(2).tolist(),
        "greedy_mean": float(per_seed.mean()),
        "greedy_min": float(per_seed.min()),
        "greedy_max": float(per_seed.max()),
        "train_final_return_per_seed": [
            float(final_return(r, c)) for r, c in zip(np.asarray(train_returns), np.asarray(train_counts))
        ],
        "target": target,
        "seeds_at_target": None if target is None else int((per_seed >= target).sum()),
        "solved_every_seed": None if target is None else bool((per_seed >= target).all()),
        "env_steps_per_seed": steps,
        "train_eval_seconds": seconds,
        "compile_seconds": compile_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import jax

    from benchmarks.common import compile_many, environment_info, format_table, parse_overrides, write_json
    from jaxrl import ppo

    common = parse_overrides(args.set)
    variants = json.loads(args.variants.read_text()) if args.variants else {}
    jobs, labels = [], []
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    for env in [e for e in args.envs.split(",") if e]:
        for overrides in variants.get(env, [{}]):
            overrides = {**overrides, **common}
            config = ppo.preset(env, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
            ppo.validate(config)
            algo = ppo.make(config)
            jobs.append((seeds_program(algo, args.episodes), (keys,)))
            labels.append((env, overrides, config.num_updates * config.batch_size))
    print(f"compiling {len(jobs)} programs ({args.compile_workers} at once) on {jax.devices()[0].device_kind}",
          flush=True)
    compiled = compile_many(jobs, args.compile_workers)
    results = []
    for (env, overrides, steps), program in zip(labels, compiled):
        if isinstance(program, BaseException):
            print(f"{env} {overrides}: failed to compile: {program}", flush=True)
            results.append({"env": env, "overrides": overrides, "error": str(program)})
            continue
        program, compile_seconds = program
        start = time.perf_counter()
        train_returns, train_counts, greedy = jax.block_until_ready(program(keys))
        seconds = time.perf_counter() - start
        row = summarize(env, overrides, greedy, train_returns, train_counts, seconds, compile_seconds, steps)
        results.append(row)
        print(f"{env} {overrides}: greedy mean {row['greedy_mean']:.1f} min {row['greedy_min']:.1f} "
              f"max {row['greedy_max']:.1f}, {row['seeds_at_target']}/{row['seeds']} seeds >= {row['target']} "
              f"({seconds:.1f}s, compile {compile_seconds:.1f}s)", flush=True)
        write_json(Path(args.out) / "presets.json", {"environment": environment_info(), "results": results})
    rows = [
        [r["env"], json.dumps(r["overrides"]) if r["overrides"] else "preset", f"{r['greedy_mean']:.1f}",
         f"{r['greedy_min']:.1f}", f"{r['greedy_max']:.1f}", f"{r['seeds_at_target']}/{r['seeds']}",
         f"{r['target']:g}", f"{r['train_eval_seconds']:.1f}"]
        for r in results if "error" not in r
    ]
    print(format_table(["env", "variant", "mean", "min", "max", "seeds >= target", "target", "s"], rows))
    print(f"wrote {Path(args.out) / 'presets.json'}")
    return 0 if all(r.get("solved_every_seed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
