"""``python -m benchmarks.throughput``: PPO and environment throughput, host-loop overhead, peers.

Sections (pick with ``--only``): ``ppo`` CartPole-v1 env steps/s against
num_envs; ``seeds`` vmapped seeds of the default config; ``envs`` random-action
stepping of every registered env; ``hostloop`` the real host loop against pure
`train`; ``peers`` gymnax stepping and rejax PPO when importable;
``pendulum`` the Pendulum-v1 preset. Writes ``throughput.json`` and PNG plots
into ``--out`` and prints a table last. ``--quick`` is CI's CPU smoke run.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SECTIONS = ("ppo", "seeds", "envs", "hostloop", "peers", "pendulum")
DEFAULT_OUT = Path("benchmarks") / "results"
RESULTS_FILE = "throughput.json"

# Totals per num_envs for the CartPole scaling runs (PERFORMANCE.md where it gives one).
CARTPOLE_TOTALS = {4: 500_000, 64: 5_000_000, 512: 10_000_000, 2048: 20_000_000, 16384: 100_000_000}
QUICK_ENVS = ("CartPole-v1", "Pendulum-v1", "ConnectFour-v0")  # one discrete, one continuous, one game
SEED_INIT_NOTE = (
    "'map' initialises each seed with lax.map, then vmaps train_from: on CPU (jax 0.10.2) jax.vmap(algo.train) "
    "deadlocks in the batched LAPACK QR of the orthogonal initialiser; 'vmap' is jax.vmap(algo.train)"
)


NOTES = {
    "sps": "env steps per second: every env step of every seed, divided by the median timed run",
    "compile_seconds": "trace + lower + XLA compile of that program alone; with compile_workers > 1 several "
    "programs compiled side by side first (use --compile-workers 1 for uncontended compile times); "
    "compile_reused: an earlier measurement in this run compiled and ran the same program",
    "peak_bytes_in_use": "device high-water mark since the process started (JAX cannot reset it), read after "
    "the measurement; null on CPU",
    "program_bytes": "XLA's estimate for the one program: arguments + outputs + temporaries - aliased",
    "final_return": "training episode return over the last 2% of updates (at least one), weighted by "
    "episodes finished, pooled over seeds; rejax: its own evaluation at the end",
}


# -- what to measure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PPORun:
    """One CartPole-v1 training size; other fields keep PPOConfig's (PureJaxRL) defaults."""

    num_envs: int
    total_timesteps: int
    num_minibatches: int = 4


@dataclass(frozen=True)
class Plan:
    """What one invocation measures; `full_plan` and `quick_plan` build it, flags adjust it."""

    ppo_runs: tuple[PPORun, ...]
    seed_counts: tuple[int, ...]
    seed_timesteps: int
    env_names: tuple[str, ...] | None  # None: every registered env
    env_batch: int
    env_steps: int  # steps per env in one timed call
    hostloop_run: PPORun
    hostloop_updates_per_epoch: int
    hostloop_checkpoint_every: int  # epochs
    hostloop_warmup: bool  # one untimed host-loop run first (each run compiles its own epoch function)
    hostloop_repeats: int | None  # None: --repeats
    rejax_runs: tuple[PPORun, ...]
    pendulum_timesteps: int | None  # None: the preset's
    ppo_overrides: tuple[tuple[str, Any], ...] = ()  # --set: PPO fields changed in every CartPole run


def cartpole_run(num_envs: int, quick: bool = False) -> PPORun:
    """The scaling run for ``num_envs``: PureJaxRL's 8 minibatches from 16384 envs up."""
    minibatches = 8 if num_envs >= 16384 else 4
    if quick:
        total = num_envs * 128 * 8
    else:
        total = CARTPOLE_TOTALS.get(num_envs, max(500_000, num_envs * 128 * 50))
    return PPORun(num_envs, total, minibatches)


def full_plan(platform: str) -> Plan:
    accelerator = platform != "cpu"
    return Plan(
        ppo_runs=tuple(cartpole_run(n) for n in (4, 64, 512, 2048, 16384)),
        seed_counts=(1, 16, 256, 1024),
        seed_timesteps=500_000,
        env_names=None,
        env_batch=65_536 if accelerator else 4096,
        env_steps=128 if accelerator else 32,
        hostloop_run=cartpole_run(2048),
        hostloop_updates_per_epoch=16,  # TrainConfig's default
        hostloop_checkpoint_every=5,
        hostloop_warmup=True,
        hostloop_repeats=None,
        rejax_runs=(cartpole_run(4), cartpole_run(2048)),
        pendulum_timesteps=None,
    )


def quick_plan(platform: str) -> Plan:
    small = 4 * 128 * 16
    return Plan(
        ppo_runs=(cartpole_run(4, quick=True), cartpole_run(64, quick=True)),
        seed_counts=(1, 4),
        seed_timesteps=small,
        env_names=QUICK_ENVS,
        env_batch=256,
        env_steps=32,
        hostloop_run=cartpole_run(64, quick=True),  # the same program as the ppo run: compiled once
        hostloop_updates_per_epoch=2,
        hostloop_checkpoint_every=2,
        hostloop_warmup=False,
        hostloop_repeats=1,
        rejax_runs=(cartpole_run(4, quick=True),),
        pendulum_timesteps=16 * 128 * 4,
    )


