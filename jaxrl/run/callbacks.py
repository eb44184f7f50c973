"""Callbacks run by the host loop at epoch boundaries: evaluation, early stop, checkpoints.

A callback may return extra metrics (merged into the epoch's last record),
ask the loop to stop (`Trainer.request_stop`) or to save
(`Trainer.request_checkpoint`). One that raises is reported once and disabled
by the loop; training goes on.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import games, seats
from jaxrl.games.opponents import minimax_fits
from jaxrl.run.evaluation import make_evaluator, max_episode_steps

if TYPE_CHECKING:  # annotations only: the loop imports this module
    from jaxrl.run.loop import Trainer

# Both sides of a match against a pool snapshot are greedy; this many random opening moves make
# their games differ.
POOL_OPENING_MOVES = 2
# Games per seat against random play that fix each other fixed opponent's Elo rating, once per run.
CALIBRATION_GAMES = 500


class Callback:
    """Override what you need; ``trainer`` gives the state, counters and `request_stop`."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        """Whether `on_epoch_end` of ``epoch`` reads ``trainer.state``.

        When no callback does, the loop dispatches the next epoch before
        running callbacks (the state is donated to it), hiding host work
        behind device work. The default is the safe answer.
        """
        return True

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        """``reason``: 'done', 'stopped' (stop request or early stop) or 'error' (nothing is saved)."""

    # A callback with state of its own that a resumed run must continue from names itself here and
    # implements the two methods below; checkpoints then carry that state.
    checkpoint_name: str | None = None

    def checkpoint_state(self) -> tuple[dict[str, Any], Any] | None:
        """``(JSON-able dict, pytree of arrays or None)`` to save with a checkpoint, or None."""
        return None

    def restore_checkpoint_state(self, data: dict[str, Any], arrays: Any) -> None:
        """Continue from what `checkpoint_state` returned when the checkpoint was saved."""


class EvaluationCallback(Callback):
    """Every ``every`` epochs, the deterministic policy plays ``episodes`` fresh episodes.

    Logs ``eval/episode_return`` (mean over episodes and seeds),
    ``eval/episode_length`` and ``eval/episode_<key>`` for the env's
    `episode_metrics` (a puzzle's game score); with several seeds also
    ``eval/episode_return_std`` across seeds.
    """

    def __init__(self, every: int, episodes: int, seed: int = 0):
        self.every = every
        self.episodes = episodes
        self._key = jax.random.PRNGKey(seed + 1_000_003)  # folded with the update count: same after a resume
        self._evaluate = None

    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        return epoch % self.every == 0

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        if trainer.epoch % self.every and not trainer.is_last_epoch:
            return None
        algo = trainer.algo
        if self._evaluate is None:
            evaluate = make_evaluator(algo, self.episodes)
            self._evaluate = jax.jit(jax.vmap(evaluate, in_axes=(0, None))) if trainer.num_seeds > 1 else evaluate
        key = jax.random.fold_in(self._key, trainer.update)
        agent = (jax.vmap(algo.agent) if trainer.num_seeds > 1 else algo.agent)(trainer.state)
        result = jax.device_get(self._evaluate(agent, key))
        per_seed = np.asarray(result["return"]).reshape(trainer.num_seeds, -1).mean(axis=1)
        out = {
            "eval/episode_return": float(per_seed.mean()),
            "eval/episode_length": float(np.mean(result["length"])),
        }
        for name in algo.env.episode_metrics:
            out[f"eval/episode_{name}"] = float(np.mean(result[name]))
        if trainer.num_seeds > 1:
            out["eval/episode_return_std"] = float(per_seed.std())
        return out


class EarlyStopCallback(Callback):
    """Stops the run once the monitored metric reaches ``target`` (eval return if present)."""

    def __init__(self, target: float, metric: str = "episode_return"):
        self.target = target
        self.metric = metric

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        value = record.get(f"eval/{self.metric}", record.get(self.metric))
        if value is not None and math.isfinite(value) and value >= self.target:
            trainer.request_stop(f"early stop: {self.metric} {value:.4g} >= target {self.target:.4g}", exit_code=0)
        return None

    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        return False


class DivergenceCallback(Callback):
    """Warns once per metric when a finite run blows up; with ``stop``, also ends it (exit code 1).

    Two signs, read from each epoch's summary record:

    - a loss (one of ``losses``) larger in magnitude than ``factor`` times the first value
      logged for it (and than ``floor``): e.g. a value loss of 7e12 after starting at 50;
    - a collapsed policy: ``entropy`` within ``1e-6`` of 0 with ``approx_kl`` exactly 0, so the
      policy no longer changes and explores nothing.
    """

    def __init__(self, losses: tuple[str, ...], stop: bool = False, factor: float = 1e6, floor: float = 1e6):
        self.losses = losses
        self.stop = stop
        self.factor = factor
        self.floor = floor
        self.first: dict[str, float] = {}
        self.warned: set[str] = set()

    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        return False

    def _signs(self, record: dict[str, Any]) -> list[str]:
        found = []
        for name in self.losses:
            value = record.get(name)
            if value is None or not math.isfinite(value):
                continue
            first = self.first.setdefault(name, abs(value))
            if abs(value) > max(self.floor, self.factor * first):
                found.append(f"{name} {value:.3g} is {abs(value) / max(first, 1e-12):.2g}x its first value {first:.3g}")
        entropy, kl = record.get("entropy"), record.get("approx_kl")
        if entropy is not None and kl is not None and abs(entropy) < 1e-6 and kl == 0:
            found.append(f"entropy {entropy:.2g} with approx_kl 0: the policy collapsed and stopped changing")
        return found

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        for sign in self._signs(record):
            name = sign.split(" ", 1)[0]
            if name in self.warned:
                continue
            self.warned.add(name)
            advice = "stopping" if self.stop else "--stop-on-divergence stops a run here"
            trainer.report(f"warning: training diverged at update {trainer.update}: {sign}; {advice}")
            if self.stop:
                trainer.request_stop(f"diverged at update {trainer.update}", exit_code=1)
        return {"diverged": 1.0} if self.warned else None


class CheckpointCallback(Callback):
    """Asks for a save every ``every`` epochs, at the end, and on a stop request; and of the best-evaluated state.

    "Best" is the highest ``metric`` of an evaluation epoch: the mean evaluation
    return, or for two-player games the Elo rating. The loop logs the seconds
    it was blocked by each save as ``checkpoint_seconds``, in the first record after it.
    """

    def __init__(self, every: int, best: float | None = None, metric: str = "eval/episode_return"):
        self.every = every
        self.metric = metric
        self.best = -math.inf if best is None else best  # carried over a resume in checkpoint metadata

    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        # A best-so-far save happens on evaluation epochs, which keep the state anyway.
        return self.every > 0 and epoch % self.every == 0

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        if self.every > 0 and trainer.epoch % self.every == 0 and not trainer.is_last_epoch:
            trainer.request_checkpoint()
        value = record.get(self.metric)
        if value is not None and math.isfinite(value) and value > self.best:
            self.best = value
            trainer.metadata["best_eval"] = {"metric": self.metric, "value": value, "update": trainer.update}
            trainer.request_checkpoint(best=True)
        return None

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        if reason in ("done", "stopped"):
            trainer.request_checkpoint()


class GameEvaluationCallback(Callback):
    """Two-player games: the greedy policy against fixed opponents from each seat, a snapshot pool, Elo.

    Every ``every`` epochs and at the end, the greedy current policy plays
    ``games`` games as seat 0 (black, moves first) and ``games`` as seat 1
    (white) against each fixed opponent (`jaxrl.games.fixed_opponents`):
    ``random`` (uniform over legal moves), ``capture_greedy`` in games with a
    material count (Shogi), and ``minimax<depth>`` (`jaxrl.games.minimax_opponent`;
    none when ``minimax_depth`` is 0). For each it logs
    ``eval/vs_<name>/{black,white}_{win,draw,loss}_rate`` and
    ``eval/vs_<name>/win_rate`` (both seats).

    Every evaluation the current agent joins a `jaxrl.games.OpponentPool` of
    ``pool_size`` snapshots on device (oldest replaced); each evaluation plays
    every snapshot from both seats, both sides greedy after `POOL_OPENING_MOVES`
    random opening moves (so that two deterministic policies play varied games),
    and logs ``eval/vs_pool/{win,draw,loss}_rate`` and ``eval/pool_size``.

    Elo (``eval/elo``): random is anchored at 0; each other fixed opponent's
    rating is calibrated once from `CALIBRATION_GAMES` games per seat against random
    (logged as ``eval/vs_<name>/elo``), played in rounds of ``games`` per seat
    where the minimax search could not hold them all at once
    (`jaxrl.games.opponents.MINIMAX_BYTES_LIMIT`); a snapshot keeps the agent's rating at the
    time it was taken. After each evaluation round the agent's rating is
    updated game by game (`jaxrl.games.elo_update_games`, factor ``elo_k``) over
    all the round's games in a random order. With ``--num-seeds`` > 1
    every seed is evaluated (rates pool the seeds' games; ``eval/elo`` is the
    mean, ``eval/elo/seed_<i>`` each seed's). Games run on device, one
    compiled program per opponent; only the rating bookkeeping is on the host.
    The pool, the ratings and the random state of the games travel with the
    checkpoints, so a resumed run continues them exactly.
    """

    checkpoint_name = "game_evaluation"

    def __init__(
        self,
        every: int,
        games: int,
        minimax_depth: int = 2,
        pool_size: int = 8,
        *,
        elo_k: float = 8.0,
        seed: int = 0,
    ):
        if games < 1:
            raise ValueError(f"games must be positive, got {games}")
        self.every = every
        self.games = games
        self.minimax_depth = minimax_depth
        self.pool_size = pool_size
        self.elo_k = elo_k
        self._key = jax.random.PRNGKey(seed + 2_000_003)
        self._order = np.random.default_rng(seed)  # the order of games in the Elo updates
        self._matches: dict[str, Any] | None = None
        self._pool = None
        self.pool_ratings: np.ndarray | None = None  # [pool_size, num_seeds], by slot
        self.ratings: np.ndarray | None = None  # [num_seeds], the current agent's
        self.anchors: dict[str, float] = {"random": 0.0}

    # -- building (once) ---------------------------------------------------------------
    def _build(self, trainer: Trainer) -> None:
        algo = trainer.algo
        env, env_params = algo.eval_env()
        max_moves = max_episode_steps(env_params)
        fixed = {
            name: games.from_opponent(act)
            for name, act in games.fixed_opponents(env, env_params, self.minimax_depth).items()
        }

        def both_seats(policy_a, policy_b, key, num_games, opening_moves=0):
            return games.both_seats(env, env_params, policy_a, policy_b, key, num_games, max_moves, opening_moves)

        def versus(opponent):
            def one_seed(agent, key):
                return both_seats(algo.agent_policy(agent), opponent, key, self.games)

            return jax.jit(jax.vmap(one_seed, in_axes=(0, None)))

        def versus_member(agent, pool, slot, key):
            def one_seed(agent, member, key):
                policy, snapshot = algo.agent_policy(agent), algo.agent_policy(member)
                return both_seats(policy, snapshot, key, self.games, POOL_OPENING_MOVES)

            return jax.vmap(one_seed, in_axes=(0, 0, None))(agent, games.pool_member(pool, slot), key)

        self._matches = {name: versus(policy) for name, policy in fixed.items()}
        self._versus_member = jax.jit(versus_member)
        self._pool_add = jax.jit(games.pool_add)
        for name in fixed:
            if name == "random" or name in self.anchors:  # not calibrated before a resume
                continue
            per_round = CALIBRATION_GAMES
            if name == f"minimax{self.minimax_depth}" and not minimax_fits(
                env, env_params, self.minimax_depth, 2 * CALIBRATION_GAMES
            ):
                per_round = min(self.games, CALIBRATION_GAMES)  # what the config check let through
            rounds = math.ceil(CALIBRATION_GAMES / per_round)
            per_round = math.ceil(CALIBRATION_GAMES / rounds)
            calibrate = jax.jit(lambda k, name=name, n=per_round: both_seats(fixed[name], fixed["random"], k, n))
            points = 0.0
            for _ in range(rounds):
                self._key, key = jax.random.split(self._key)
                counts = jax.device_get(calibrate(key))
                points += float(np.sum(counts["wins"]) + 0.5 * np.sum(counts["draws"]))
            played = 2 * rounds * per_round
            self.anchors[name] = games.elo_from_score(points / played, played, self.anchors["random"])

    def checkpoint_state(self) -> tuple[dict[str, Any], Any] | None:
        if self.ratings is None:
            return None
        data = {
            "ratings": self.ratings.tolist(),
            "pool_ratings": self.pool_ratings.tolist(),
            "anchors": dict(self.anchors),
            "key": np.asarray(self._key).tolist(),
            "order": self._order.bit_generator.state,
        }
        pool = None if self._pool is None else {"params": self._pool.params, "added": self._pool.added}
        return data, pool

    def restore_checkpoint_state(self, data: dict[str, Any], arrays: Any) -> None:
        self.ratings = np.asarray(data["ratings"], np.float64)
        self.pool_ratings = np.asarray(data["pool_ratings"], np.float64)
        self.anchors = {name: float(value) for name, value in data["anchors"].items()}
        self._key = jnp.asarray(data["key"], jnp.uint32)
        self._order.bit_generator.state = data["order"]
        if arrays is not None:
            params = jax.tree.map(jnp.asarray, arrays["params"])
            self._pool = games.OpponentPool(params=params, added=jnp.asarray(arrays["added"], jnp.int32))

    def _agent(self, trainer: Trainer) -> Any:
        """The current agent (`Algorithm.agent`) with a leading seed axis ``[S, ...]``."""
        state, algo = trainer.state, trainer.algo
        if trainer.num_seeds > 1:
            return jax.vmap(algo.agent)(state)
        return jax.tree.map(lambda x: x[None], algo.agent(state))

    # -- each evaluation -----------------------------------------------------------------
    def needs_state(self, trainer: Trainer, epoch: int) -> bool:
        return epoch % self.every == 0

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> dict[str, Any] | None:
        evaluate = trainer.epoch % self.every == 0 or trainer.is_last_epoch
        snapshot = self.pool_size > 0 and trainer.epoch % self.every == 0
        if not (evaluate or snapshot):
            return None
        if self._matches is None:
            self._build(trainer)
        if self.ratings is None:
            self.ratings = np.zeros(trainer.num_seeds)
            self.pool_ratings = np.zeros((max(self.pool_size, 1), trainer.num_seeds))
        agent = self._agent(trainer)
        out: dict[str, Any] = {}
        if evaluate:
            out = self._evaluate(agent)
        if snapshot:
            if self._pool is None:
                self._pool = games.pool_init(agent, self.pool_size)
            slot = int(self._pool.added) % self.pool_size
            self._pool = self._pool_add(self._pool, agent)
            self.pool_ratings[slot] = self.ratings
            out["eval/pool_size"] = self._pool.size()
        return out or None

    def _evaluate(self, agent: Any) -> dict[str, Any]:
        start = time.perf_counter()
        out: dict[str, Any] = {}
        results: list[list[tuple[float, float]]] = [[] for _ in range(len(self.ratings))]  # per seed, per game
        for name, match in self._matches.items():
            self._key, key = jax.random.split(self._key)
            counts = {k: np.asarray(v) for k, v in jax.device_get(match(agent, key)).items()}  # [S, 2]
            out.update(seats.seat_rates(f"eval/vs_{name}", counts, self.games))
            if name != "random":
                out[f"eval/vs_{name}/elo"] = self.anchors[name]
            for seed in range(len(self.ratings)):
                results[seed] += _game_scores(counts, seed, self.anchors[name])
        size = 0 if self._pool is None else self._pool.size()
        if size:
            totals = {"wins": 0, "draws": 0, "losses": 0}
            for slot in range(size):
                self._key, key = jax.random.split(self._key)
                member_counts = jax.device_get(self._versus_member(agent, self._pool, slot, key))
                counts = {k: np.asarray(v) for k, v in member_counts.items()}  # [S, 2]
                for k in totals:
                    totals[k] += int(counts[k].sum())
                for seed in range(len(self.ratings)):
                    results[seed] += _game_scores(counts, seed, float(self.pool_ratings[slot, seed]))
            played = sum(totals.values())
            out.update({f"eval/vs_pool/{seats.MATCH_LABELS[k]}_rate": n / played for k, n in totals.items()})
        self.ratings = np.array([
            games.elo_update_games(rating, [seed_games[i] for i in self._order.permutation(len(seed_games))], self.elo_k)
            for rating, seed_games in zip(self.ratings, results)
        ])
        out["eval/elo"] = float(self.ratings.mean())
        if len(self.ratings) > 1:
            out.update({f"eval/elo/seed_{i}": float(r) for i, r in enumerate(self.ratings)})
        out["eval/seconds"] = time.perf_counter() - start
        return out


def _game_scores(counts: dict[str, np.ndarray], seed: int, opponent_rating: float) -> list[tuple[float, float]]:
    """``(opponent_rating, score)`` for every game of ``seed`` (both seats) in ``counts`` ``[num_seeds, 2]``."""
    out: list[tuple[float, float]] = []
    for key, score in (("wins", 1.0), ("draws", 0.5), ("losses", 0.0)):
        out += [(opponent_rating, score)] * int(counts[key][seed].sum())
    return out


__all__ = [
    "Callback", "CheckpointCallback", "DivergenceCallback", "EarlyStopCallback", "EvaluationCallback",
    "GameEvaluationCallback",
]
