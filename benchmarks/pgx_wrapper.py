"""pgx games through our adapter vs pgx's own ``env.step``: random-play env steps per second.

    PYTHONPATH=. python3 -m benchmarks.pgx_wrapper [--envs connect_four othello go_9x9] [--batch-sizes 4096]
        [--steps 100] [--repeats 3] [--out benchmarks/results/pgx_wrapper.json]

Each measurement runs ``steps`` steps of ``batch`` games, uniform over legal
actions, inside one jitted ``lax.scan``. ``pgx`` steps with ``jax.vmap(env.step)``;
``ours`` with ``jax.vmap(PgxEnv.step)`` (`envs.adapters.pgx`). Both restart a
finished game from one batch of fresh games made per scan (a select per step),
so the difference is the adapter's own work. ``ours+autoreset`` is what the
learners run: our `AutoReset` wrapper, which resets with a new key every step.
Compiled apart, one warm-up run, then the median of ``repeats`` timed runs that
end with ``block_until_ready``. Needs pgx (``pip install -e ".[pgx]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

from benchmarks import common

IMPLS = ("pgx", "ours", "ours+autoreset")


def _random_legal(key: jax.Array, mask: jax.Array) -> jax.Array:
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)


def _restart(done: jax.Array, fresh, state):
    return jax.tree.map(
        lambda f, s: jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s), fresh, state
    )


def runner(impl: str, env_id: str, batch: int, steps: int):
    """``(init, run)``: ``init(key) -> state`` and ``run(state, key) -> (state, finished games)`` for one impl."""
    import pgx

    import envs
    from envs.wrappers import AutoReset

    theirs = pgx.make(env_id)
    ours, params = envs.make(f"pgx:{env_id}")
    num_actions = ours.action_space(params).n
    if impl == "pgx":
        reset = jax.vmap(theirs.init)

        def mask_of(state):
            return state.legal_action_mask

        def step(state, action, keys):
            state = jax.vmap(theirs.step)(state, action, keys)
            return state, state.terminated | state.truncated, state.observation

    else:
        env = AutoReset(ours) if impl == "ours+autoreset" else ours

        def reset(keys):
            return jax.vmap(env.reset, in_axes=(0, None))(keys, params)[1]

        def mask_of(state):
            mask = jax.vmap(env.action_mask, in_axes=(0, None))(state, params)
            return jnp.ones((batch, num_actions), bool) if mask is None else mask  # MinAtar: no mask

        def step(state, action, keys):
            obs, state, _, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, state, action, params
            )
            return state, terminated | truncated, obs

    def init(key):
        state = reset(jax.random.split(key, batch))
        return state, mask_of(state)

    def run(carry, key):
        key, key_reset = jax.random.split(key)
        fresh = init(key_reset)

        def body(carry, key):
            state, mask = carry
            key_act, key_step = jax.random.split(key)
            state, done, obs = step(state, _random_legal(key_act, mask), jax.random.split(key_step, batch))
            mask = mask_of(state)
            if impl != "ours+autoreset":
                state, mask = _restart(done, fresh, (state, mask))
            # The observation is summed so that XLA cannot drop it (pgx keeps it in its state anyway).
            return (state, mask), (jnp.sum(done), jnp.sum(obs))

        carry, (finished, _) = jax.lax.scan(body, carry, jax.random.split(key, steps))
        return carry, finished.sum()

    return jax.jit(init), run


def measure(impl: str, env_id: str, batch: int, steps: int, repeats: int) -> dict:
    init, run = runner(impl, env_id, batch, steps)
    carry = jax.block_until_ready(init(jax.random.PRNGKey(0)))
    timing, (_, finished), _ = common.measure(run, carry, jax.random.PRNGKey(1), repeats=repeats)
    return {
        "impl": impl,
        "env": env_id,
        "batch": batch,
        "steps": steps,
        **timing.as_dict(),
        "steps_per_s": batch * steps / timing.median_seconds,
        "games_finished_per_run": int(finished),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--envs", nargs="+", default=["connect_four", "othello", "go_9x9"], help="pgx env ids"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4096])
    parser.add_argument("--steps", type=int, default=100, help="env steps per timed scan")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median kept)")
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pgx_wrapper.json")
    args = parser.parse_args(argv)
    try:
        import pgx
    except ImportError:
        print('pgx is not installed: pip install -e ".[pgx]"')
        return 1

    info = common.environment_info()
    print(common.describe_environment(info), flush=True)
    rows = []
    for env_id in args.envs:
        for batch in args.batch_sizes:
            for impl in args.impls:
                row = measure(impl, env_id, batch, args.steps, args.repeats)
                rows.append(row)
                print(
                    f"{env_id:14s} {impl:15s} batch {batch:6d}: {row['steps_per_s']:14,.0f} steps/s "
                    f"(compile {row['compile_seconds']:.1f} s)",
                    flush=True,
                )

    pgx_rates = {(r["env"], r["batch"]): r["steps_per_s"] for r in rows if r["impl"] == "pgx"}
    table = []
    for row in rows:
        base = pgx_rates.get((row["env"], row["batch"]))
        ratio = "-" if base is None else f"{row['steps_per_s'] / base:.2f}"
        table.append(
            [
                row["env"],
                row["impl"],
                str(row["batch"]),
                common.format_number(row["steps_per_s"]),
                ratio,
                f"{row['compile_seconds']:.1f}",
            ]
        )
    print()
    print(common.format_table(["env", "impl", "batch", "steps/s", "vs pgx", "compile s"], table))
    path = common.write_json(args.out, {"environment": info, "pgx_version": pgx.__version__, "rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
