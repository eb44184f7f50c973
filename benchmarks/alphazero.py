"""``python -m benchmarks.alphazero {speed,connect_four,triangles}``: AlphaZero's speed and strength on one device.

- ``speed``: self-play + training frames/s of our AlphaZero at the size of pgx's
  AlphaZero example (1024 games, 32 Gumbel simulations, ResNet 128 x 6,
  training batch 4096, 64 gradient steps per 256 moves), in each of
  `SPEED_VARIANTS` (ReZero or layer norm, bfloat16 or float32, the search's
  loops as CUDA graphs or driven by the host; ``--variants`` picks), and -- with ``--pgx-example DIR`` (the example's ``train.py`` and
  ``network.py``; pgx, dm-haiku and mctx importable) -- pgx's own example in
  the same process, timed the way its training loop runs (self-play, targets,
  the host-side shuffle, the gradient steps). Compile apart, warm-up first,
  median of ``--repeats``; peak device memory.
- ``connect_four``: AlphaZero (the ConnectFour-v0 preset) and self-play PPO
  (its preset) each trained for ``--seconds`` of wall time (compiles
  included), then the greedy search player against depth-4 and depth-6
  minimax, and against the PPO agent, from each seat; learning curves from
  parameter snapshots taken during training (evaluated afterwards, outside
  the training time).
- ``triangles``: the same for the triangle puzzle: mean game score over
  ``--games`` games of AlphaZero's greedy search player, of PPO's greedy
  policy and of the random and one-step greedy baselines.

PPO's learning rate anneals over the run, so a probe epoch first measures its
speed and the run is sized to the seconds left (the probe is not counted in
PPO's wall time). AlphaZero's schedule is constant: it trains until the time
is up. Runs from the source tree (``PYTHONPATH=. python3 -m ...``); writes
``<mode>.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from pathlib import Path
from typing import Any

PGX_SIZE = {
    "num_envs": 1024, "num_steps": 32, "num_simulations": 32, "max_num_considered_actions": 7, "channels": 128,
    "num_blocks": 6, "batch_size": 4096, "train_steps": 8, "buffer_capacity": 1 << 20, "min_buffer_size": 0,
}


def _now() -> float:
    return time.perf_counter()


def _peak_gb() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats["peak_bytes_in_use"] / 1e9 if "peak_bytes_in_use" in stats else None


def _device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{len(jax.devices())} x {d.platform}:{d.device_kind}, jax {jax.__version__}"


# -- speed ---------------------------------------------------------------------------------


def ours_speed(overrides: dict[str, Any], epoch_updates: int, repeats: int, graph_loops: bool = True) -> dict[str, Any]:
    import jax
    import numpy as np

    from jaxrl import alphazero

    config = alphazero.preset("ConnectFour-v0", **overrides)
    config = config.replace(total_timesteps=10**6 * config.steps_per_update)
    algo = alphazero.make(config)
    state = jax.jit(algo.init)(jax.random.PRNGKey(0))
    epoch = jax.jit(lambda s: algo.train_from(s, epoch_updates), donate_argnums=0)
    start = _now()
    compiled = epoch.lower(state).compile(algo.backend.compiler_options() if graph_loops else None)
    compile_s = _now() - start
    state, metrics = compiled(state)  # warm-up; the buffer starts filling
    jax.block_until_ready(metrics)
    times = []
    for _ in range(repeats):
        start = _now()
        state, metrics = compiled(state)
        jax.block_until_ready(metrics)
        times.append(_now() - start)
    frames = config.num_envs * config.num_steps * epoch_updates
    seconds = float(np.median(times))
    return {
        "config": {**{k: getattr(config, k) for k in ("num_envs", "num_steps", "num_simulations", "channels",
                                                      "num_blocks", "batch_size", "train_steps", "norm")},
                   "dtype": algo.dtype, "graph_loops": graph_loops and algo.backend.graph_loops},
        "compile_s": compile_s, "seconds": times, "frames_per_s": frames / seconds, "peak_gb": _peak_gb(),
        "policy_loss": float(metrics["policy_loss"][-1]),
    }


def _install_pgx_stubs(example: Path, overrides: dict[str, Any]) -> None:
    """What pgx's example imports but a GPU machine without a network lacks or cannot use."""
    wandb = types.ModuleType("wandb")
    wandb.init = lambda *a, **k: None
    wandb.log = lambda *a, **k: None
    sys.modules.setdefault("wandb", wandb)
    omegaconf = types.ModuleType("omegaconf")
    omegaconf.OmegaConf = types.SimpleNamespace(from_cli=lambda: {"env_id": "connect_four", **overrides})
    sys.modules["omegaconf"] = omegaconf
    try:
        import pydantic  # noqa: F401
    except ImportError:
        pydantic = types.ModuleType("pydantic")

        class BaseModel:
            def __init__(self, **values):
                for name in type(self).__annotations__:
                    setattr(self, name, values.get(name, getattr(type(self), name)))

            def model_dump(self):
                return {name: getattr(self, name) for name in type(self).__annotations__}

        pydantic.BaseModel = BaseModel
        sys.modules["pydantic"] = pydantic
    import pgx

    pgx.make_baseline_model = lambda *a, **k: None  # a download; only its evaluation uses it
    sys.path.insert(0, str(example))


