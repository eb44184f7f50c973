"""AlphaZero through the run layer: ``python -m jaxrl.train --algo alphazero``, its flags, evaluation,
checkpoints and a bit-exact resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxrl.config import config_from_dict, config_to_dict, preset_config
from jaxrl.errors import ConfigError
from jaxrl.train import parse_args
from tests.helpers import runs
from tests.jaxrl.test_checkpoint import leaf_differences

# 4 games x 12 moves = 48 moves an update, 2 updates an epoch; a net of 8 channels, one block.
TINY = [
    "--algo", "alphazero", "--num-envs", "4", "--num-steps", "12", "--num-simulations", "4",
    "--eval-num-simulations", "4", "--max-num-considered-actions", "4", "--channels", "8", "--num-blocks", "1",
    "--buffer-capacity", "1024", "--min-buffer-size", "16", "--batch-size", "32", "--train-steps", "2",
    "--updates-per-epoch", "2", "--checkpoint-every", "1",
]
UPDATE = 48


@pytest.fixture(scope="module")
def resumed_pair(tmp_path_factory, cli_env):
    """Connect Four: 4 updates straight (evaluated at the end) vs 2, a new process, 2 more (never evaluated)."""
    root = tmp_path_factory.mktemp("alphazero-cli")
    straight = runs.train([*TINY, "--env", "ConnectFour-v0", "--total-timesteps", 4 * UPDATE, "--eval-every", "2",
                           "--eval-games", "4", "--minimax-depth", "1", "--opponent-pool-size", "1",
                           "--run-dir", root / "straight"], cli_env, timeout=600)
    first = runs.train([*TINY, "--env", "ConnectFour-v0", "--total-timesteps", 2 * UPDATE, "--eval-every", "0",
                        "--run-dir", root / "split"], cli_env, timeout=600)
    second = runs.train(["--resume", root / "split", "--total-timesteps", 4 * UPDATE], cli_env, timeout=600)
    return root, straight, first, second


def test_cli_trains_alphazero_and_logs_its_metrics(resumed_pair):
    root, straight, *_ = resumed_pair
    assert straight.returncode == 0, runs.describe(straight)
    assert "ALPHAZERO on ConnectFour-v0" in straight.stdout
    assert "gumbel search of 4 simulations" in straight.stdout
    records = runs.read_metrics(root / "straight")
    assert [r["update"] for r in records] == [1, 2, 3, 4]
    last = records[-1]
    assert last["env_steps"] == 4 * UPDATE
    for name in ("policy_loss", "value_loss", "search_entropy", "root_value", "buffer_size", "black_wins_rate"):
        assert np.isfinite(last[name]), name
    assert 0 < last["buffer_size"] <= 1024
    # The evaluation played through the search: rates against random and minimax, and an Elo.
    assert 0.0 <= last["eval/vs_random/win_rate"] <= 1.0
    assert "eval/vs_minimax1/win_rate" in last and "eval/elo" in last
    saved = (root / "straight" / "config.yaml").read_text()
    assert "alphazero:" in saved and "ppo:" not in saved


def test_cli_resume_of_alphazero_is_bit_exact(resumed_pair):
    """Params, optimiser, games in progress, pending moves, replay buffer, rng and counters all equal."""
    from jaxrl.run.rundir import restore_run

    root, straight, first, second = resumed_pair
    assert first.returncode == 0, runs.describe(first)
    assert second.returncode == 0, runs.describe(second)
    assert "resuming after update 2" in second.stdout
    _, a, meta_a = restore_run(root / "straight", report=pytest.fail)
    _, b, meta_b = restore_run(root / "split", report=pytest.fail)
    assert meta_a["update"] == meta_b["update"] == 4
    assert set(a.__dataclass_fields__) == {"params", "opt_state", "env_state", "obs", "pending", "buffer", "rng", "update"}
    assert int(a.buffer.size) > 0
    assert leaf_differences(a, b) == []
    tail = lambda d: [runs.without_timing(r) for r in runs.read_metrics(d) if r["update"] > 2]  # noqa: E731
    keys = ("policy_loss", "value_loss", "buffer_size", "games", "root_value")
    assert [{k: r[k] for k in keys} for r in tail(root / "straight")] == [{k: r[k] for k in keys} for r in tail(root / "split")]


def test_evaluate_cli_plays_a_game_run_through_the_search(resumed_pair, cli_env):
    root, *_ = resumed_pair
    record = root / "game.txt"
    result = runs.run_module("jaxrl.evaluate", [root / "straight", "--games", "4", "--minimax-depth", "1",
                                                "--record", record], cli_env)
    assert result.returncode == 0, runs.describe(result)
    assert "minimax1" in result.stdout and "black" in result.stdout
    # One game written down, as columns 1-7, black's moves first.
    assert "game record, agent (black) vs minimax1: " in result.stdout
    moves = record.read_text().split()
    assert 7 <= len(moves) <= 42 and set(moves) <= set("1234567")
    assert record.read_text().strip() in result.stdout


def test_cli_single_player_evaluation_scores_the_puzzle(tmp_path, cli_env):
    run_dir = tmp_path / "run"
    result = runs.train([*TINY, "--env", "Triangles-v0", "--total-timesteps", 2 * UPDATE, "--eval-every", "1",
                         "--eval-episodes", "2", "--n-step", "3", "--run-dir", run_dir], cli_env, timeout=600)
    assert result.returncode == 0, runs.describe(result)
    last = runs.read_metrics(run_dir)[-1]
    assert last["eval/episode_score"] > 0  # every placement scores, and a search never plays an illegal move
    assert np.isfinite(last["episode_return"]) or last["episodes"] == 0
    assert (run_dir / "checkpoints" / "best").exists()  # the best follows eval/episode_score


# -- flags and config files (no training) ---------------------------------------------


def test_alphazero_flags_and_preset():
    config = parse_args(["--algo", "alphazero", "--env", "Triangles-v0", "--num-simulations", "8"])
    assert config.algo == "alphazero"
    assert config.algo_config.num_simulations == 8
    assert config.algo_config.value_target == "n_step"  # the Triangles preset
    assert parse_args(["--env", "ConnectFour-v0"]).algo == "ppo"


@pytest.mark.parametrize(("args", "expected"), [
    (["--algo", "alphazero", "--clip-eps", "0.1"], "--clip-eps is a flag of --algo ppo, not of --algo alphazero"),
    (["--num-simulations", "8"], "--num-simulations is a flag of --algo alphazero, not of --algo ppo"),
    (["--algo", "alphazer"], "did you mean alphazero"),
    (["--algo", "alphazero", "--env", "CartPole-v1"], "[H, W, C] observations"),
    (["--algo", "alphazero", "--num-simulation", "8"], "did you mean --num-simulations"),
])
def test_alphazero_usage_errors_are_one_line(args, expected, capsys):
    from jaxrl.train import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_yaml_config_may_pick_the_algorithm(tmp_path):
    path = tmp_path / "az.yaml"
    path.write_text("algo: alphazero\nenv: Triangles-v0\nnum_simulations: 16\nlr: 3e-4\n")
    config = parse_args(["--config", str(path)])
    assert (config.algo, config.algo_config.env, config.algo_config.num_simulations) == ("alphazero", "Triangles-v0", 16)
    assert config.algo_config.lr == 3e-4 and config.algo_config.n_step == 10  # preset kept where not set
    with pytest.raises(ConfigError, match="not of alphazero"):
        config_from_dict({"algo": "alphazero", "clip_eps": 0.1})


def test_config_round_trips_through_its_dict():
    config = preset_config("alphazero", "ConnectFour-v0")
    data = json.loads(json.dumps(config_to_dict(config)))
    assert set(data) >= {"algo", "alphazero", "seed"} and "ppo" not in data
    assert config_from_dict(data) == config


def test_resume_refuses_another_algorithm(tmp_path):
    from jaxrl.run.rundir import save_config

    save_config(preset_config("ppo", "ConnectFour-v0"), tmp_path)
    with pytest.raises(ConfigError, match="cannot continue as --algo alphazero"):
        parse_args(["--resume", str(tmp_path), "--algo", "alphazero"])


def test_play_cli_against_the_search_player(resumed_pair, cli_env):
    """A person plays a whole game against the AlphaZero run; the agent moves through its search."""
    root, *_ = resumed_pair
    moves = "1\n2\n3\n4\n5\n6\n7\n" * 42
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl.play", str(root / "straight"), "--seat", "0", "--greedy"],
        input=moves, cwd=runs.REPO_ROOT, env=cli_env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, runs.describe(result)
    assert "agent plays" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert any(line in result.stdout for line in ("You win!", "The agent wins.", "Draw."))
