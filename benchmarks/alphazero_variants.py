"""``python -m benchmarks.alphazero_variants``: AlphaZero variants against one PPO run at equal wall time.

Connect Four, one process: PPO's preset trained for ``--seconds`` (sized by a probe, as in
`benchmarks.alphazero`), then each AlphaZero variant (``--variants``: a JSON object ``{name:
{field: value, ...}}`` of changes to the ConnectFour-v0 preset; ``{}`` is the preset) trained for
the same wall time, compiles included. Every variant's greedy search player then plays that PPO
agent (``--games`` per seat, two random opening moves so that the deterministic players' games
differ) and depth-4 minimax (``--minimax-games`` per seat). Writes ``variants.json`` to ``--out``
after each variant.

    PYTHONPATH=. python3 -m benchmarks.alphazero_variants --seconds 100 \\
        --variants '{"base": {"opening_moves": 0, "train_steps": 32}, "preset": {}}'
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=100.0, help="training wall time of each run")
    parser.add_argument("--variants", default='{"preset": {}}', help="JSON {name: {field: value}}")
    parser.add_argument("--games", type=int, default=256, help="games per seat against PPO")
    parser.add_argument("--minimax-games", type=int, default=128, help="games per seat against minimax-4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/alphazero_variants")
    args = parser.parse_args(argv)
    try:
        variants = json.loads(args.variants)
    except json.JSONDecodeError as error:
        parser.error(f"--variants is not JSON: {error}")

    import jax

    from benchmarks.alphazero import _device, _rates, train_for
    from jaxrl import alphazero, ppo
    from jaxrl.games import both_seats, fixed_opponents, from_opponent

    out = {"device": _device(), "seconds": args.seconds, "date": time.strftime("%Y-%m-%d %H:%M")}
    ppo_algo, ppo_agent, out["ppo"], _ = train_for(
        ppo.make, ppo.preset("ConnectFour-v0"), args.seconds, 16, 1, args.seed, size_schedule=True)
    env, params = ppo_algo.eval_env()

    def match(policy_a, policy_b, key, games, opening_moves=0):
        counts = jax.jit(lambda k: both_seats(env, params, policy_a, policy_b, k, games, 42, opening_moves))(key)
        return _rates(jax.device_get(counts), games)

    minimax4 = from_opponent(fixed_opponents(env, params, 4)["minimax4"])
    out["ppo_vs_minimax4"] = match(ppo_algo.agent_policy(ppo_agent), minimax4, jax.random.PRNGKey(5),
                                   args.minimax_games)
    print(f"ppo vs minimax4 {out['ppo_vs_minimax4']}", flush=True)
    for name, overrides in variants.items():
        az, agent, info, _ = train_for(alphazero.make, alphazero.preset("ConnectFour-v0", **overrides),
                                       args.seconds, 8, 1, args.seed, size_schedule=False)
        curve = info.pop("training_curve")
        result = {"train": info, "last": curve[-1] if curve else None}
        result["vs_minimax4"] = match(az.agent_policy(agent), minimax4, jax.random.PRNGKey(6), args.minimax_games)
        result["vs_ppo"] = match(az.agent_policy(agent), ppo_algo.agent_policy(ppo_agent), jax.random.PRNGKey(7),
                                 args.games, 2)
        out[name] = result
        print(f"{name}: {info['updates']} updates, {info['env_steps']:,} frames; vs minimax4 "
              f"{result['vs_minimax4']}; vs ppo {result['vs_ppo']}", flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "variants.json").write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
