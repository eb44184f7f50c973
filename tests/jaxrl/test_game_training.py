"""Self-play training on Connect Four from the command line: the game evaluation callback's metrics
(tiny run), and (slow) the preset beating random play from either seat."""

from __future__ import annotations

import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import runs
from tests.jaxrl.conftest import CONNECT_FOUR_TINY

SEATS = ("black", "white")
OUTCOMES = ("win", "draw", "loss")


def is_rate(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def test_tiny_connect_four_run_logs_game_evaluation(connect_four_run):
    run_dir, result = connect_four_run
    assert "Traceback" not in result.stdout + result.stderr
    records = runs.read_metrics(run_dir)
    assert [r["update"] for r in records] == [1, 2, 3, 4]
    # Self-play outcome counts every update.
    for record in records:
        for key in ("games", "black_wins", "white_wins", "draws"):
            assert key in record
    evaluated = [r for r in records if "eval/elo" in r]
    assert [r["update"] for r in evaluated] == [2, 4]  # every epoch (2 updates), the last included
    for record in evaluated:
        for opponent in ("vs_random", "vs_minimax1"):
            for seat in SEATS:
                rates = [record[f"eval/{opponent}/{seat}_{outcome}_rate"] for outcome in OUTCOMES]
                assert all(is_rate(r) for r in rates), rates
                assert sum(rates) == pytest.approx(1.0)
                # 16 games per seat: every rate is a whole number of games.
                assert all(abs(r * 16 - round(r * 16)) < 1e-9 for r in rates)
            assert is_rate(record[f"eval/{opponent}/win_rate"])
        assert math.isfinite(record["eval/elo"]) and math.isfinite(record["eval/vs_minimax1/elo"])
        assert record["eval/vs_minimax1/elo"] > 0  # minimax beats random, so it is rated above it
    # The first evaluation adds the first snapshot; the second plays it.
    assert "eval/vs_pool/win_rate" not in evaluated[0] and evaluated[0]["eval/pool_size"] == 1
    pool_rates = [evaluated[1][f"eval/vs_pool/{outcome}_rate"] for outcome in OUTCOMES]
    assert all(is_rate(r) for r in pool_rates) and sum(pool_rates) == pytest.approx(1.0)
    assert evaluated[1]["eval/pool_size"] == 2
    # The display line and the plot show them.
    log = (run_dir / "train.log").read_text()
    assert "vs random" in log and "vs minimax-1" in log and "elo" in log
    assert (run_dir / "learning_curves.png").exists()


def test_game_evaluation_with_several_seeds():
    """In-process: two vmapped seeds, per-seed Elo, rates pooled over the seeds' games."""
    from jaxrl.config import TrainConfig, preset
    from jaxrl.run import GameEvaluationCallback, build_trainer

    class Recorder:
        def __init__(self):
            self.records = []

        def log(self, record):
            self.records.append(record)

        def close(self):
            pass

    algo_config = preset("ConnectFour-v0", network="mlp", hidden_sizes=(16,), num_envs=4, num_steps=4,
                         num_minibatches=1, update_epochs=1, total_timesteps=32)
    config = TrainConfig(ppo=algo_config, eval_every=1, eval_games=4, minimax_depth=0, opponent_pool_size=1,
                         updates_per_epoch=1, num_seeds=2, plot=False)
    recorder = Recorder()
    trainer = build_trainer(config, loggers=[recorder], report=lambda msg: None)
    assert trainer.run() == 0
    evaluations = [c for c in trainer.components.callbacks if isinstance(c, GameEvaluationCallback)]
    assert len(evaluations) == 1, "the callback failed and was disabled"
    last = recorder.records[-1]
    assert set(last) >= {"eval/elo", "eval/elo/seed_0", "eval/elo/seed_1", "eval/vs_random/black_win_rate",
                         "eval/vs_pool/win_rate"}
    assert not any(key.startswith("eval/vs_minimax") for key in last)
    # Two seeds x 4 games per seat: rates are multiples of 1/8.
    assert last["eval/vs_random/white_win_rate"] * 8 == pytest.approx(round(last["eval/vs_random/white_win_rate"] * 8))
    assert last["eval/elo"] == pytest.approx((last["eval/elo/seed_0"] + last["eval/elo/seed_1"]) / 2)


def test_tiny_shogi_self_play_run(tmp_path, cli_env):
    """The Shogi preset's residual torso, scaled down, trains by self-play from the command line."""
    run_dir = tmp_path / "shogi"
    args = ["--env", "Shogi-v0", "--num-envs", "8", "--num-steps", "8", "--num-minibatches", "2",
            "--update-epochs", "1", "--channels", "8", "--num-blocks", "1", "--hidden-sizes", "32",
            "--total-timesteps", "128", "--updates-per-epoch", "1", "--eval-every", "0", "--run-dir", run_dir]
    result = runs.train(args, cli_env, timeout=600)
    assert result.returncode == 0, runs.describe(result)
    assert "observation (9, 9, 47), actions Discrete(2187)" in result.stdout
    records = runs.read_metrics(run_dir)
    assert [r["update"] for r in records] == [1, 2] and records[-1]["env_steps"] == 128
    for record in records:
        assert all(math.isfinite(record[key]) for key in ("policy_loss", "value_loss", "entropy"))
        assert 0 < record["entropy"] < math.log(2187)  # masked to the legal moves, not all 2187
        assert record["games"] == record["black_wins"] + record["white_wins"] + record["draws"]
    assert runs.committed_steps(run_dir / "checkpoints")


# -- the preset learns (slow) -------------------------------------------------------------------


def win_rates_vs_random(run_dir, games_per_seat: int = 1000, seed: int = 123) -> list[float]:
    """Win rates of the greedy final policy against uniform random play, as seat 0 and as seat 1."""
    from jaxrl import games
    from jaxrl.run.evaluation import seed_state
    from jaxrl.run.rundir import restore_run

    algo, state, _ = restore_run(run_dir)
    agent = algo.agent(seed_state(state))
    env, env_params = algo.eval_env()
    rand = games.from_opponent(games.random_opponent(env, env_params))
    match = jax.jit(jax.vmap(lambda key, seat: games.play_match(
        env, env_params, algo.agent_policy(agent), rand, key, games_per_seat, seat)))
    counts = jax.device_get(match(jax.random.split(jax.random.PRNGKey(seed), 2), jnp.arange(2)))
    return [float(w) / games_per_seat for w in np.asarray(counts["wins"])]


@pytest.mark.slow
def test_connect_four_preset_beats_random_from_either_seat(tmp_path, cli_env):
    """The ConnectFour-v0 preset, as `python -m jaxrl.train --env ConnectFour-v0` runs it (CPU)."""
    run_dir = tmp_path / "run"
    start = time.monotonic()
    result = runs.train(["--env", "ConnectFour-v0", "--run-dir", run_dir], cli_env, timeout=1800)
    wall = time.monotonic() - start
    assert result.returncode == 0, runs.describe(result)
    last = [r for r in runs.read_metrics(run_dir) if "eval/elo" in r][-1]
    black, white = win_rates_vs_random(run_dir)
    print(f"\nConnectFour-v0 preset: {wall:.0f}s wall; vs random (1000 games per seat): black {black:.3f}, "
          f"white {white:.3f}; final eval: {({k: round(v, 3) for k, v in last.items() if k.startswith('eval/')})}")
    assert black >= 0.95 and white >= 0.95, (black, white)


def test_resumed_game_run_continues_pool_and_elo(tmp_path, cli_env):
    """Stop a game run after its first evaluation and resume it: the second evaluation (which plays the
    pool's snapshot and updates Elo from the saved ratings) matches the run that went straight through."""
    common = [*CONNECT_FOUR_TINY, "--no-anneal-lr"]  # the learning rate must not depend on the run length
    assert common[common.index("--total-timesteps") + 1] == "256"
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert runs.train([*common, "--run-dir", straight], cli_env, timeout=600).returncode == 0
    first = [*common, "--run-dir", split]
    first[first.index("--total-timesteps") + 1] = "128"
    assert runs.train(first, cli_env, timeout=600).returncode == 0
    resumed = runs.train(["--resume", split, "--total-timesteps", "256"], cli_env, timeout=600)
    assert resumed.returncode == 0, runs.describe(resumed)

    def evaluations(run_dir):
        return {r["update"]: r for r in runs.read_metrics(run_dir) if "eval/elo" in r}

    expected, got = evaluations(straight), evaluations(split)
    assert sorted(expected) == sorted(got) == [2, 4]
    for key in ("eval/elo", "eval/pool_size", "eval/vs_pool/win_rate", "eval/vs_random/white_win_rate",
                "eval/vs_minimax1/black_win_rate", "eval/vs_minimax1/elo"):
        assert got[4][key] == expected[4][key], key
    assert got[4]["eval/pool_size"] == 2
    # The best checkpoint of a game run follows the Elo rating.
    best = json.loads(next((split / "checkpoints" / "best").glob("*/meta/metadata")).read_text())
    assert best["best_eval"]["metric"] == "eval/elo"
    assert best["best_eval"]["value"] == max(r["eval/elo"] for r in got.values())
