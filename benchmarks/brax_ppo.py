"""``python -m benchmarks.brax_ppo``: our PPO and Brax's own PPO side by side on a Brax env, in one process.

    PYTHONPATH=. python3 -m benchmarks.brax_ppo [--env ant] [--timesteps 5e7] [--seeds 3] [--epochs 4]
        [--eval-episodes 128] [--set KEY=VALUE ...] [--brax-set KEY=VALUE ...] [--out benchmarks/results/brax_ppo]

Ours is the host loop the command line runs (`jaxrl.run.build.build_trainer`) with the env's preset,
``PRESETS["brax:<env>"]`` of `jaxrl.ppo.config` (Brax's published hyperparameters mapped onto ours);
Brax's is ``brax.training.agents.ppo.train`` with those hyperparameters (`PUBLISHED`) on the same raw
Brax env. Both take the same env steps in ``--epochs`` device calls of equal size (Brax's
``num_evals - 1``, without its evaluations); the seeds alternate between them (ours first for even
seeds, Brax first for odd ones).

Compile time is measured the same way for both: the wall time JAX spends tracing, lowering and
compiling (or loading from the persistent cache, a fresh directory by default, so later seeds load
what the first compiled), from JAX's own monitoring events. Steps per second are over the epochs in
which nothing compiled (ours compiles apart; Brax compiles inside its first two epochs), each epoch
timed to its blocked result, median over seeds. Evaluation: one evaluator for both,
``--eval-episodes`` fresh episodes of our ``brax:<env>`` env (at most 1000 steps) with the
deterministic policy (ours: the Gaussian's mean, clipped to [-1, 1]; Brax's: tanh of its mean), the
same keys for both. Writes ``brax_ppo.json`` into ``--out`` after every run; a table is printed last.
Needs brax (``pip install -e ".[brax]"``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import common

PUBLISHED: dict[str, dict[str, Any]] = {
    "ant": {
        "num_envs": 4096,
        "batch_size": 2048,
        "num_minibatches": 32,
        "unroll_length": 5,
        "num_updates_per_batch": 4,
        "discounting": 0.97,
        "learning_rate": 3e-4,
        "entropy_cost": 1e-2,
        "reward_scaling": 10.0,
        "normalize_observations": True,
        "episode_length": 1000,
        "action_repeat": 1,
    },
}
"""Brax's published ``ppo.train`` settings per env (its training notebook; 50M steps for Ant), the rest at
its defaults; `jaxrl.ppo.config.PRESETS` maps them onto our PPO."""

EVAL_MAX_STEPS = 1000
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.brax_ppo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--env", default="ant", choices=sorted(PUBLISHED), help="Brax env name")
    parser.add_argument(
        "--timesteps",
        type=float,
        default=50e6,
        help="env steps per run, both systems (rounded down to whole epochs of whole updates)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="runs per system")
    parser.add_argument(
        "--epochs", type=int, default=4, help="device calls per run (Brax compiles in the first two)"
    )
    parser.add_argument("--eval-episodes", type=int, default=128, help="evaluation episodes per run")
    common.add_set_argument(parser, "override a field of our PPO preset (e.g. --set num_envs=16)")
    parser.add_argument(
        "--brax-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one of Brax's ppo.train settings (e.g. --brax-set num_envs=16)",
    )
    parser.add_argument(
        "--compile-cache",
        default="fresh",
        help="JAX's persistent compilation cache: 'fresh' (a new temporary directory), 'off', or a path",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/brax_ppo"))
    args = parser.parse_args(argv)
    if min(args.seeds, args.epochs, args.eval_episodes) < 1 or args.timesteps <= 0:
        parser.error("--seeds, --epochs, --eval-episodes and --timesteps must be positive")
    return args


class CompileClock:
    """Wall time JAX spends compiling, from its monitoring events: the union of their spans, so that
    nested traces (a jit inside a jit) count once."""

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        self.cache_hits = 0

    def _span(self, event: str, start: float, end: float, **kwargs: Any) -> None:
        if event in COMPILE_EVENTS:
            self.spans.append((start, end))

    def _event(self, event: str, **kwargs: Any) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.cache_hits += 1

    @contextlib.contextmanager
    def listening(self) -> Iterator[CompileClock]:
        import jax

        jax.monitoring.register_event_time_span_listener(self._span)
        jax.monitoring.register_event_listener(self._event)
        try:
            yield self
        finally:
            jax.monitoring.unregister_event_time_span_listener(self._span)
            jax.monitoring.unregister_event_listener(self._event)

    def seconds(self, start: float, end: float) -> float:
        """Compile seconds within ``[start, end]`` (``time.time()`` stamps)."""
        total, reached = 0.0, start
        for span_start, span_end in sorted(self.spans):
            span_start, span_end = max(span_start, reached), min(span_end, end)
            if span_end > span_start:
                total += span_end - span_start
                reached = span_end
        return total


@contextlib.contextmanager
def replicated_put() -> Iterator[None]:
    """Brax 0.14's PPO calls ``jax.device_put_replicated``, which newer jax keeps only privately: lend it back."""
    import jax

    try:
        jax.device_put_replicated  # noqa: B018 - raises AttributeError once jax removed it from its API
    except AttributeError:
        from jax._src.api import device_put_replicated

        jax.device_put_replicated = device_put_replicated
        try:
            yield
        finally:
            del jax.device_put_replicated
    else:
        yield