def make_plan(args: argparse.Namespace, platform: str) -> Plan:
    plan = quick_plan(platform) if args.quick else full_plan(platform)
    changes: dict[str, Any] = {}
    if args.num_envs:
        changes["ppo_runs"] = tuple(cartpole_run(n, args.quick) for n in args.num_envs)
    if args.seeds:
        changes["seed_counts"] = tuple(args.seeds)
    if args.env_batch:
        changes["env_batch"] = args.env_batch
    if args.env_steps:
        changes["env_steps"] = args.env_steps
    if args.envs:
        changes["env_names"] = tuple(args.envs)
    if args.hostloop_timesteps:
        changes["hostloop_run"] = replace(plan.hostloop_run, total_timesteps=int(args.hostloop_timesteps))
    if args.hostloop_checkpoint_every:
        changes["hostloop_checkpoint_every"] = args.hostloop_checkpoint_every
    if args.set:
        from benchmarks.common import parse_overrides

        changes["ppo_overrides"] = tuple(parse_overrides(args.set).items())
    return replace(plan, **changes)


# -- the run's shared state --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A program to compile: ``build() -> (fn, example args)``; args may be ShapeDtypeStructs."""

    key: tuple
    build: Callable[[], tuple[Callable, tuple]]


@dataclass
class Context:
    plan: Plan
    repeats: int
    seed: int
    seed_init: str  # 'vmap' or 'map'
    compile_workers: int
    watchdog: Any
    sections: dict[str, Any] = field(default_factory=dict)  # finished sections, for reuse and partial saves
    errors: list[dict[str, str]] = field(default_factory=list)
    programs: dict[tuple, Any] = field(default_factory=dict)  # key -> (program, compile s) or the exception
    used: set[tuple] = field(default_factory=set)

    def log(self, message: str) -> None:
        print(message, flush=True)

    def precompile(self, jobs: list[Job]) -> None:
        """Compile what the chosen sections will run, side by side, before anything is timed."""
        from benchmarks.common import compile_many

        todo = list({job.key: job for job in jobs if job.key not in self.programs}.values())
        if not todo:
            return
        self.log(f"== compiling {len(todo)} programs ({self.compile_workers} at a time)")
        start = time.perf_counter()
        built: list[Any] = []
        for job in todo:
            try:
                built.append(job.build())
            except Exception as error:  # noqa: BLE001 - raised again when the program is used
                built.append(error)
        ready = [i for i, entry in enumerate(built) if not isinstance(entry, BaseException)]
        with self.watchdog.stage(f"compiling {len(ready)} programs", scale=len(ready)):
            compiled = compile_many([built[i] for i in ready], self.compile_workers)
        for i, result in zip(ready, compiled):
            built[i] = result
        self.programs.update(zip((job.key for job in todo), built))
        self.log(f"   done in {time.perf_counter() - start:.1f}s")

    def program(self, job: Job, fn: Callable, args: tuple) -> tuple[tuple[Any, float], bool]:
        """``((program, compile s), reused)`` for ``job``, compiling ``fn`` for ``args`` if not yet done."""
        from benchmarks.common import compile_apart

        if job.key not in self.programs:
            with self.watchdog.stage(f"compiling a {job.key[0]} program"):
                self.programs[job.key] = compile_apart(fn, *args)
        entry = self.programs[job.key]
        if isinstance(entry, BaseException):
            raise entry
        reused = job.key in self.used
        self.used.add(job.key)
        return entry, reused

    def guarded(self, section: str, name: str, measure: Callable[[], dict]) -> dict:
        """Run one measurement; a failure is recorded (and printed) instead of ending the run."""
        try:
            return measure()
        except Exception as error:  # noqa: BLE001 - one broken measurement must not lose the others
            message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
            traceback.print_exc()
            self.log(f"  {section} {name}: FAILED ({message})")
            self.errors.append({"section": section, "name": name, "error": message})
            return {"name": name, "error": message}


# -- PPO training ---------------------------------------------------------------------------------------


def cartpole_config(run: PPORun, plan: Plan):
    from jaxrl.config import PPOConfig

    return PPOConfig(
        num_envs=run.num_envs, total_timesteps=run.total_timesteps, num_minibatches=run.num_minibatches
    ).replace(**dict(plan.ppo_overrides))


def seeds_config(plan: Plan):
    """The default CartPole-v1 config that the seeds section vmaps."""
    from jaxrl.config import PPOConfig

    return PPOConfig(total_timesteps=plan.seed_timesteps).replace(**dict(plan.ppo_overrides))


def seeds_train_fn(algo, seed_init: str) -> Callable:
    """``keys [N] -> (state, metrics)`` with a leading seed axis."""
    import jax

    if seed_init == "vmap":
        return jax.vmap(algo.train)
    num_updates = algo.config.num_updates

    def train(keys):
        states = jax.lax.map(algo.init, keys)  # one seed at a time: no batched QR (see SEED_INIT_NOTE)
        return jax.vmap(lambda state: algo.train_from(state, num_updates))(states)

    return train


def final_return(returns: Any, counts: Any, window_fraction: float = 0.02) -> float:
    """Training return over the last 2% of updates (at least one), weighted by episodes finished.

    ``returns`` and ``counts`` are ``[U]`` or ``[N, U]`` (seeds); NaN when no episode finished.
    """
    import numpy as np

    returns = np.asarray(returns, np.float64)
    counts = np.asarray(counts, np.float64)
    window = max(1, math.ceil(returns.shape[-1] * window_fraction))
    returns, counts = returns[..., -window:], counts[..., -window:]
    finished = (counts > 0) & np.isfinite(returns)
    if not finished.any():
        return math.nan
    return float((returns[finished] * counts[finished]).sum() / counts[finished].sum())


