"""Shogi random-play throughput: env steps per second at several numbers of parallel games.

    python -m benchmarks.shogi_throughput [--batch-sizes 1024 8192 65536] [--steps 100] [--impls jaxrl pgx]

Each measurement runs ``steps`` random-policy steps (uniform over legal
actions, auto-reset on game end) for ``batch`` games inside one jitted
``lax.scan``; compile time is reported apart and the timed runs end with
``block_until_ready``. pgx's Shogi is measured the same way in the same run
when ``pgx`` is importable. Prints a table and writes JSON under
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import jax.numpy as jnp

from envs import wrappers
from envs.games.shogi import Shogi


def _random_actions(key: jax.Array, masks: jax.Array) -> jax.Array:
    return jax.random.categorical(key, jnp.where(masks, 0.0, -jnp.inf))


def jaxrl_runner(batch: int, steps: int):
    env = wrappers.AutoReset(Shogi())
    params = env.default_params

    def init(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, batch), params)[1]

    def run(state, key):
        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = _random_actions(key_act, state.legal_action_mask)
            obs, state, _reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, batch), state, actions, params
            )
            # Consume the observation so XLA cannot drop it (pgx keeps it in its state).
            return state, (jnp.sum(terminated | truncated), jnp.sum(obs))

        state, (finished, _) = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state, finished.sum()

    return jax.jit(init), jax.jit(run, donate_argnums=0)


def pgx_runner(batch: int, steps: int):
    import pgx

    env = pgx.make("shogi")

    def init(key):
        return jax.vmap(env.init)(jax.random.split(key, batch))

    def run(state, key):
        # Fresh games are made once per scan, so resets cost a select, as with jaxrl's AutoReset.
        key, key_reset = jax.random.split(key)
        fresh = jax.vmap(env.init)(jax.random.split(key_reset, batch))

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = _random_actions(key_act, state.legal_action_mask)
            state = jax.vmap(env.step)(state, actions, jax.random.split(key_step, batch))
            done = state.terminated | state.truncated
            state = jax.tree.map(
                lambda f, s: jnp.where(jnp.reshape(done, done.shape + (1,) * (s.ndim - 1)), f, s),
                fresh,
                state,
            )
            return state, jnp.sum(done)

        state, finished = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state, finished.sum()

    return jax.jit(init), jax.jit(run, donate_argnums=0)


def measure(make_runner, batch: int, steps: int, repeats: int) -> dict:
    init, run = make_runner(batch, steps)
    state = jax.block_until_ready(init(jax.random.PRNGKey(0)))
    start = time.perf_counter()
    compiled = run.lower(state, jax.random.PRNGKey(1)).compile()
    compile_s = time.perf_counter() - start
    state, _ = jax.block_until_ready(compiled(state, jax.random.PRNGKey(1)))  # warm-up
    times, games = [], 0
    for i in range(repeats):
        start = time.perf_counter()
        state, finished = jax.block_until_ready(compiled(state, jax.random.PRNGKey(2 + i)))
        times.append(time.perf_counter() - start)
        games += int(finished)
    best = min(times)
    return {
        "batch": batch,
        "steps": steps,
        "compile_s": round(compile_s, 2),
        "best_run_s": round(best, 4),
        "steps_per_s": batch * steps / best,
        "games_finished": games,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 8192, 65536])
    parser.add_argument("--steps", type=int, default=100, help="env steps per timed scan")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (best is kept)")
    parser.add_argument(
        "--output", type=pathlib.Path, default=None, help="JSON path (default under results/)"
    )
    parser.add_argument("--impls", nargs="+", default=["jaxrl", "pgx"], choices=["jaxrl", "pgx"])
    args = parser.parse_args(argv)

    impls = {"jaxrl": jaxrl_runner} if "jaxrl" in args.impls else {}
    if "pgx" in args.impls:
        try:
            import pgx  # noqa: F401

            impls["pgx"] = pgx_runner
        except ImportError:
            print("pgx not importable: skipping it")

    device = jax.devices()[0]
    rows = []
    for batch in args.batch_sizes:
        for name, runner in impls.items():
            row = {"impl": name, **measure(runner, batch, args.steps, args.repeats)}
            rows.append(row)
            print(
                f"{name:6s} batch {batch:6d}: {row['steps_per_s']:14,.0f} steps/s "
                f"(compile {row['compile_s']:.1f} s, {row['games_finished']} games finished)",
                flush=True,
            )

    print(f"\n{'impl':6s} {'batch':>7s} {'steps/s':>14s} {'compile s':>10s}")
    for row in rows:
        print(f"{row['impl']:6s} {row['batch']:7d} {row['steps_per_s']:14,.0f} {row['compile_s']:10.1f}")

    output = (
        args.output or pathlib.Path(__file__).parent / "results" / f"shogi_throughput_{device.platform}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "device": str(device.device_kind),
        "jax": jax.__version__,
        "env_version": Shogi.version,
        "rows": rows,
    }
    output.write_text(json.dumps(record, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