def steady_rate(epochs: list[dict[str, Any]]) -> float | None:
    """Env steps per second over the epochs in which nothing compiled (None if every epoch compiled)."""
    clean = [e for e in epochs if e["compile_seconds"] < 0.01]
    seconds = sum(e["seconds"] for e in clean)
    return sum(e["env_steps"] for e in clean) / seconds if clean and seconds > 0 else None


def run_ours(config, seed: int, epochs: int, clock: CompileClock, episodes: int) -> dict[str, Any]:
    import jax

    from jaxrl import ppo
    from jaxrl.config import TrainConfig
    from jaxrl.run.build import build_trainer
    from jaxrl.run.evaluation import make_evaluator

    records: list[dict[str, Any]] = []

    class Keep:
        """A logger that keeps the loop's records in memory (the run writes no files)."""

        def log(self, record: dict[str, Any]) -> None:
            records.append(record)

        def close(self) -> None:
            pass

    start = time.time()
    algo = ppo.make(config)
    run_config = TrainConfig(
        ppo=config,
        seed=seed,
        updates_per_epoch=config.num_updates // epochs,
        eval_every=0,
        checkpoint_every=0,
        plot=False,
    )
    trainer = build_trainer(
        run_config, algo=algo, loggers=[Keep()], report=lambda m: print(f"  ours: {m}", flush=True)
    )
    code = trainer.run()
    end = time.time()
    if code != 0:
        raise RuntimeError(f"our PPO stopped with exit code {code}")
    per_epoch: dict[int, dict[str, Any]] = {}
    for record in records:
        entry = per_epoch.setdefault(record["epoch"], {"env_steps": 0, "seconds": record["epoch_seconds"]})
        entry["env_steps"] += algo.steps_per_update
    # Compiled apart: the epochs themselves compile nothing (the loop traces its epoch function once).
    epoch_list = [{"epoch": k, **v, "compile_seconds": 0.0} for k, v in sorted(per_epoch.items())]
    eval_start = time.time()
    returns = make_evaluator(algo, episodes, deterministic=True)(algo.agent(trainer.state), eval_key(seed))[
        "return"
    ]
    returns = jax.device_get(returns)
    eval_end = time.time()
    trainer.close()
    return {
        "system": "ours",
        "seed": seed,
        "env_steps": trainer.env_steps,
        "epochs": epoch_list,
        "epoch_function_traces": trainer.traces,
        "compile_seconds": clock.seconds(start, end),
        "trainer_compile_seconds": trainer.compile_seconds,
        "wall_seconds": end - start,
        "steps_per_second": steady_rate(epoch_list),
        "final_train_return": records[-1].get("episode_return") if records else None,
        **evaluation_fields(returns, eval_start, eval_end, clock),
    }