def training_job(ctx: Context, config, num_seeds: int | None = None) -> Job:
    """Pure `train` of ``config`` (or ``num_seeds`` vmapped seeds of it) for one PRNG key."""

    def build():
        import jax

        from jaxrl import ppo

        algo = ppo.make(config)
        key = jax.random.PRNGKey(ctx.seed)
        if num_seeds is None:
            return algo.train, (key,)
        return seeds_train_fn(algo, ctx.seed_init), (jax.random.split(key, num_seeds),)

    return Job(("train", config, num_seeds, ctx.seed_init if num_seeds else None), build)


def measure_training(ctx: Context, section: str, name: str, config, num_seeds: int | None = None) -> dict:
    """Pure `train` (or N vmapped seeds) in one dispatch: compile apart, warm up, time."""
    import jax

    from benchmarks.common import measure, memory_fields

    job = training_job(ctx, config, num_seeds)
    fn, args = job.build()
    compiled, reused = ctx.program(job, fn, args)
    with ctx.watchdog.stage(f"{section}: {name}"):
        timing, (_, metrics), program = measure(
            fn, *args, repeats=ctx.repeats, compiled=compiled, reused=reused
        )
    returns, counts = jax.device_get((metrics["episode_return"], metrics["episodes"]))
    env_steps = config.num_updates * config.batch_size * (num_seeds or 1)
    record = {
        "name": name,
        "env": config.env,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "update_epochs": config.update_epochs,
        "num_minibatches": config.num_minibatches,
        "total_timesteps": config.total_timesteps,
        "num_updates": config.num_updates,
        "num_seeds": num_seeds or 1,
        "env_steps": env_steps,
        "sps": env_steps / timing.median_seconds,
        **timing.as_dict(),
        **memory_fields(program),
        "final_return": final_return(returns, counts),
    }
    log_record(ctx, section, record)
    return record


def log_record(ctx: Context, section: str, record: dict) -> None:
    from benchmarks.common import format_number

    compile_note = " reused" if record.get("compile_reused") else ""
    extra = (
        f", return {record['final_return']:.1f}"
        if record.get("final_return") is not None and math.isfinite(record["final_return"])
        else ""
    )
    ctx.log(
        f"  {section} {record['name']}: {format_number(record['sps'])} steps/s "
        f"(median {record['median_seconds']:.3f}s of {len(record['run_seconds'])}, "
        f"compile {record['compile_seconds']:.1f}s{compile_note}{extra})"
    )


def section_ppo(ctx: Context) -> dict:
    runs = [
        ctx.guarded(
            "ppo",
            f"CartPole-v1 {run.num_envs} envs",
            lambda run=run: measure_training(
                ctx, "ppo", f"CartPole-v1 {run.num_envs} envs", cartpole_config(run, ctx.plan)
            ),
        )
        for run in ctx.plan.ppo_runs
    ]
    return {
        "description": "end-to-end PPO on CartPole-v1, pure train in one dispatch; 128 steps, 4 epochs, "
        "4 minibatches (8 from 16384 envs)",
        "runs": runs,
    }


def section_seeds(ctx: Context) -> dict:
    config = seeds_config(ctx.plan)
    runs = [
        ctx.guarded(
            "seeds",
            f"{n} seeds",
            lambda n=n: measure_training(ctx, "seeds", f"{n} seeds", config, num_seeds=n),
        )
        for n in ctx.plan.seed_counts
    ]
    return {
        "description": f"N seeds of the default CartPole-v1 config ({config.num_envs} envs, "
        f"{config.total_timesteps} steps each) in one program; sps counts all seeds",
        "seed_init": ctx.seed_init,
        "seed_init_note": SEED_INIT_NOTE,
        "runs": runs,
    }


def pendulum_config(ctx: Context):
    from jaxrl.config import preset

    config = preset("Pendulum-v1")
    if ctx.plan.pendulum_timesteps:
        config = config.replace(total_timesteps=ctx.plan.pendulum_timesteps)
    return config


def section_pendulum(ctx: Context) -> dict:
    config = pendulum_config(ctx)
    name = f"Pendulum-v1 preset {config.num_envs} envs"
    return {"runs": [ctx.guarded("pendulum", name, lambda: measure_training(ctx, "pendulum", name, config))]}


# -- environment stepping ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SteppingFunctions:
    """One env, unbatched: ``reset(key) -> (obs, state)``, ``step(key, state, action) -> (obs, state,
    reward, done)``; ``sample_actions(key, states [B]) -> actions [B]`` (legal ones for games)."""

    reset: Callable
    step: Callable
    sample_actions: Callable


def our_env(name: str, num_envs: int) -> SteppingFunctions:
    import jax
    import jax.numpy as jnp

    import envs
    from envs import wrappers

    env, params = envs.make(name)
    env = wrappers.AutoReset(env)
    space = env.action_space(params)
    masked = (
        jax.eval_shape(lambda key: env.action_mask(env.reset(key, params)[1], params), jax.random.PRNGKey(0))
        is not None
    )

    def step(key, state, action):
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return obs, state, reward, terminated | truncated

    def sample_actions(key, states):
        if masked:
            mask = jax.vmap(env.action_mask, in_axes=(0, None))(states, params)
            return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)
        return jax.vmap(space.sample)(jax.random.split(key, num_envs))

    return SteppingFunctions(lambda key: env.reset(key, params), step, sample_actions)


