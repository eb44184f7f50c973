"""``python -m benchmarks.triangles``: Triangles-v0 env steps per second under random legal play.

    python -m benchmarks.triangles [--num-envs 1024 65536 1048576] [--steps 100] [--repeats 5]

For each number of envs, ``--steps`` steps of ``AutoReset(Triangles())`` run
in one jitted ``lax.scan``, each env playing a uniformly random legal action
(one random integer per env: the k-th legal action);
rewards and observations feed a checksum so XLA cannot drop them. The
program is compiled apart, run once to warm up, then timed ``--repeats``
times with ``block_until_ready``; the median is reported. For reference,
trianglengin 1.0.6's own Python ``GameState.step`` plays random legal games on
the CPU for ``--reference-steps`` steps (skipped with a note when trianglengin
is not installed). Prints a table and writes ``triangles.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.common import (
    Timing,
    describe_environment,
    environment_info,
    format_number,
    format_table,
    measure,
    memory_fields,
    write_json,
)
from envs import wrappers
from envs.puzzles.triangles import NUM_ACTIONS, Triangles

GPU_SIZES = (1024, 65536, 1048576)
CPU_SIZES = (1024, 16384)


ACTION_BLOCK = 20  # random_legal_actions counts legal actions in blocks of 20, then within one


def random_legal_actions(key: jax.Array, masks: jax.Array) -> jax.Array:
    """``int32[B]``: a uniformly random legal action of each ``bool[B, 360]`` mask (terminal masks are all true).

    The k-th legal action for one random k per env, found in two short cumulative
    sums (over 18 block counts, then within the block) rather than one over 360,
    which XLA's CPU backend computes in quadratic time.
    """
    blocks = masks.reshape(masks.shape[0], -1, ACTION_BLOCK).astype(jnp.int32)  # [B, 18, 20]
    block_counts = jnp.sum(blocks, axis=-1)
    block_ends = jnp.cumsum(block_counts, axis=-1)  # legal actions up to the end of each block
    picks = jax.random.randint(key, block_ends.shape[:1], 0, jnp.maximum(block_ends[:, -1], 1))
    block = jnp.argmax(block_ends > picks[:, None], axis=-1)
    chosen = jnp.take_along_axis(blocks, block[:, None, None], axis=1)[:, 0]  # [B, 20]
    before = jnp.take_along_axis(block_ends - block_counts, block[:, None], axis=1)[:, 0]
    within = jnp.argmax(jnp.cumsum(chosen, axis=-1) > (picks - before)[:, None], axis=-1)
    return (block * ACTION_BLOCK + within).astype(jnp.int32)


def stepping_program(num_envs: int, num_steps: int):
    """``init(key) -> states [B]`` and ``run(states, key) -> (states, checksum, episodes)``: one scan."""
    env = wrappers.AutoReset(Triangles())
    params = env.default_params
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    masks = jax.vmap(env.action_mask, in_axes=(0, None))

    def init(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)[1]

    def run(states, key):
        def body(carry, key):
            states, checksum, episodes = carry
            key_action, key_step = jax.random.split(key)
            actions = random_legal_actions(key_action, masks(states, params))
            obs, states, reward, terminated, truncated, _ = step(
                jax.random.split(key_step, num_envs), states, actions, params
            )
            checksum = checksum + reward.sum() + obs.sum()
            return (states, checksum, episodes + jnp.sum(terminated | truncated, dtype=jnp.int32)), None

        carry = (states, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        (states, checksum, episodes), _ = jax.lax.scan(body, carry, jax.random.split(key, num_steps))
        return states, checksum, episodes

    return init, run


def measure_jax(num_envs: int, num_steps: int, repeats: int, seed: int) -> dict[str, Any]:
    init, run = stepping_program(num_envs, num_steps)
    key = jax.random.PRNGKey(seed)
    states = jax.block_until_ready(jax.jit(init)(key))
    timing, (_, checksum, episodes), program = measure(run, states, key, repeats=repeats)
    env_steps = num_envs * num_steps
    return {
        "implementation": "jaxrl",
        "num_envs": num_envs,
        "num_steps": num_steps,
        "env_steps": env_steps,
        "sps": env_steps / timing.median_seconds,
        **timing.as_dict(),
        **memory_fields(program),
        "episodes_per_run": int(episodes),
        "checksum_finite": bool(jnp.isfinite(checksum)),
    }


def measure_reference(num_steps: int, repeats: int, seed: int) -> dict[str, Any]:
    """trianglengin's ``GameState.step`` with random legal actions, ``num_steps`` steps per timed run."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # trianglengin's package imports pygame
    from importlib.metadata import version

    from trianglengin.core.environment import GameState

    rng = random.Random(seed)
    games = 0

    def play(steps: int) -> None:
        nonlocal games
        game = GameState(initial_seed=rng.randrange(2**31))
        for _ in range(steps):
            # Sorted: a set's order is not reproducible across runs.
            _, done = game.step(rng.choice(sorted(game.valid_actions())))
            if done:
                games += 1
                game = GameState(initial_seed=rng.randrange(2**31))

    start = time.perf_counter()
    play(min(num_steps, 1000))
    warmup = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        play(num_steps)
        runs.append(time.perf_counter() - start)
    timing = Timing(0.0, warmup, tuple(runs))
    return {
        "implementation": f"trianglengin {version('trianglengin')} (Python, one CPU core)",
        "num_envs": 1,
        "num_steps": num_steps,
        "env_steps": num_steps,
        "sps": num_steps / timing.median_seconds,
        **timing.as_dict(),
        "games_finished": games,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.triangles", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--num-envs",
        type=int,
        nargs="+",
        default=None,
        help=f"env counts (default {' '.join(map(str, GPU_SIZES))} on a GPU, {' '.join(map(str, CPU_SIZES))} on CPU)",
    )
    parser.add_argument("--steps", type=int, default=100, help="env steps per timed scan")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument(
        "--reference-steps", type=int, default=5000, help="trianglengin steps per timed run (0 skips it)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = environment_info()
    sizes = args.num_envs or (GPU_SIZES if info["platform"] == "gpu" else CPU_SIZES)
    print(
        f"Triangles-v0 v{Triangles.version}, {NUM_ACTIONS} actions; {describe_environment(info)}", flush=True
    )

    records = []
    for num_envs in sizes:
        record = measure_jax(num_envs, args.steps, args.repeats, args.seed)
        records.append(record)
        print(
            f"jaxrl {num_envs:>8} envs: {format_number(record['sps'])} steps/s "
            f"(compile {record['compile_seconds']:.1f}s, {record['episodes_per_run']} episodes per run)",
            flush=True,
        )

    reference: dict[str, Any]
    if args.reference_steps <= 0:
        reference = {"skipped": "--reference-steps 0"}
    else:
        try:
            reference = measure_reference(args.reference_steps, args.repeats, args.seed)
            print(f"trianglengin: {format_number(reference['sps'])} steps/s", flush=True)
        except ImportError as error:
            reference = {"skipped": f"trianglengin not importable ({error}); pip install trianglengin==1.0.6"}
            print(f"skipping trianglengin: {reference['skipped']}", flush=True)

    rows = [
        [
            "jaxrl",
            str(r["num_envs"]),
            format_number(r["sps"]),
            f"{r['median_seconds']:.4f}",
            f"{r['compile_seconds']:.1f}",
        ]
        for r in records
    ]
    if "sps" in reference:
        rows.append(
            ["trianglengin", "1", format_number(reference["sps"]), f"{reference['median_seconds']:.4f}", "-"]
        )
    print()
    print(format_table(["implementation", "envs", "steps/s", "median s", "compile s"], rows))

    path = write_json(
        args.out / "triangles.json",
        {
            "environment": info,
            "env": {"name": Triangles.name, "version": Triangles.version},
            "description": "random legal actions through AutoReset, lax.scan over steps; obs and rewards consumed",
            "runs": records,
            "reference": reference,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