def run_brax(
    env_name: str,
    settings: dict[str, Any],
    timesteps: int,
    seed: int,
    epochs: int,
    clock: CompileClock,
    episodes: int,
    eval_env: tuple[Any, Any],
) -> dict[str, Any]:
    import jax
    from brax import envs as brax_envs
    from brax.training.agents.ppo import train as brax_ppo

    marks: list[tuple[float, int, float]] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        marks.append((time.time(), int(step), float(metrics["training/walltime"])))

    start = time.time()
    with replicated_put():
        make_policy, params, _ = brax_ppo.train(
            environment=brax_envs.get_environment(env_name),
            num_timesteps=timesteps,
            num_evals=epochs + 1,
            run_evals=False,
            seed=seed,
            progress_fn=progress,
            **settings,
        )
    end = time.time()
    epoch_list, previous = [], (start, 0, 0.0)
    for index, mark in enumerate(marks, start=1):
        # Brax times each epoch to its blocked metrics (`training/walltime`); a compile anywhere between two
        # progress calls marks the epoch as compiling.
        epoch_list.append(
            {
                "epoch": index,
                "env_steps": mark[1] - previous[1],
                "seconds": mark[2] - previous[2],
                "compile_seconds": clock.seconds(previous[0], mark[0]),
            }
        )
        previous = mark
    eval_start = time.time()
    returns = jax.device_get(brax_evaluator(make_policy, eval_env, episodes)(params, eval_key(seed)))
    eval_end = time.time()
    return {
        "system": "brax",
        "seed": seed,
        "env_steps": marks[-1][1] if marks else 0,
        "epochs": epoch_list,
        "compile_seconds": clock.seconds(start, end),
        "wall_seconds": end - start,
        "steps_per_second": steady_rate(epoch_list),
        **evaluation_fields(returns, eval_start, eval_end, clock),
    }


def brax_evaluator(make_policy, eval_env: tuple[Any, Any], episodes: int):
    """Brax's deterministic policy played by our evaluator (`jaxrl.games.run_episodes`, as `make_evaluator` does)."""
    import jax

    from jaxrl.games import run_episodes

    env, env_params = eval_env

    def evaluate(params, key):
        policy = make_policy(params, deterministic=True)
        act = lambda key, state, obs, mask: policy(obs, key)[0]
        return run_episodes(env, env_params, act, key, episodes, EVAL_MAX_STEPS)["return"]

    return jax.jit(evaluate)


def eval_key(seed: int):
    import jax

    return jax.random.PRNGKey(1_000_000 + seed)  # the same episodes for both systems


def evaluation_fields(returns, start: float, end: float, clock: CompileClock) -> dict[str, Any]:
    import numpy as np

    returns = np.asarray(returns, np.float64)
    return {
        "eval_return_mean": float(returns.mean()),
        "eval_return_std_over_episodes": float(returns.std()),
        "eval_episodes": int(returns.size),
        "eval_seconds": end - start,
        "eval_compile_seconds": clock.seconds(start, end),
    }


def summarize(runs: list[dict[str, Any]], system: str) -> dict[str, Any]:
    mine = [r for r in runs if r["system"] == system]
    rates = [r["steps_per_second"] for r in mine if r["steps_per_second"] is not None]
    returns = [r["eval_return_mean"] for r in mine]
    compiles = [r["compile_seconds"] for r in mine]
    return {
        "runs": len(mine),
        "steps_per_second_median": statistics.median(rates) if rates else None,
        "steps_per_second": rates,
        "eval_return_mean": statistics.mean(returns) if returns else None,
        "eval_return_std_over_seeds": statistics.stdev(returns) if len(returns) > 1 else None,
        "eval_return_per_seed": returns,
        "compile_seconds_first": compiles[0] if compiles else None,
        "compile_seconds_later_median": statistics.median(compiles[1:]) if len(compiles) > 1 else None,
        "wall_seconds_median": statistics.median(r["wall_seconds"] for r in mine) if mine else None,
    }


