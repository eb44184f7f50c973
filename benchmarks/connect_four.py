"""``python -m benchmarks.connect_four``: Connect Four self-play within a wall-clock budget, then strength.

Trains the ConnectFour-v0 preset (``--set key=value`` overrides any PPO
field) for as many updates as fit in ``--minutes`` (all of it counted:
compiles, the periodic game evaluation and the final one), then plays the
greedy policy against uniform random and depth-``--minimax-depth`` minimax
for ``--games`` games from each seat. Prints a table and writes
``connect_four.json`` (and ``metrics.jsonl``) to ``--out``.

How the budget is kept: one probe epoch measures the seconds per update of
this batch shape on this machine; the run is then sized to the time left
(less ``--reserve`` seconds for evaluation), so the learning-rate schedule anneals
over exactly the updates that will run. Needs no tyro, wandb or
tensorboard (runs from the source tree: ``PYTHONPATH=. python3 -m ...``).
Exit code 0 when the policy reaches ``--target`` win rate against the
minimax opponent (``--target-opponent random`` for random) from both
seats, else 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.common import add_set_argument

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.connect_four", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget, everything included")
    parser.add_argument("--minimax-depth", type=int, default=2, help="depth of the minimax opponent")
    parser.add_argument(
        "--games", type=int, default=1000, help="final evaluation: games per seat per opponent"
    )
    parser.add_argument("--target", type=float, default=0.8, help="win rate needed from both seats")
    parser.add_argument("--target-opponent", choices=("minimax", "random"), default="minimax")
    parser.add_argument(
        "--reserve",
        type=float,
        default=90.0,
        help="seconds of the budget kept for evaluation: its compiles, the periodic and final games",
    )
    parser.add_argument("--updates-per-epoch", type=int, default=16)
    parser.add_argument(
        "--evaluations", type=int, default=5, help="periodic game evaluations during training"
    )
    parser.add_argument("--eval-games", type=int, default=200, help="periodic evaluation: games per seat")
    parser.add_argument("--seed", type=int, default=0)
    add_set_argument(parser, "override a PPO field of the preset, e.g. --set num_envs=4096 (repeatable)")
    parser.add_argument("--out", default="benchmarks/results/connect_four", help="output directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    import jax

    from benchmarks.common import parse_overrides
    from jaxrl import ppo
    from jaxrl.config import TrainConfig, preset
    from jaxrl.run.build import build_trainer
    from jaxrl.run.callbacks import GameEvaluationCallback
    from jaxrl.run.evaluation import game_rates
    from jaxrl.run.loggers import JsonlLogger

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = 60.0 * args.minutes
    config = preset("ConnectFour-v0", **parse_overrides(args.set))
    k = args.updates_per_epoch
    device = jax.devices()[0]
    print(
        f"Connect Four self-play: {budget:.0f}s budget on {len(jax.devices())} x {device.platform}:{device.device_kind}, "
        f"jax {jax.__version__}; {config.num_envs} envs x {config.num_steps} steps per update",
        flush=True,
    )

    # Probe: seconds per update of this batch shape (compile apart, warm-up apart).
    probe = ppo.make(config.replace(total_timesteps=config.batch_size * k * 1000))
    epoch = jax.jit(lambda s: probe.train_from(s, k))
    state = probe.init(jax.random.PRNGKey(args.seed))
    compile_start = time.perf_counter()
    compiled = epoch.lower(state).compile()
    probe_compile = time.perf_counter() - compile_start
    state = jax.block_until_ready(compiled(state)[0])
    timed = time.perf_counter()
    jax.block_until_ready(compiled(state)[0])
    seconds_per_update = (time.perf_counter() - timed) / k
    # The real run compiles again (with its own learning-rate schedule): count it like the probe's compile.
    left = budget - args.reserve - (time.perf_counter() - start) - 1.2 * probe_compile
    num_updates = int(left / seconds_per_update) // k * k
    if num_updates < k:
        print(
            f"error: the budget leaves no time to train ({seconds_per_update:.3f}s per update)",
            file=sys.stderr,
        )
        return 2
    config = config.replace(total_timesteps=num_updates * config.batch_size)
    print(
        f"probe: {seconds_per_update * 1e3:.1f} ms per update ({config.batch_size / seconds_per_update:,.0f} steps/s), "
        f"compile {probe_compile:.1f}s -> {num_updates} updates, {config.total_timesteps:,} env steps",
        flush=True,
    )

    algo = ppo.make(config)
    num_epochs = num_updates // k
    every = max(1, num_epochs // max(args.evaluations, 1))
    run_config = TrainConfig(
        ppo=config, seed=args.seed, updates_per_epoch=k, eval_every=every, eval_games=args.eval_games,
        minimax_depth=args.minimax_depth, opponent_pool_size=8, plot=False,
    )
    minimax = f"minimax{args.minimax_depth}"

    def report(message: str) -> None:
        print(message, flush=True)

    class Progress:
        def log(self, record):
            if "eval/elo" in record:
                line = [
                    f"update {record['update']}",
                    f"{time.perf_counter() - start:.0f}s",
                    f"sps {record['sps']:,.0f}",
                ]
                for name in ("random", minimax):
                    if f"eval/vs_{name}/black_win_rate" in record:
                        line.append(
                            f"vs {name} black {record[f'eval/vs_{name}/black_win_rate']:.3f} "
                            f"white {record[f'eval/vs_{name}/white_win_rate']:.3f}"
                        )
                line.append(f"elo {record['eval/elo']:.0f}")
                report(" | ".join(line))

        def close(self):
            pass

    (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    trainer = build_trainer(
        run_config, algo=algo, state=algo.init(jax.random.PRNGKey(args.seed)),
        loggers=[JsonlLogger(out_dir / "metrics.jsonl"), Progress()], report=report,
    )
    code = trainer.run()
    trainer.close()
    evaluation = next(c for c in trainer.components.callbacks if isinstance(c, GameEvaluationCallback))
    train_end = time.perf_counter()
    rates = game_rates(
        algo, algo.agent(trainer.state), jax.random.PRNGKey(args.seed + 7), args.games, args.minimax_depth
    )
    wall = time.perf_counter() - start

    target_name = minimax if args.target_opponent == "minimax" else "random"
    black, white = rates[target_name]["black_win_rate"], rates[target_name]["white_win_rate"]
    passed = code == 0 and black >= args.target and white >= args.target and wall <= budget
    result = {
        "device": f"{device.platform}:{device.device_kind}",
        "num_devices": len(jax.devices()),
        "jax": jax.__version__,
        "command": "python -m benchmarks.connect_four " + " ".join(sys.argv[1:] if argv is None else argv),
        "budget_seconds": budget,
        "wall_seconds": wall,
        "train_seconds": train_end - start,
        "final_eval_seconds": wall - (train_end - start),
        "compile_seconds": trainer.compile_seconds,
        "seconds_per_update_probe": seconds_per_update,
        "num_updates": num_updates,
        "env_steps": config.total_timesteps,
        "config": {k_: getattr(config, k_) for k_ in config.__dataclass_fields__},
        "games_per_seat": args.games,
        "rates": rates,
        "elo": float(evaluation.ratings.mean()),
        "target": {"opponent": target_name, "win_rate": args.target, "passed": passed},
    }
    (out_dir / "connect_four.json").write_text(json.dumps(result, indent=1, default=str))
    print(
        f"\n{'opponent':<10} {'seat':<6} {'win':>6} {'draw':>6} {'loss':>6}   ({args.games} games per seat, greedy)"
    )
    for name, table in rates.items():
        for colour in ("black", "white"):
            row = " ".join(f"{table[f'{colour}_{label}_rate']:6.3f}" for label in ("win", "draw", "loss"))
            print(f"{name:<10} {colour:<6} {row}")
    print(
        f"wall {wall:.0f}s of {budget:.0f}s (training {train_end - start:.0f}s, {config.total_timesteps:,} env steps); "
        f"target {target_name} >= {args.target} from both seats: {'PASS' if passed else 'FAIL'}; "
        f"wrote {out_dir / 'connect_four.json'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
