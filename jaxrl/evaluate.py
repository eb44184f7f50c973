"""Policy evaluation: run whole episodes with a (deterministic) policy, load trained policies.

`run_episodes` plays ``num_episodes`` fresh episodes in parallel on device.
`load_policy(run_dir_or_checkpoint)` returns a jitted ``act(obs, key=None)``;
``python -m jaxrl.evaluate RUN_DIR --episodes N`` prints the mean return; for a
two-player game, win/draw/loss rates per seat against random play and
minimax (``--games``, ``--minimax-depth``; see `game_rates`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import envs
from envs import spaces, wrappers


def eval_env(config) -> tuple[envs.Environment, Any]:
    """The env for evaluation: the raw env (plus action clipping), no auto-reset or reward scaling."""
    env, params = envs.make(config.env, **dict(config.env_kwargs))
    if isinstance(env.action_space(params), spaces.Box):
        env = wrappers.ClipAction(env)
    return env, params


def max_episode_steps(env_params: Any, default: int = 10_000) -> int:
    return int(getattr(env_params, "max_steps_in_episode", default))


def run_episodes(
    env: envs.Environment,
    env_params: Any,
    act: Callable[[jax.Array, jax.Array | None, jax.Array], jax.Array],
    key: jax.Array,
    num_episodes: int,
    max_steps: int,
) -> dict[str, jax.Array]:
    """Play ``num_episodes`` episodes at once; ``act(obs [N, ...], mask [N, A] | None, key) -> actions [N]``.

    Returns per-episode ``return`` and ``length`` ``[N]`` (seat 0's return for
    games). Episodes still running after ``max_steps`` count what they have.
    """
    key, key_reset = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_episodes), env_params)

    def mask_of(state):
        return jax.vmap(env.action_mask, in_axes=(0, None))(state, env_params)

    def cond(carry):
        t, _, _, _, done, _, _ = carry
        return jnp.logical_and(t < max_steps, ~jnp.all(done))

    def body(carry):
        t, key, obs, state, done, total, length = carry
        key, key_act, key_step = jax.random.split(key, 3)
        action = act(obs, mask_of(state), key_act)
        obs2, state2, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key_step, num_episodes), state, action, env_params
        )
        reward = reward[..., 0] if reward.ndim > 1 else reward
        total = total + jnp.where(done, 0.0, reward)
        length = length + jnp.where(done, 0, 1)
        keep = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), old, new)  # noqa: E731
        state = jax.tree.map(keep, state2, state)
        obs = keep(obs2, obs)
        done = done | terminated | truncated
        return t + 1, key, obs, state, done, total, length

    carry = (0, key, obs, state, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes), jnp.zeros(num_episodes, jnp.int32))
    _, _, _, _, _, total, length = jax.lax.while_loop(cond, body, carry)
    return {"return": total, "length": length}


def make_evaluator(algo, num_episodes: int, deterministic: bool = True):
    """A jitted ``evaluate(params, obs_stats, key) -> {"return", "length"}`` for ``algo``'s env."""
    env, env_params = eval_env(algo.config)
    max_steps = max_episode_steps(env_params)

    def evaluate(params, obs_stats, key):
        def act(obs, mask, key):
            dist = algo.policy(params, algo.normalize_obs(obs, obs_stats), mask)
            return dist.mode() if deterministic else dist.sample(key)

        return run_episodes(env, env_params, act, key, num_episodes, max_steps)

    return jax.jit(evaluate)


def load_policy(path: str | Path, deterministic: bool = True):
    """A jitted ``act(obs, key=None, mask=None) -> action`` from a run directory or checkpoint.

    ``obs`` is one observation or a batch. Without ``key`` (or with
    ``deterministic=True``) the most likely action is taken.
    """
    from jaxrl.train import restore_run

    algo, state, _ = restore_run(path)
    params = jax.tree.map(lambda x: x[0], state.params) if algo_seeded(state) else state.params
    obs_stats = algo.observation_statistics(state.env_state)
    obs_ndim = len(algo.env.observation_space(algo.env_params).shape)

    @jax.jit
    def _act(obs, key, mask):
        single = obs.ndim == obs_ndim
        batch = obs[None] if single else obs
        dist = algo.policy(params, algo.normalize_obs(batch, obs_stats), None if mask is None else (mask[None] if single else mask))
        action = dist.mode() if key is None else dist.sample(key)
        return action[0] if single else action

    def act(obs, key=None, mask=None):
        return _act(jnp.asarray(obs), None if deterministic else key, mask)

    act.algo = algo  # type: ignore[attr-defined]
    return act