def pgx_speed(example: Path, repeats: int, overrides: dict[str, Any]) -> dict[str, Any]:
    import importlib

    import jax
    import jax.numpy as jnp
    import numpy as np

    _install_pgx_stubs(example, overrides)
    az = importlib.import_module("train")
    config = az.config
    devices = jax.local_devices()
    dummy = jax.vmap(az.env.init)(jax.random.split(jax.random.PRNGKey(0), 2))
    model = az.forward.init(jax.random.PRNGKey(0), dummy.observation)
    opt_state = az.optimizer.init(params=model[0])
    # jax.device_put_replicated is gone from current jax: one stacked copy per device instead.
    model, opt_state = jax.tree.map(lambda x: jnp.stack([x] * len(devices)), (model, opt_state))

    def iteration(model, opt_state, key):
        """The body of the example's training loop, evaluation and checkpoints left out."""
        key, sub = jax.random.split(key)
        start = _now()
        data = az.selfplay(model, jax.random.split(sub, len(devices)))
        samples = az.compute_loss_input(data)
        jax.block_until_ready(samples)
        selfplay_s = _now() - start
        samples = jax.device_get(samples)
        frames = samples.obs.shape[0] * samples.obs.shape[1] * samples.obs.shape[2]
        samples = jax.tree.map(lambda x: x.reshape((-1, *x.shape[3:])), samples)
        key, sub = jax.random.split(key)
        ixs = jax.random.permutation(sub, jnp.arange(samples.obs.shape[0]))
        samples = jax.tree.map(lambda x: x[ixs], samples)
        num_updates = samples.obs.shape[0] // config.training_batch_size
        minibatches = jax.tree.map(
            lambda x: x.reshape((num_updates, len(devices), -1) + x.shape[1:]), samples
        )
        for i in range(num_updates):
            batch = jax.tree.map(lambda x: x[i], minibatches)
            model, opt_state, policy_loss, _ = az.train(model, opt_state, batch)
        jax.block_until_ready(model)
        return model, opt_state, key, frames, selfplay_s, _now() - start, float(policy_loss.mean())

    key = jax.random.PRNGKey(config.seed)
    start = _now()
    model, opt_state, key, *_ = iteration(model, opt_state, key)  # compiles everything
    first_s = _now() - start
    # Arguments of the first call came from the host; device-resident ones compile once more.
    model, opt_state, key, *_ = iteration(model, opt_state, key)
    rows = []
    for _ in range(repeats):
        model, opt_state, key, frames, selfplay_s, total_s, loss = iteration(model, opt_state, key)
        rows.append((frames, selfplay_s, total_s))
    frames = rows[0][0]
    selfplay = float(np.median([r[1] for r in rows]))
    total = float(np.median([r[2] for r in rows]))
    return {
        "config": {k: getattr(config, k) for k in ("env_id", "selfplay_batch_size", "num_simulations",
                                                   "max_num_steps", "num_channels", "num_layers",
                                                   "training_batch_size")},
        "first_iteration_s": first_s, "selfplay_s": [r[1] for r in rows], "iteration_s": [r[2] for r in rows],
        "selfplay_frames_per_s": frames / selfplay, "frames_per_s": frames / total, "peak_gb": _peak_gb(),
        "policy_loss": loss,
    }