def gymnax_env(name: str, num_envs: int) -> SteppingFunctions:
    import gymnax
    import jax

    env, params = gymnax.make(name)
    num_actions = env.action_space(params).n

    def step(key, state, action):
        # gymnax's step auto-resets itself, as our AutoReset does.
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return obs, state, reward, terminated | truncated

    def sample_actions(key, states):
        return jax.random.randint(key, (num_envs,), 0, num_actions)

    return SteppingFunctions(lambda key: env.reset(key, params), step, sample_actions)


def stepping_program(
    functions: SteppingFunctions, num_envs: int, num_steps: int
) -> tuple[Callable, Callable]:
    """``init(key) -> states [B]`` and ``run(states, key) -> (states, checksum, episodes)``: one scan.

    Rewards and observations feed a checksum so XLA cannot drop their computation.
    """
    import jax
    import jax.numpy as jnp

    def init(key):
        return jax.vmap(functions.reset)(jax.random.split(key, num_envs))[1]

    def run(states, key):
        def body(carry, _):
            states, key, checksum, episodes = carry
            key, key_action, key_step = jax.random.split(key, 3)
            actions = functions.sample_actions(key_action, states)
            obs, states, reward, done = jax.vmap(functions.step)(
                jax.random.split(key_step, num_envs), states, actions
            )
            checksum = checksum + reward.sum() + obs.astype(jnp.float32).sum()
            return (states, key, checksum, episodes + done.sum(dtype=jnp.int32)), None

        carry = (states, key, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        (states, _, checksum, episodes), _ = jax.lax.scan(body, carry, None, num_steps)
        return states, checksum, episodes

    return init, run


def stepping_functions(name: str, num_envs: int, implementation: str = "jaxrl") -> SteppingFunctions:
    return (our_env if implementation == "jaxrl" else gymnax_env)(name, num_envs)


def stepping_job(ctx: Context, name: str, implementation: str = "jaxrl") -> Job:
    """Random-action stepping of ``name`` (``implementation`` 'jaxrl' or 'gymnax') at the plan's batch."""
    num_envs, num_steps = ctx.plan.env_batch, ctx.plan.env_steps

    def build():
        import jax

        init, run = stepping_program(stepping_functions(name, num_envs, implementation), num_envs, num_steps)
        key = jax.random.PRNGKey(ctx.seed)
        return run, (jax.eval_shape(init, key), key)

    return Job(("step", implementation, name, num_envs, num_steps), build)


def measure_stepping(ctx: Context, section: str, name: str, implementation: str = "jaxrl") -> dict:
    import jax

    from benchmarks.common import measure, memory_fields

    num_envs, num_steps = ctx.plan.env_batch, ctx.plan.env_steps
    job = stepping_job(ctx, name, implementation)
    init, run = stepping_program(stepping_functions(name, num_envs, implementation), num_envs, num_steps)
    key = jax.random.PRNGKey(ctx.seed)
    label = name if implementation == "jaxrl" else f"{implementation} {name}"
    with ctx.watchdog.stage(f"{section}: {label}"):
        states = jax.jit(init)(key)
        compiled, reused = ctx.program(job, run, (states, key))
        timing, (_, checksum, episodes), program = measure(
            run, states, key, repeats=ctx.repeats, compiled=compiled, reused=reused
        )
    env_steps = num_envs * num_steps
    record = {
        "name": label,
        "implementation": implementation,
        "num_envs": num_envs,
        "num_steps": num_steps,
        "env_steps": env_steps,
        "sps": env_steps / timing.median_seconds,
        **timing.as_dict(),
        **memory_fields(program),
        "episodes_per_run": int(episodes),
        "checksum_finite": bool(math.isfinite(float(checksum))),
    }
    log_record(ctx, section, record)
    return record


def section_envs(ctx: Context) -> dict:
    import envs

    registered = envs.registered_names()
    names = list(ctx.plan.env_names) if ctx.plan.env_names else registered
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise ValueError(f"unknown env(s) {', '.join(unknown)}; registered: {', '.join(registered)}")
    runs = [
        ctx.guarded("envs", name, lambda name=name: measure_stepping(ctx, "envs", name)) for name in names
    ]
    return {
        "description": "env-only stepping, random (legal) actions, AutoReset wrapper, lax.scan over steps",
        "num_envs": ctx.plan.env_batch,
        "num_steps": ctx.plan.env_steps,
        "not_measured": [n for n in registered if n not in names],
        "runs": runs,
    }


# -- host loop -----------------------------------------------------------------------------------------------


def host_loop_once(algo, state, run_dir: Path, updates_per_epoch: int, checkpoint_every: int) -> dict:
    """One real `Trainer.run` into ``run_dir``; seconds exclude its epoch-function compile."""
    from jaxrl.config import TrainConfig
    from jaxrl.run.build import build_trainer
    from jaxrl.run.loggers import read_jsonl

    messages = io.StringIO()  # display lines and reports: plain text, never a terminal

    def report(message: str) -> None:
        print(message, file=messages)

    run_config = TrainConfig(
        ppo=algo.config, updates_per_epoch=updates_per_epoch, checkpoint_every=checkpoint_every, eval_every=0,
        plot=False,
    )
    trainer = build_trainer(run_config, run_dir=run_dir, algo=algo, state=state, stdout=messages, report=report)
    checkpointer = trainer.components.checkpointer
    start = time.perf_counter()
    code = trainer.run()
    wall = time.perf_counter() - start
    checkpoints = checkpointer.steps()
    trainer.close()
    if code != 0:
        raise RuntimeError(f"the host loop exited with code {code}: {messages.getvalue().strip()[-300:]}")
    records = read_jsonl(run_dir / "metrics.jsonl")
    epoch_calls = {r["epoch"]: r["epoch_seconds"] for r in records}  # the compiled call plus its metrics pull
    return {
        "seconds": wall - trainer.compile_seconds,
        "epoch_call_seconds": sum(epoch_calls.values()),
        "checkpoint_blocking_seconds": sum(r.get("checkpoint_seconds") or 0.0 for r in records),
        "compile_seconds": trainer.compile_seconds,
        "epochs": trainer.epoch,
        "updates": trainer.update,
        "jsonl_records": len(records),
        "checkpoints": checkpoints,
        "final_return": records[-1].get("episode_return") if records else None,
    }


def measure_host_loop(ctx: Context, config) -> dict:
    import jax

    from benchmarks.common import peak_memory_bytes
    from jaxrl import ppo

    plan = ctx.plan
    algo = ppo.make(config)
    init = jax.jit(algo.init)
    key = jax.random.PRNGKey(ctx.seed)
    repeats = plan.hostloop_repeats or ctx.repeats
    results = []
    for index in range(repeats + int(plan.hostloop_warmup)):
        state = jax.block_until_ready(init(key))  # fresh each run: the loop donates it
        with (
            tempfile.TemporaryDirectory(prefix="jaxrl-bench-hostloop-") as run_dir,
            ctx.watchdog.stage(f"hostloop: Trainer.run {index + 1}"),
        ):
            results.append(
                host_loop_once(
                    algo,
                    state,
                    Path(run_dir),
                    plan.hostloop_updates_per_epoch,
                    plan.hostloop_checkpoint_every,
                )
            )
    warmup = results.pop(0) if plan.hostloop_warmup else None
    runs = [r["seconds"] for r in results]
    median = statistics.median(runs)
    env_steps = config.num_updates * config.batch_size
    last = results[-1]
    record = {
        "name": f"host loop, CartPole-v1 {config.num_envs} envs",
        "num_envs": config.num_envs,
        "total_timesteps": config.total_timesteps,
        "env_steps": env_steps,
        "sps": env_steps / median,
        "compile_seconds": statistics.median(r["compile_seconds"] for r in results),
        "compile_reused": False,
        "warmup_seconds": warmup["seconds"] if warmup else None,
        "median_seconds": median,
        "run_seconds": runs,
        "peak_bytes_in_use": peak_memory_bytes(),
        "program_bytes": None,
        "final_return": last["final_return"],
        "epochs": last["epochs"],
        "updates_per_epoch": last["updates"] // max(last["epochs"], 1),
        "checkpoint_every_epochs": plan.hostloop_checkpoint_every,
        "checkpoints_saved": last["checkpoints"],
        "jsonl_records": last["jsonl_records"],
        # Where the time went (medians over the timed runs): inside the epoch calls, blocked by periodic
        # checkpoint saves, and everything else outside the epoch calls (logging, display, the final save).
        "epoch_call_seconds": statistics.median(r["epoch_call_seconds"] for r in results),
        "checkpoint_blocking_seconds": statistics.median(r["checkpoint_blocking_seconds"] for r in results),
        "outside_epoch_calls_seconds": statistics.median(
            r["seconds"] - r["epoch_call_seconds"] for r in results
        ),
    }
    log_record(ctx, "hostloop", record)
    return record


def section_hostloop(ctx: Context) -> dict:
    run = ctx.plan.hostloop_run
    config = cartpole_config(run, ctx.plan)
    pure = ctx.guarded(
        "hostloop",
        "pure train",
        lambda: measure_training(ctx, "hostloop", f"pure train, CartPole-v1 {run.num_envs} envs", config),
    )
    host = ctx.guarded("hostloop", "host loop", lambda: measure_host_loop(ctx, config))
    overhead = None
    if "error" not in pure and "error" not in host:
        overhead = 100.0 * (host["median_seconds"] - pure["median_seconds"]) / pure["median_seconds"]
        ctx.log(
            f"  hostloop overhead: {overhead:+.1f}% (host loop {host['median_seconds']:.3f}s "
            f"vs pure train {pure['median_seconds']:.3f}s; in epoch calls {host['epoch_call_seconds']:.3f}s, "
            f"checkpoint saves blocked {host['checkpoint_blocking_seconds']:.3f}s, "
            f"outside epoch calls {host['outside_epoch_calls_seconds']:.3f}s)"
        )
    return {
        "description": "the same training through jaxrl.loop.Trainer (JSONL logging every epoch, orbax "
        "checkpoints every few epochs and at the end, plain display into a StringIO) vs pure "
        "train in one dispatch; host-loop seconds exclude its epoch-function compile and the "
        "initial state",
        "pure": pure,
        "host_loop": host,
        "overhead_percent": overhead,
    }


# -- peers -------------------------------------------------------------------------------------------------------


def find_run(ctx: Context, section: str, **fields: Any) -> dict | None:
    """A successful record of an earlier section in this run whose fields match (to reuse, not re-time)."""
    for record in (ctx.sections.get(section) or {}).get("runs", []):
        if "error" not in record and all(record.get(k) == v for k, v in fields.items()):
            return record
    return None


def peer_gymnax(ctx: Context) -> dict:
    try:
        import gymnax  # noqa: F401
    except ImportError as error:
        return {"skipped": f"gymnax is not importable ({error}); pip install gymnax"}
    batch, steps = ctx.plan.env_batch, ctx.plan.env_steps
    ours = find_run(ctx, "envs", name="CartPole-v1", num_envs=batch, num_steps=steps) or ctx.guarded(
        "peers", "CartPole-v1", lambda: measure_stepping(ctx, "peers", "CartPole-v1")
    )
    theirs = ctx.guarded(
        "peers", "gymnax CartPole-v1", lambda: measure_stepping(ctx, "peers", "CartPole-v1", "gymnax")
    )
    ratio = ours["sps"] / theirs["sps"] if "sps" in ours and "sps" in theirs else None
    return {
        "description": "env-only stepping at the same batch, random actions",
        "ours": ours,
        "gymnax": theirs,
        "sps_ratio_ours_to_gymnax": ratio,
    }


class FiveTupleStep:
    """A gymnax env whose ``step`` returns gymnax 0.0.x's ``(obs, state, reward, done, info)``.

    gymnax 1.0 returns ``terminated`` and ``truncated`` apart; rejax 0.1.3 still
    unpacks five values. ``done`` is their union, as gymnax 0.0.x had it.
    """

    def __init__(self, env: Any):
        self._env = env

    def __getattr__(self, name: str) -> Any:
        if name == "_env":  # not set yet (copy.deepcopy builds the object without __init__)
            raise AttributeError(name)
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        result = self._env.step(key, state, action, params)
        if len(result) == 6:
            obs, state, reward, terminated, truncated, info = result
            return obs, state, reward, terminated | truncated, info
        return result


def rejax_job(ctx: Context, config) -> Job:
    """rejax PPO with ``config``'s hyperparameters; one evaluation, at the end."""

    def build():
        import gymnax
        import jax
        import rejax

        env, env_params = gymnax.make(config.env)
        total = config.num_updates * config.batch_size
        algo = rejax.PPO.create(
            env=FiveTupleStep(env),
            env_params=env_params,
            num_envs=config.num_envs,
            num_steps=config.num_steps,
            num_epochs=config.update_epochs,
            num_minibatches=config.num_minibatches,
            learning_rate=config.lr,
            max_grad_norm=config.max_grad_norm,
            gamma=config.gamma,
            gae_lambda=config.gae_lambda,
            clip_eps=config.clip_eps,
            ent_coef=config.ent_coef,
            vf_coef=config.vf_coef,
            total_timesteps=total,
            eval_freq=total,
            skip_initial_evaluation=True,
            agent_kwargs={"activation": config.activation, "hidden_layer_sizes": tuple(config.hidden_sizes)},
        )
        return algo.train, (jax.random.PRNGKey(ctx.seed),)

    return Job(("rejax", config), build)


def measure_rejax(ctx: Context, config) -> dict:
    import jax

    from benchmarks.common import measure, memory_fields

    total = config.num_updates * config.batch_size
    name = f"rejax CartPole-v1 {config.num_envs} envs"
    job = rejax_job(ctx, config)
    fn, args = job.build()
    compiled, reused = ctx.program(job, fn, args)
    with ctx.watchdog.stage(f"peers: {name}"):
        timing, (_, evaluation), program = measure(
            fn, *args, repeats=ctx.repeats, compiled=compiled, reused=reused
        )
    _, returns = jax.device_get(evaluation)
    iterations = math.ceil(total / config.batch_size)  # rejax rounds up; we round down
    env_steps = iterations * config.batch_size
    record = {
        "name": name,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "num_minibatches": config.num_minibatches,
        "env_steps": env_steps,
        "sps": env_steps / timing.median_seconds,
        **timing.as_dict(),
        **memory_fields(program),
        "final_return": float(returns[-1].mean()),
    }
    log_record(ctx, "peers", record)
    return record


def peer_rejax(ctx: Context) -> dict:
    try:
        import rejax  # noqa: F401
    except ImportError as error:
        return {"skipped": f"rejax is not importable ({error}); pip install rejax"}
    comparisons = []
    for run in ctx.plan.rejax_runs:
        config = cartpole_config(run, ctx.plan)
        name = f"CartPole-v1 {run.num_envs} envs"
        ours = find_run(
            ctx,
            "ppo",
            num_envs=run.num_envs,
            total_timesteps=run.total_timesteps,
            num_minibatches=run.num_minibatches,
        ) or ctx.guarded(
            "peers", name, lambda config=config, name=name: measure_training(ctx, "peers", name, config)
        )
        theirs = ctx.guarded("peers", f"rejax {name}", lambda config=config: measure_rejax(ctx, config))
        ratio = ours["sps"] / theirs["sps"] if "sps" in ours and "sps" in theirs else None
        comparisons.append({"ours": ours, "rejax": theirs, "sps_ratio_ours_to_rejax": ratio})
    return {
        "description": "rejax PPO with our CartPole hyperparameters; differences it cannot express: no learning-"
        "rate annealing, element-wise gradient clipping (optax.clip) instead of global-norm, time-limit "
        "truncation treated as termination; its final return is its own 128-episode evaluation "
        "at the end, included in its time",
        "runs": comparisons,
    }


def section_peers(ctx: Context) -> dict:
    return {"gymnax": peer_gymnax(ctx), "rejax": peer_rejax(ctx)}


def importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def planned_jobs(ctx: Context, sections: list[str]) -> list[Job]:
    """Every program the chosen sections will compile (the host loop's own is compiled by Trainer)."""
    plan = ctx.plan
    jobs: list[Job] = []
    if "ppo" in sections:
        jobs += [training_job(ctx, cartpole_config(run, ctx.plan)) for run in plan.ppo_runs]
    if "seeds" in sections:
        jobs += [
            training_job(ctx, seeds_config(plan), n) for n in plan.seed_counts
        ]
    if "envs" in sections:
        import envs

        names = plan.env_names or envs.registered_names()
        jobs += [stepping_job(ctx, name) for name in names if name in envs.registered_names()]
    if "hostloop" in sections:
        jobs.append(training_job(ctx, cartpole_config(plan.hostloop_run, plan)))
    if "peers" in sections:
        if importable("gymnax"):
            jobs += [stepping_job(ctx, "CartPole-v1"), stepping_job(ctx, "CartPole-v1", "gymnax")]
        if importable("rejax") and importable("gymnax"):
            for run in plan.rejax_runs:
                jobs += [training_job(ctx, cartpole_config(run, ctx.plan)), rejax_job(ctx, cartpole_config(run, ctx.plan))]
    if "pendulum" in sections:
        jobs.append(training_job(ctx, pendulum_config(ctx)))
    return jobs


SECTION_FUNCTIONS: dict[str, Callable[[Context], dict]] = {
    "ppo": section_ppo,
    "seeds": section_seeds,
    "envs": section_envs,
    "hostloop": section_hostloop,
    "peers": section_peers,
    "pendulum": section_pendulum,
}


# -- output ----------------------------------------------------------------------------------------------------------


def all_records(sections: dict[str, Any]) -> list[tuple[str, dict]]:
    """``(section, record)`` for every measurement, in table order."""
    out: list[tuple[str, dict]] = []
    for section in SECTIONS:
        data = sections.get(section)
        if not data:
            continue
        if section == "hostloop":
            out += [(section, data[k]) for k in ("pure", "host_loop") if data.get(k)]
        elif section == "peers":
            gymnax = data.get("gymnax", {})
            out += [(section, gymnax[k]) for k in ("ours", "gymnax") if k in gymnax]
            for comparison in data.get("rejax", {}).get("runs", []):
                out += [(section, comparison[k]) for k in ("ours", "rejax")]
        else:
            out += [(section, r) for r in data.get("runs", [])]
    return out


def table(sections: dict[str, Any]) -> str:
    from benchmarks.common import format_bytes, format_number, format_table

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for section, record in all_records(sections):
        if "error" in record:
            rows.append([section, record["name"], "FAILED", "", "", "", "", record["error"][:40]])
            continue
        final = record.get("final_return")
        label = record["name"]
        if (
            section == "peers"
            and record.get("implementation", "jaxrl") == "jaxrl"
            and not label.startswith("rejax")
        ):
            label = f"jaxrl {label}"
        rows.append(
            [
                section,
                label,
                format_number(record["sps"]),
                seconds(record.get("compile_seconds")),
                seconds(record.get("median_seconds")),
                format_bytes(record.get("peak_bytes_in_use")),
                format_bytes(record.get("program_bytes")),
                "-" if final is None or not math.isfinite(final) else f"{final:.1f}",
            ]
        )
    headers = ["section", "config", "steps/s", "compile s", "wall s", "peak MiB", "XLA MiB", "final return"]
    return format_table(headers, rows)


def write_plots(sections: dict[str, Any], out: Path, subtitle: str) -> list[Path]:
    from benchmarks.common import loglog_plot

    paths = []
    ppo_runs = [r for r in (sections.get("ppo") or {}).get("runs", []) if "sps" in r]
    if ppo_runs:
        series = {"jaxrl PPO": ([r["num_envs"] for r in ppo_runs], [r["sps"] for r in ppo_runs])}
        rejax_runs = [
            c["rejax"]
            for c in ((sections.get("peers") or {}).get("rejax") or {}).get("runs", [])
            if "sps" in c["rejax"]
        ]
        if rejax_runs:
            series["rejax PPO"] = ([r["num_envs"] for r in rejax_runs], [r["sps"] for r in rejax_runs])
        paths.append(
            loglog_plot(
                out / "sps_vs_num_envs.png",
                series,
                "num_envs",
                "env steps / s",
                f"PPO CartPole-v1, env steps/s vs num_envs\n{subtitle}",
            )
        )
    seed_runs = [r for r in (sections.get("seeds") or {}).get("runs", []) if "sps" in r]
    if seed_runs:
        series = {
            "jaxrl PPO, vmapped seeds": ([r["num_seeds"] for r in seed_runs], [r["sps"] for r in seed_runs])
        }
        paths.append(
            loglog_plot(
                out / "sps_vs_seeds.png",
                series,
                "seeds (vmapped)",
                "env steps / s (all seeds)",
                f"PPO CartPole-v1 default config, steps/s vs seeds\n{subtitle}",
            )
        )
    return paths


# -- command line -------------------------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    try:
        values = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def section_list(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(SECTIONS)}"
        )
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.common import add_set_argument

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description="PPO and environment throughput, host-loop overhead and peers; JSON, PNG plots and a table.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tiny subset that runs on CPU in well under a minute (CI)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT}/)"
    )
    parser.add_argument(
        "--only",
        type=section_list,
        default=list(SECTIONS),
        help=f"comma-separated sections to run: {','.join(SECTIONS)} (default all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs after the warm-up (median reported)"
    )
    parser.add_argument("--num-envs", type=int_list, help="ppo section: CartPole num_envs list (e.g. 4,2048)")
    parser.add_argument("--seeds", type=int_list, help="seeds section: seed counts (e.g. 1,16)")
    parser.add_argument(
        "--envs", type=lambda s: [x for x in s.split(",") if x], help="envs section: env names"
    )
    parser.add_argument("--env-batch", type=int, help="envs/peers: envs stepped in parallel")
    parser.add_argument("--hostloop-timesteps", type=float, help="hostloop: total env steps of the compared runs")
    parser.add_argument("--hostloop-checkpoint-every", type=int, help="hostloop: epochs between checkpoints")
    parser.add_argument("--env-steps", type=int, help="envs/peers: steps per env in one timed call")
    parser.add_argument(
        "--seed-init",
        choices=("auto", "vmap", "map"),
        default="auto",
        help="seeds: 'vmap' is jax.vmap(algo.train); 'map' inits seeds with lax.map first "
        "(auto: map on CPU, where vmap deadlocks under jax 0.10.2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    add_set_argument(parser, "change a PPO field in every CartPole run, e.g. --set shuffle=global (repeatable)")
    parser.add_argument(
        "--compile-workers",
        type=int,
        default=None,
        help="programs compiled side by side before timing starts (default: CPU count, at most 8; "
        "1 compiles each program alone, for uncontended compile times)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds one measurement may take before the run is declared hung and ends with "
        "exit code 3 (default 300 with --quick, else none)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.compile_workers is None:
        args.compile_workers = min(8, os.cpu_count() or 1)
    if args.compile_workers < 1:
        parser.error("--compile-workers must be at least 1")
    if args.timeout is None:
        args.timeout = 300.0 if args.quick else 0.0
    return args


def run_sections(ctx: Context, sections: list[str], save: Callable[[], Path]) -> None:
    """Every chosen section in order; results are saved after each, a failed one is recorded."""
    if ctx.compile_workers > 1:
        ctx.precompile(planned_jobs(ctx, sections))
    for section in sections:
        ctx.log(f"== {section}")
        try:
            ctx.sections[section] = SECTION_FUNCTIONS[section](ctx)
        except Exception as error:  # noqa: BLE001 - keep the other sections
            traceback.print_exc()
            message = f"{type(error).__name__}: {error}".splitlines()[0][:500]
            ctx.errors.append({"section": section, "name": section, "error": message})
            ctx.sections[section] = {"error": message}
        save()


def print_summary(ctx: Context, environment: str, paths: list[Path], seconds: float) -> None:
    print()
    print(table(ctx.sections))
    for peer, data in (ctx.sections.get("peers") or {}).items():
        if isinstance(data, dict) and "skipped" in data:
            print(f"peers: {peer} skipped: {data['skipped']}")
    print(f"\n{environment}; {seconds:.1f}s in all")
    print("results: " + ", ".join(str(p) for p in paths))
    if ctx.errors:
        failed = "; ".join(f"{e['section']} {e['name']}" for e in ctx.errors)
        print(f"{len(ctx.errors)} measurement(s) failed: {failed}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks.common import Watchdog, describe_environment, environment_info, write_json

    started = time.perf_counter()
    info = environment_info()
    plan = make_plan(args, info["platform"])
    seed_init = (
        args.seed_init if args.seed_init != "auto" else ("map" if info["platform"] == "cpu" else "vmap")
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "quick": args.quick,
        "repeats": args.repeats,
        "sections": args.only,
        "seed": args.seed,
        "seed_init": seed_init,
        "timeout_seconds": args.timeout,
        "compile_workers": args.compile_workers,
        "plan": plan,
    }
    results: dict[str, Any] = {
        "benchmark": "throughput",
        "environment": info,
        "settings": settings,
        "notes": NOTES,
    }

    def save(extra: dict | None = None) -> Path:
        results.update(sections=ctx.sections, errors=ctx.errors, total_seconds=time.perf_counter() - started)
        return write_json(out / RESULTS_FILE, {**results, **(extra or {})})

    watchdog = Watchdog(args.timeout, on_hang=lambda stage: save({"hang": stage}))
    ctx = Context(
        plan=plan,
        repeats=args.repeats,
        seed=args.seed,
        seed_init=seed_init,
        compile_workers=args.compile_workers,
        watchdog=watchdog,
    )
    environment = describe_environment(info)
    print(f"benchmarks.throughput{' --quick' if args.quick else ''}: {environment}", flush=True)
    if info["platform"] == "cpu" and not args.quick:
        print(
            "note: the full suite is sized for a GPU; on CPU it takes hours (use --quick or --only)",
            flush=True,
        )
    run_sections(ctx, args.only, save)
    subtitle = f"{info['device_kind']}, jax {info['jax_version']}, {info['date'][:10]}"
    try:
        plots = write_plots(ctx.sections, out, subtitle)
    except ImportError as error:
        plots = []
        print(f"warning: no plots ({error}); pip install matplotlib", file=sys.stderr)
    results["plots"] = [p.name for p in plots]
    print_summary(ctx, environment, [save(), *plots], time.perf_counter() - started)
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    sys.exit(main())