def game_rates(
    algo, params: Any, obs_stats: Any, key: jax.Array, games: int, minimax_depth: int = 2, greedy: bool = True
) -> dict[str, dict[str, float]]:
    """Two-player games: outcome rates of the policy against random play and minimax, from each seat.

    Returns ``{"random": rates, "minimax<d>": rates}`` (no minimax when
    ``minimax_depth`` is 0), where rates maps ``"<seat>_<outcome>_rate"``
    (seat ``black`` = 0 / ``white`` = 1, outcome ``win``/``draw``/``loss``) to the
    fraction of ``games`` games played from that seat.
    """
    from jaxrl import opponents, selfplay

    env, env_params = eval_env(algo.config)
    fixed = {"random": opponents.random_opponent(env, env_params)}
    if minimax_depth > 0:
        fixed[f"minimax{minimax_depth}"] = opponents.minimax_opponent(env, env_params, minimax_depth)
    policy = selfplay.agent_policy(algo, params, obs_stats, greedy=greedy)
    out = {}
    for name, act in fixed.items():
        key, match_key = jax.random.split(key)
        match = jax.jit(jax.vmap(lambda k, seat, act=act: selfplay.play_match(
            env, env_params, policy, selfplay.from_opponent(act), k, games, seat, max_episode_steps(env_params))))
        counts = jax.device_get(match(jax.random.split(match_key, 2), jnp.arange(2)))
        out[name] = {
            f"{colour}_{label}_rate": float(counts[outcome][seat]) / games
            for seat, colour in enumerate(("black", "white"))
            for outcome, label in (("wins", "win"), ("draws", "draw"), ("losses", "loss"))
        }
    return out


def algo_seeded(state) -> bool:
    """Whether a restored state carries a leading seed axis (``--num-seeds`` runs)."""
    return jnp.ndim(state.update) == 1


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
    args = parser.parse_args(argv)
    from jaxrl.checkpoint import CheckpointError
    from jaxrl.config import ConfigError

    try:
        if args.episodes <= 0:
            raise ConfigError(f"--episodes must be positive, got {args.episodes}")
        if args.games <= 0 or args.minimax_depth < 0:
            raise ConfigError(f"--games must be positive and --minimax-depth >= 0, got {args.games}, {args.minimax_depth}")
        act = load_policy(args.run_dir, deterministic=not args.stochastic)
    except (ConfigError, CheckpointError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    algo = act.algo
    env, env_params = eval_env(algo.config)
    if env.num_players > 1:
        return _print_game_rates(args)
    policy = lambda obs, mask, key: act(obs, key, mask)  # noqa: E731
    result = jax.jit(lambda key: run_episodes(env, env_params, policy, key, args.episodes, max_episode_steps(env_params)))(
        jax.random.PRNGKey(args.seed)
    )
    returns = jax.device_get(result["return"])
    print(f"{algo.config.env}: mean return {returns.mean():.2f} ± {returns.std():.2f} over {args.episodes} episodes")
    return 0


def _print_game_rates(args) -> int:
    from jaxrl.train import restore_run

    algo, state, _ = restore_run(args.run_dir)
    params = jax.tree.map(lambda x: x[0], state.params) if algo_seeded(state) else state.params
    stats = algo.observation_statistics(
        jax.tree.map(lambda x: x[0], state.env_state) if algo_seeded(state) else state.env_state
    )
    rates = game_rates(algo, params, stats, jax.random.PRNGKey(args.seed), args.games, args.minimax_depth,
                       greedy=not args.stochastic)
    policy = "sampled" if args.stochastic else "greedy"
    print(f"{algo.config.env}: {policy} policy, {args.games} games per seat (black moves first)")
    print(f"{'opponent':<12} {'seat':<6} {'win':>6} {'draw':>6} {'loss':>6}")
    for name, table in rates.items():
        for colour in ("black", "white"):
            row = [table[f"{colour}_{label}_rate"] for label in ("win", "draw", "loss")]
            print(f"{name:<12} {colour:<6} " + " ".join(f"{v:6.3f}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