# (name, overrides, graph loops): the shipped configuration first, then one change at a time back to
# the network and compilation of the first measurement (layer norms, float32, loops through the host).
SPEED_VARIANTS = (
    ("rezero_bf16", {"norm": "rezero", "dtype": "bfloat16"}, True),
    ("rezero_bf16_host_loops", {"norm": "rezero", "dtype": "bfloat16"}, False),
    ("layer_bf16", {"norm": "layer", "dtype": "bfloat16"}, True),
    ("layer_fp32_host_loops", {"norm": "layer", "dtype": "float32"}, False),
)


def run_speed(args) -> dict[str, Any]:
    out: dict[str, Any] = {"device": _device()}
    size = {**PGX_SIZE, **_overrides(args.set)}
    wanted = args.variants.split(",") if args.variants else [v[0] for v in SPEED_VARIANTS]
    for name, overrides, graph_loops in SPEED_VARIANTS:
        if name not in wanted:
            continue
        out[f"ours_{name}"] = ours_speed({**size, **overrides}, args.epoch_updates, args.repeats, graph_loops)
        print(f"ours {name}: {out[f'ours_{name}']['frames_per_s']:,.0f} frames/s, "
              f"peak {out[f'ours_{name}']['peak_gb']} GB", flush=True)
        _dump(args, "speed", out)
    if args.preset_speed:
        out["preset"] = ours_speed(_overrides(args.preset_set), args.epoch_updates, args.repeats)
        print(f"preset: {out['preset']['frames_per_s']:,.0f} frames/s", flush=True)
        _dump(args, "speed", out)
    if args.pgx_example:
        pgx_set = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.pgx_set)}
        out["pgx"] = pgx_speed(Path(args.pgx_example), args.repeats, pgx_set)
        print(f"pgx example: {out['pgx']['frames_per_s']:,.0f} frames/s per iteration, "
              f"{out['pgx']['selfplay_frames_per_s']:,.0f} self-play only", flush=True)
        for key in [k for k in out if k.startswith("ours_")]:
            out[f"ratio_{key[5:]}"] = out[key]["frames_per_s"] / out["pgx"]["frames_per_s"]
            print(f"{key[5:]} / pgx: {out[f'ratio_{key[5:]}']:.2f}x", flush=True)
    return out


# -- training for a wall-time budget -------------------------------------------------------


def _copy(tree):
    import jax
    import jax.numpy as jnp

    return jax.tree.map(jnp.copy, tree)


def train_for(make, config, seconds: float, epoch_updates: int, snapshots: int, seed: int, size_schedule: bool):
    """Train ``make(config)`` for ``seconds`` of wall time; returns ``(algo, agent, info, snapshots)``.

    ``size_schedule``: a probe epoch first measures the speed, and the run is sized to the time
    left so that a learning-rate schedule over ``total_timesteps`` ends with it (probe not counted).
    """
    import jax

    key = jax.random.PRNGKey(seed)
    probe_s = 0.0
    if size_schedule:
        probe_start = _now()
        probe = make(config.replace(total_timesteps=10**6 * make(config).steps_per_update))
        step = jax.jit(lambda s: probe.train_from(s, epoch_updates), donate_argnums=0)
        state = probe.init(key)
        compiled = step.lower(state).compile(probe.backend.compiler_options())
        compile_s = _now() - probe_start
        state, m = compiled(state)
        jax.block_until_ready(m)
        start = _now()
        state, m = compiled(state)
        jax.block_until_ready(m)
        per_update = (_now() - start) / epoch_updates
        del state, compiled
        probe_s = _now() - probe_start
        updates = int((seconds - 1.1 * compile_s) / per_update) // epoch_updates * epoch_updates
        config = config.replace(total_timesteps=max(updates, epoch_updates) * probe.steps_per_update)
    else:
        config = config.replace(total_timesteps=10**6 * config.num_envs * config.num_steps)
    start = _now()
    algo = make(config)
    step = jax.jit(lambda s: algo.train_from(s, epoch_updates), donate_argnums=0)
    state = jax.jit(algo.init)(key)
    compiled = step.lower(state).compile(algo.backend.compiler_options())
    compile_s = _now() - start
    taken, curve = [], []
    every = seconds / snapshots
    next_at, epochs = every, 0

    def snapshot(metrics):
        elapsed = _now() - start
        taken.append((elapsed, algo.env_steps(state), _copy(algo.agent(state))))
        last = {k: float(v[-1]) for k, v in jax.device_get(metrics).items() if v.ndim == 1}
        curve.append({"seconds": elapsed, "env_steps": algo.env_steps(state), **last})
        print(f"  {algo.name} {elapsed:6.0f}s update {int(state.update)} steps {algo.env_steps(state):,} "
              + " ".join(f"{k} {last[k]:.4g}" for k in ("policy_loss", "value_loss", "entropy", "episode_score",
                                                      "episode_length") if k in last), flush=True)
        return elapsed

    metrics = None
    while _now() - start < seconds and (not size_schedule or epochs * epoch_updates < algo.num_updates):
        state, metrics = compiled(state)
        jax.block_until_ready(metrics)
        epochs += 1
        if _now() - start >= next_at:
            next_at = (math.floor(snapshot(metrics) / every) + 1) * every
    if metrics is not None and (not taken or taken[-1][1] != algo.env_steps(state)):
        snapshot(metrics)
    info = {"seconds": _now() - start, "compile_s": compile_s, "probe_s": probe_s, "updates": int(state.update),
            "env_steps": algo.env_steps(state), "frames_per_s": algo.env_steps(state) / (_now() - start),
            "training_curve": curve, "config": {k: v for k, v in vars(config).items() if k != "env_kwargs"}}
    return algo, algo.agent(state), info, taken


