"""``python -m benchmarks.same_program``: a digest of the four CartPole benchmark programs, lowered as a GPU would pick them.

Run it in two source trees (``cd OTHER_TREE && PYTHONPATH=. python -m benchmarks.same_program``):
equal digests mean the two trees compile the same StableHLO for the benchmark configs, so any
speed difference between them is the machine's noise. Runs on a CPU: ``jax.default_backend``
is patched to report "gpu" (the device-dependent choices a GPU gets), and nothing is executed;
the fused gradient is off (its Triton kernels lower only on a GPU).
"""

from __future__ import annotations

import hashlib

import jax

CONFIGS = ((4, 500_000, 4, 0), (2048, 20_000_000, 4, 0), (16384, 100_000_000, 8, 0), (4, 500_000, 4, 1024))


def main() -> int:
    jax.default_backend = lambda: "gpu"
    from jaxrl import ppo

    try:
        from jaxrl.ppo.config import PPOConfig
    except ImportError:  # trees before PPOConfig moved into jaxrl/ppo
        from jaxrl.config import PPOConfig

    for num_envs, total, minibatches, seeds in CONFIGS:
        config = PPOConfig(num_envs=num_envs, total_timesteps=total, num_minibatches=minibatches, fused_gradient="off")
        algo = ppo.make(config)
        if seeds:
            lowered = jax.jit(jax.vmap(algo.train)).lower(jax.random.split(jax.random.PRNGKey(0), seeds))
        else:
            lowered = jax.jit(algo.train).lower(jax.random.PRNGKey(0))
        # Source locations differ between trees; the program does not.
        body = "\n".join(line.split(" loc(")[0] for line in lowered.as_text().splitlines() if not line.startswith("#loc"))
        print(f"{num_envs} envs x {seeds or 1} seeds: {hashlib.sha256(body.encode()).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
