"""``python -m jaxrl.evaluate RUN_DIR``: the mean return of a trained policy, or its game results.

For a single-agent env it prints the mean return over ``--episodes`` fresh
episodes (and a puzzle's game score; ``--baselines`` plays uniform random and
one-step greedy players on the same episodes count); for a two-player game, win/draw/loss rates per seat against random
play, capture-greedy (Shogi) and minimax (``--games``, ``--minimax-depth``), and the record
of one game of the agent as black against the strongest of them (Shogi: USI moves; ``--record
FILE`` also writes it to a file). The work is done by
`jaxrl.run.evaluation`; `load_policy` (re-exported here) gives a jitted
``act(obs, key=None)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.games.opponents import check_minimax
from jaxrl.games.record import record_game, record_text, strongest_opponent
from jaxrl.run.checkpoint import CheckpointError
from jaxrl.run.evaluation import baseline_episodes, game_rates, has_seed_axis, make_evaluator, seed_state
from jaxrl.run.policy import load_policy
from jaxrl.run.rundir import restore_run
from jaxrl.run.video import check_video, play_frames, write_video


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m jaxrl.evaluate", description="Mean return of a trained policy.")
    parser.add_argument("run_dir", help="run directory (or its checkpoints/<step> directory)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes to play (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the mode")
    parser.add_argument("--games", type=int, default=500,
                        help="two-player games: games per seat against each opponent (default 500)")
    parser.add_argument("--minimax-depth", type=int, default=2,
                        help="two-player games: depth of the minimax opponent, 0 for none (default 2)")
    parser.add_argument("--seed-index", type=int, default=None,
                        help="a --num-seeds run: evaluate this seed's agent (default: every seed, one after another)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="two-player games: also write the record of the game shown to FILE")
    parser.add_argument("--video", default=None, metavar="FILE",
                        help="also write one greedy episode (a game: against the strongest opponent) as FILE, "
                             ".gif or .mp4 (needs imageio-ffmpeg); envs with a renderer: classic control, ConnectFour-v0")
    parser.add_argument("--fps", type=float, default=30.0, help="--video frames per second (default 30)")
    parser.add_argument("--baselines", action="store_true",
                        help="puzzles: also play a uniform random and a one-step greedy player, as many episodes")
    args = parser.parse_args(argv)
    try:
        if args.episodes <= 0:
            raise ConfigError(f"--episodes must be positive, got {args.episodes}")
        if args.games <= 0 or args.minimax_depth < 0:
            raise ConfigError(f"--games must be positive and --minimax-depth >= 0, got {args.games}, {args.minimax_depth}")
        if args.fps <= 0:
            raise ConfigError(f"--fps must be positive, got {args.fps}")
        algo, state, meta = restore_run(args.run_dir)
        if args.video is not None:
            check_video(*algo.eval_env(), args.video)
        if algo.env.num_players > 1:
            try:
                check_minimax(*algo.eval_env(), args.minimax_depth, 2 * args.games)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        num_seeds = int(np.shape(state.update)[0]) if has_seed_axis(state) else 1
        if args.seed_index is not None and not 0 <= args.seed_index < num_seeds:
            raise ConfigError(f"--seed-index {args.seed_index} is out of range: the run trained {num_seeds} "
                              f"seed{'s' if num_seeds > 1 else ''} (0..{num_seeds - 1})")
    except (ConfigError, CheckpointError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"checkpoint {meta['checkpoint']} (update {meta.get('update')}, "
          f"{algo.env_steps(seed_state(state)):,} env steps per seed)")
    seeds = [args.seed_index] if args.seed_index is not None else list(range(num_seeds))
    for index in seeds:
        if num_seeds > 1:
            print(f"seed {index} of {num_seeds} (--seed-index {index})")
        agent = algo.agent(seed_state(state, index))
        code = _evaluate_agent(args, algo, agent)
        if code:
            return code
        if args.video is not None:
            path = Path(args.video)
            if len(seeds) > 1:
                path = path.with_name(f"{path.stem}-seed{index}{path.suffix}")
            _write_video(args, algo, agent, str(path))
    return 0


def _write_video(args, algo, agent, path: str) -> None:
    env, env_params = algo.eval_env()
    opponent_name, opponent = None, None
    if env.num_players > 1:
        opponent_name, opponent = strongest_opponent(env, env_params, args.minimax_depth)
    policy = algo.agent_policy(agent, greedy=not args.stochastic)
    frames, total = play_frames(env, env_params, policy, jax.random.PRNGKey(args.seed + 11), opponent)
    write_video(frames, path, args.fps)
    against = f" (agent as black against {opponent_name})" if opponent_name else ""
    print(f"video: {len(frames) - 1} steps{against}, return {total:.2f}, {len(frames)} frames at {args.fps:g} fps -> {path}")


def _evaluate_agent(args, algo, agent) -> int:
    env, env_params = algo.eval_env()
    if env.num_players > 1:
        return _print_game_rates(args, algo, agent)
    evaluate = make_evaluator(algo, args.episodes, deterministic=not args.stochastic)
    result = evaluate(agent, jax.random.PRNGKey(args.seed))
    returns = jax.device_get(result["return"])
    print(f"{algo.config.env}: mean return {returns.mean():.2f} ± {returns.std():.2f} over {args.episodes} episodes")
    if not (args.baselines or env.episode_metrics):
        return 0
    policy_name = "sampled" if args.stochastic else "greedy"
    print(f"{policy_name} policy (agent) and baselines; ± is the standard error of the mean")
    rows = {"agent": jax.device_get(result)}
    if args.baselines:
        if env.action_mask(env.reset(jax.random.PRNGKey(0), env_params)[1], env_params) is None:
            print("error: --baselines needs an env with a legal-action mask (a puzzle)", file=sys.stderr)
            return 2
        rows.update(baseline_episodes(env, env_params, jax.random.PRNGKey(args.seed + 1), args.episodes))
    names = ["return", "length", *env.episode_metrics]
    print(f"{'player':<8} " + " ".join(f"{name:>18}" for name in names))
    for player, values in rows.items():
        cells = []
        for name in names:
            v = np.asarray(values[name], np.float64)
            cells.append(f"{v.mean():10.2f} ± {v.std() / np.sqrt(len(v)):5.2f}")
        print(f"{player:<8} " + " ".join(cells))
    return 0


def _print_game_rates(args, algo, agent) -> int:
    rates = game_rates(algo, agent, jax.random.PRNGKey(args.seed), args.games, args.minimax_depth,
                       greedy=not args.stochastic)
    policy = "sampled" if args.stochastic else "greedy"
    print(f"{algo.config.env}: {policy} policy, {args.games} games per seat (black moves first)")
    print(f"{'opponent':<15} {'seat':<6} {'win':>6} {'draw':>6} {'loss':>6}")
    for name, table in rates.items():
        for colour in ("black", "white"):
            row = [table[f"{colour}_{label}_rate"] for label in ("win", "draw", "loss")]
            print(f"{name:<15} {colour:<6} " + " ".join(f"{v:6.3f}" for v in row))
    _print_game_record(args, algo, agent)
    return 0


def _print_game_record(args, algo, agent) -> None:
    """One game of the agent as black against the last (strongest) fixed opponent, written down."""
    env, env_params = algo.eval_env()
    name, opponent = strongest_opponent(env, env_params, args.minimax_depth)
    policy = algo.agent_policy(agent, greedy=not args.stochastic)
    moves, result = record_game(env, env_params, policy, opponent, jax.random.PRNGKey(args.seed + 7))
    text = record_text(env, moves)
    print(f"game record, agent (black) vs {name}: {result} in {len(moves)} moves")
    print(text)
    if args.record:
        with open(args.record, "w") as file:
            file.write(text + "\n")
        print(f"written to {args.record}")


__all__ = ["load_policy", "main"]


if __name__ == "__main__":
    sys.exit(main())