def _elo_gap(win: float, draw: float) -> float | None:
    """Elo difference implied by a score (wins + half the draws): 400 log10(p / (1 - p))."""
    p = win + draw / 2
    if p <= 0 or p >= 1:
        return None
    return 400 * math.log10(p / (1 - p))


def _rates(counts, games: int) -> dict[str, float]:
    import numpy as np

    counts = {k: np.asarray(v) for k, v in counts.items()}
    out = {}
    for seat, colour in enumerate(("black", "white")):
        for outcome, label in (("wins", "win"), ("draws", "draw"), ("losses", "loss")):
            out[f"{colour}_{label}_rate"] = float(counts[outcome][seat]) / games
    return out


def train_both(args, env: str, mode: str, ppo_epoch_updates: int):
    """AlphaZero's and PPO's presets for ``env``, each trained for ``args.seconds``; partial JSON after each."""
    from jaxrl import alphazero, ppo

    out: dict[str, Any] = {"device": _device(), "seconds": args.seconds}
    print(f"AlphaZero {args.seconds:.0f}s on {out['device']}", flush=True)
    az, az_agent, out["alphazero"], az_snaps = train_for(
        alphazero.make, alphazero.preset(env, **_overrides(args.set)), args.seconds, args.epoch_updates,
        args.snapshots, args.seed, size_schedule=False,
    )
    _dump(args, mode, out)
    print(f"PPO {args.seconds:.0f}s", flush=True)
    ppo_algo, ppo_agent, out["ppo"], _ = train_for(
        ppo.make, ppo.preset(env, **_overrides(args.ppo_set, ppo.PPOConfig)), args.seconds, ppo_epoch_updates, 1,
        args.seed, size_schedule=True,
    )
    _dump(args, mode, out)
    return out, (az, az_agent, az_snaps), (ppo_algo, ppo_agent)