def table(summary: dict[str, dict[str, Any]]) -> str:
    base = summary["brax"]["steps_per_second_median"]
    rows = []
    for system, s in summary.items():
        rate = s["steps_per_second_median"]
        spread = "-" if s["eval_return_std_over_seeds"] is None else f"{s['eval_return_std_over_seeds']:.0f}"
        rows.append(
            [
                system,
                common.format_number(rate),
                "-" if rate is None or not base else f"{rate / base:.2f}",
                "-" if s["eval_return_mean"] is None else f"{s['eval_return_mean']:.0f}",
                spread,
                " ".join(f"{r:.0f}" for r in s["eval_return_per_seed"]),
                "-" if s["compile_seconds_first"] is None else f"{s['compile_seconds_first']:.1f}",
                "-"
                if s["compile_seconds_later_median"] is None
                else f"{s['compile_seconds_later_median']:.1f}",
            ]
        )
    return common.format_table(
        [
            "system",
            "steps/s",
            "vs brax",
            "eval return",
            "sd (seeds)",
            "per seed",
            "compile s",
            "later (cache)",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import brax
    except ImportError as error:
        print(f'brax is not importable ({error}): pip install -e ".[brax]"')
        return 1
    import jax

    from jaxrl import ppo
    from jaxrl.errors import ConfigError

    settings = {**PUBLISHED[args.env], **common.parse_overrides(args.brax_set)}
    brax_update = settings["batch_size"] * settings["unroll_length"] * settings["num_minibatches"]
    brax_update *= settings["action_repeat"]
    try:
        config = ppo.preset(f"brax:{args.env}", **common.parse_overrides(args.set))
        if config.batch_size != brax_update:
            raise ConfigError(
                f"our update takes {config.batch_size} env steps, Brax's {brax_update} (batch_size * unroll_length "
                "* num_minibatches): make them equal so that both take the same steps per epoch"
            )
        updates = int(args.timesteps) // (args.epochs * brax_update) * args.epochs
        if updates < args.epochs:
            raise ConfigError(
                f"--timesteps {args.timesteps:.3g} is less than --epochs {args.epochs} updates of "
                f"{brax_update} steps"
            )
        timesteps = updates * brax_update
        config = config.replace(total_timesteps=timesteps)
        ppo.validate(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.compile_cache != "off":
        directory = (
            tempfile.mkdtemp(prefix="jaxrl-brax-ppo-xla-")
            if args.compile_cache == "fresh"
            else args.compile_cache
        )
        jax.config.update("jax_compilation_cache_dir", directory)

    info = common.environment_info()
    print(common.describe_environment(info), flush=True)
    print(
        f"brax {brax.__version__}, env {args.env}: {timesteps:,} env steps per run ({updates} updates of "
        f"{brax_update:,} in {args.epochs} epochs), {args.seeds} seeds per system",
        flush=True,
    )
    eval_env = ppo.build_env(config, training=False)
    assert eval_env[1].max_steps_in_episode == EVAL_MAX_STEPS
    clock = CompileClock()
    runs: list[dict[str, Any]] = []
    path = args.out / "brax_ppo.json"
    with clock.listening():
        for seed in range(args.seeds):
            for system in ("ours", "brax") if seed % 2 == 0 else ("brax", "ours"):
                hits = clock.cache_hits
                if system == "ours":
                    run = run_ours(config, seed, args.epochs, clock, args.eval_episodes)
                else:
                    run = run_brax(
                        args.env, settings, timesteps, seed, args.epochs, clock, args.eval_episodes, eval_env
                    )
                run["compile_cache_hits"] = clock.cache_hits - hits
                runs.append(run)
                print(
                    f"{system} seed {seed}: {common.format_number(run['steps_per_second'])} steps/s, eval return "
                    f"{run['eval_return_mean']:.1f}, compile {run['compile_seconds']:.1f}s "
                    f"({run['compile_cache_hits']} cache loads), wall {run['wall_seconds']:.1f}s",
                    flush=True,
                )
                summary = {s: summarize(runs, s) for s in ("ours", "brax")}
                common.write_json(
                    path,
                    {
                        "environment": info,
                        "brax_version": brax.__version__,
                        "env": args.env,
                        "timesteps": timesteps,
                        "epochs": args.epochs,
                        "seeds": args.seeds,
                        "eval_episodes": args.eval_episodes,
                        "eval_max_steps": EVAL_MAX_STEPS,
                        "ours_config": config,
                        "brax_settings": settings,
                        "summary": summary,
                        "runs": runs,
                    },
                )
    print(f"wrote {path}")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