def run_connect_four(args) -> dict[str, Any]:
    import jax

    from jaxrl.games import both_seats, fixed_opponents, from_opponent

    out, (az, az_agent, az_snaps), (ppo_algo, ppo_agent) = train_both(args, "ConnectFour-v0", "connect_four", ppo_epoch_updates=16)

    env, params = az.eval_env()
    games = args.games
    key = jax.random.PRNGKey(args.seed + 7)

    def match(policy_a, policy_b, key, games, opening_moves=0):
        counts = jax.jit(lambda k: both_seats(env, params, policy_a, policy_b, k, games, 42, opening_moves))(key)
        return _rates(jax.device_get(counts), games)

    def vs_fixed(algo, agent, depth, games, key):
        opponent = fixed_opponents(env, params, depth)[f"minimax{depth}"]
        return match(algo.agent_policy(agent, greedy=True), from_opponent(opponent), key, games)

    results: dict[str, Any] = {}
    start = _now()
    for depth, n in ((4, games), (6, args.deep_games)):
        key, k1, k2 = jax.random.split(key, 3)
        results[f"alphazero_vs_minimax{depth}"] = vs_fixed(az, az_agent, depth, n, k1)
        results[f"ppo_vs_minimax{depth}"] = vs_fixed(ppo_algo, ppo_agent, depth, n, k2)
        print(f"vs minimax{depth}: alphazero {results[f'alphazero_vs_minimax{depth}']}\n"
              f"                 ppo {results[f'ppo_vs_minimax{depth}']}", flush=True)
        _dump(args, "connect_four", {**out, "results": results})
    from jaxrl import alphazero

    # The search player's strength grows with its simulations at play time; the trained network
    # is the same, so each count in --vs-ppo-sims is one more match against the same PPO agent.
    for sims in args.vs_ppo_sims or [az.config.eval_num_simulations]:
        searcher = az if sims == az.config.eval_num_simulations else alphazero.make(
            az.config.replace(eval_num_simulations=sims))
        key, sub = jax.random.split(key)
        # Both players are deterministic: two random opening moves make the games differ.
        name = "alphazero_vs_ppo" if sims == az.config.eval_num_simulations else f"alphazero{sims}_vs_ppo"
        results[name] = match(searcher.agent_policy(az_agent, greedy=True), ppo_algo.agent_policy(ppo_agent),
                              sub, games, opening_moves=2)
        print(f"alphazero ({sims} simulations) vs ppo (2 random opening moves): {results[name]}", flush=True)
        _dump(args, "connect_four", {**out, "results": results})
    curve = []
    for seconds, steps, agent in az_snaps:
        key, sub = jax.random.split(key)
        rates = vs_fixed(az, agent, 4, args.curve_games, sub)
        win = (rates["black_win_rate"] + rates["white_win_rate"]) / 2
        draw = (rates["black_draw_rate"] + rates["white_draw_rate"]) / 2
        curve.append({"seconds": seconds, "env_steps": steps, **rates, "elo_vs_minimax4": _elo_gap(win, draw)})
        print(f"  curve {seconds:5.0f}s {steps:>11,} steps: vs minimax4 black {rates['black_win_rate']:.3f} "
              f"white {rates['white_win_rate']:.3f}", flush=True)
    results["alphazero_curve_vs_minimax4"] = curve
    results["eval_seconds"] = _now() - start
    out["results"] = results
    return out


def run_triangles(args) -> dict[str, Any]:
    import jax
    import numpy as np

    from jaxrl.run.evaluation import baseline_episodes, make_evaluator

    out, (az, az_agent, az_snaps), (ppo_algo, ppo_agent) = train_both(args, "Triangles-v0", "triangles", ppo_epoch_updates=4)

    def summary(values):
        v = np.asarray(values, np.float64)
        return {"mean": float(v.mean()), "sem": float(v.std() / math.sqrt(len(v))), "n": len(v)}

    results: dict[str, Any] = {}
    start = _now()
    key = jax.random.PRNGKey(args.seed + 11)
    for name, algo, agent in (("alphazero", az, az_agent), ("ppo", ppo_algo, ppo_agent)):
        key, sub = jax.random.split(key)
        played = jax.device_get(make_evaluator(algo, args.games)(agent, sub))
        results[name] = {"score": summary(played["score"]), "length": summary(played["length"])}
        print(f"{name}: score {results[name]['score']}", flush=True)
        _dump(args, "triangles", {**out, "results": results})
    env, params = az.eval_env()
    key, sub = jax.random.split(key)
    for name, played in baseline_episodes(env, params, sub, args.games).items():
        results[name] = {"score": summary(played["score"]), "length": summary(played["length"])}
        print(f"{name}: score {results[name]['score']}", flush=True)
    curve = []
    for seconds, steps, agent in az_snaps:
        key, sub = jax.random.split(key)
        played = jax.device_get(make_evaluator(az, args.curve_games)(agent, sub))
        curve.append({"seconds": seconds, "env_steps": steps, "score": summary(played["score"])})
        print(f"  curve {seconds:5.0f}s {steps:>11,} steps: score {curve[-1]['score']['mean']:.1f}", flush=True)
    results["alphazero_curve"] = curve
    results["eval_seconds"] = _now() - start
    out["results"] = results
    return out


def _overrides(pairs: list[str], config_type: Any = None) -> dict[str, Any]:
    """``key=value`` strings as field values of ``config_type`` (default AlphaZeroConfig), typed like its defaults."""
    if config_type is None:
        from jaxrl.alphazero import AlphaZeroConfig as config_type
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        default = getattr(config_type(), key)
        out[key] = tuple(int(v) for v in value.split(",")) if isinstance(default, tuple) else type(default)(value)
    return out


def plot(results_dir: Path, path: Path) -> None:
    """Learning curves from ``connect_four.json`` and ``triangles.json`` (whichever exist) in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    c4, tri = results_dir / "connect_four.json", results_dir / "triangles.json"
    if c4.exists():
        panels.append(("connect_four", json.loads(c4.read_text())))
    if tri.exists():
        panels.append(("triangles", json.loads(tri.read_text())))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (mode, data) in zip(axes[0], panels):
        results = data["results"]
        if mode == "connect_four":
            curve = results["alphazero_curve_vs_minimax4"]
            t = [p["seconds"] for p in curve]
            for colour in ("black", "white"):
                ax.plot(t, [p[f"{colour}_win_rate"] for p in curve], marker="o", label=f"AlphaZero as {colour}")
            ppo = results["ppo_vs_minimax4"]
            for colour, style in (("black", "--"), ("white", ":")):
                ax.axhline(ppo[f"{colour}_win_rate"], color="grey", linestyle=style,
                           label=f"PPO as {colour}, {data['ppo']['seconds']:.0f}s")
            ax.axhline(0.9, color="red", linewidth=0.8, label="target 0.9")
            ax.set_ylabel("win rate vs depth-4 minimax")
            ax.set_title("Connect Four: greedy search player vs minimax-4")
        else:
            curve = results["alphazero_curve"]
            t = [p["seconds"] for p in curve]
            ax.errorbar(t, [p["score"]["mean"] for p in curve], yerr=[p["score"]["sem"] for p in curve],
                        marker="o", label="AlphaZero (greedy search)")
            for name, style in (("ppo", "--"), ("greedy", ":"), ("random", "-.")):
                ax.axhline(results[name]["score"]["mean"], color="grey", linestyle=style,
                           label=f"{name} ({results[name]['score']['mean']:.0f})")
            ax.set_ylabel("mean game score")
            ax.set_title("Triangles-v0: game score")
        ax.set_xlabel("training wall time (s, compile included)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"AlphaZero vs PPO at equal wall time; {panels[0][1]['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _dump(args, mode: str, data: dict[str, Any]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{mode}.json").write_text(json.dumps(data, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    from benchmarks.throughput import int_list

    parser = argparse.ArgumentParser(prog="python -m benchmarks.alphazero", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("speed", "connect_four", "triangles", "plot"),
                        help="plot: learning curves of the JSON files in --out, to <out>/alphazero_curves.png")
    parser.add_argument("--out", default="benchmarks/results/alphazero")
    parser.add_argument("--repeats", type=int, default=3, help="speed: timed epochs (median)")
    parser.add_argument("--epoch-updates", type=int, default=8, help="updates per jitted epoch")
    parser.add_argument("--pgx-example", default=None, help="speed: directory of pgx's examples/alphazero")
    parser.add_argument("--seconds", type=float, default=240.0, help="training wall time per algorithm")
    parser.add_argument("--snapshots", type=int, default=6, help="parameter snapshots for the learning curve")
    parser.add_argument("--games", type=int, default=1000,
                        help="connect_four: games per seat vs minimax-4 and vs PPO; triangles: games per player")
    parser.add_argument("--deep-games", type=int, default=128, help="connect_four: games per seat vs minimax-6")
    parser.add_argument("--curve-games", type=int, default=128, help="games per snapshot of the learning curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[],
                        help="override an AlphaZero field (speed: of the pgx-size config): key=value")
    parser.add_argument("--variants", default="", help="speed: comma-separated SPEED_VARIANTS names (default all)")
    parser.add_argument("--preset-speed", action="store_true", help="speed: also time the ConnectFour-v0 preset")
    parser.add_argument("--preset-set", action="append", default=[], help="speed: override a field of the preset run")
    parser.add_argument("--vs-ppo-sims", type=int_list, default=[],
                        help="connect_four: simulations of the search player against PPO, comma-separated "
                             "(default: the preset's eval_num_simulations)")
    parser.add_argument("--ppo-set", action="append", default=[], help="override a PPO preset field: key=value")
    parser.add_argument("--pgx-set", action="append", default=[], help="speed: override a field of pgx's example")
    args = parser.parse_args(argv)
    if args.mode == "plot":
        plot(Path(args.out), Path(args.out) / "alphazero_curves.png")
        print(f"wrote {Path(args.out) / 'alphazero_curves.png'}")
        return 0
    run = {"speed": run_speed, "connect_four": run_connect_four, "triangles": run_triangles}[args.mode]
    _dump(args, args.mode, run(args))
    print(f"wrote {Path(args.out) / (args.mode + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
