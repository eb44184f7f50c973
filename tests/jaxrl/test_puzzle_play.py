"""Single-player puzzles outside training: the one-step greedy and random baselines, watching and playing a game."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import envs
from envs.puzzles.triangles import EMPTY_SLOT, NUM_CELLS, Triangles
from jaxrl.games.opponents import greedy_player, random_opponent
from jaxrl.play import QuitGame, play_puzzle
from tests.envs.test_triangles import SINGLE_DOWN, SINGLE_UP, position

ENV = Triangles()
PARAMS = ENV.default_params


def test_greedy_takes_the_placement_that_clears_a_line():
    # Row 0 (columns 3-11) full but for (0, 4), a down cell: one single down triangle there clears it.
    row0 = [(0, c) for c in range(3, 12) if c != 4]
    state = position(row0, [EMPTY_SLOT, SINGLE_DOWN, SINGLE_UP])
    act = jax.jit(greedy_player(ENV, PARAMS))
    clearing = 1 * NUM_CELLS + 0 * 15 + 4
    assert {int(act(jax.random.key(i), state)) for i in range(8)} == {clearing}
    random_moves = {int(jax.jit(random_opponent(ENV, PARAMS))(jax.random.key(i), state)) for i in range(32)}
    assert len(random_moves) > 8 and all(state.legal_action_mask[a] for a in random_moves)


def test_greedy_breaks_ties_at_random_among_legal_moves_only():
    state = position([], [SINGLE_UP, EMPTY_SLOT, EMPTY_SLOT])  # every up cell is worth the same
    act = jax.jit(greedy_player(ENV, PARAMS))
    moves = {int(act(jax.random.key(i), state)) for i in range(40)}
    assert len(moves) > 10 and all(bool(state.legal_action_mask[a]) for a in moves)


def test_greedy_takes_a_winning_move_in_a_two_player_game():
    from envs.games.connect_four import ConnectFour

    game = ConnectFour()
    params = game.default_params
    _, state = game.reset(jax.random.key(0), params)
    for column in (0, 1, 0, 1, 0, 1):  # the first player has three in column 0
        _, state, *_ = game.step(jax.random.key(0), state, column, params)
    assert int(jax.jit(greedy_player(game, params))(jax.random.key(3), state)) == 0


def test_triangles_moves_are_typed_as_slot_row_column():
    assert ENV.parse_action("1 3 6") == 1 * NUM_CELLS + 3 * 15 + 6
    assert ENV.parse_action("2,7,11") == 2 * NUM_CELLS + 7 * 15 + 11
    assert ENV.action_label(ENV.parse_action("0 4 14")) == "0 4 14"
    for text, fragment in (("3 0 0", "slot 0-2"), ("0 8 0", "row 0-7"), ("1 2", "slot, row and column"), ("a b c", "e.g.")):
        with pytest.raises(ValueError, match=fragment):
            ENV.parse_action(text)


def test_a_person_plays_a_puzzle_with_refused_moves_then_quits():
    _, state = ENV.reset(jax.random.split(jax.random.key(5))[1], PARAMS)  # the game play_puzzle starts
    legal = np.flatnonzero(np.asarray(state.legal_action_mask))
    illegal = next(a for a in range(360) if not state.legal_action_mask[a])
    lines = iter([ENV.action_label(illegal), "nonsense", ENV.action_label(int(legal[0])), "q"])
    out: list[str] = []
    with pytest.raises(QuitGame):
        play_puzzle(ENV, PARAMS, None, jax.random.key(5), lambda prompt: next(lines), out.append)
    text = "\n".join(out)
    assert "is not a legal move here" in text and "is not a move" in text
    assert "  012345678901234" in text  # the board a person types moves from has coordinates
    assert "score 0  steps 0" in text and "steps 1" in text


def test_watching_the_agent_play_a_whole_puzzle_game():
    env, params = envs.make("Triangles-v0")
    first_legal = lambda obs, mask, key, state=None: int(np.flatnonzero(mask)[0])  # noqa: E731
    out: list[str] = []
    result = play_puzzle(env, params, first_legal, jax.random.key(1), lambda prompt: pytest.fail("asked"), out.append)
    assert result["length"] >= 1 and result["score"] > 0
    assert out[-1].startswith(f"Game over after {int(result['length'])} moves, score {result['score']:g}")
    assert sum(line.startswith("agent plays ") for line in out) == result["length"]


def test_play_cli_human_puzzle_without_a_run_dir(cli_env):
    from tests.helpers import runs

    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "jaxrl.play", "--env", "Triangles-v0", "--human"],
                            input="9 9 9\nq\n", capture_output=True, text=True, env=cli_env, cwd=runs.REPO_ROOT,
                            timeout=120, check=False)
    assert result.returncode == 0, runs.describe(result)
    assert "Triangles-v0: you play" in result.stdout and "slot 0-2" in result.stdout and "bye" in result.stdout
    missing = subprocess.run([sys.executable, "-m", "jaxrl.play", "--human"], capture_output=True, text=True,
                             env=cli_env, cwd=runs.REPO_ROOT, timeout=120, check=False)
    assert missing.returncode == 2 and "give a run directory" in missing.stderr


def test_ppo_reports_the_game_score_in_training_and_evaluation():
    from jaxrl import ppo
    from jaxrl.config import PPOConfig
    from jaxrl.run.evaluation import make_evaluator

    algo = ppo.make(PPOConfig(env="Triangles-v0", num_envs=8, num_steps=32, num_minibatches=2, update_epochs=1,
                              hidden_sizes=(32,), network="mlp", total_timesteps=256))
    assert "episode_score" in algo.metric_names
    state, metrics = jax.jit(algo.update)(algo.init(jax.random.key(0)))
    assert set(metrics) == set(algo.metric_names)
    # Random-like play ends games in ~20 moves with scores near 70: a mean score, not a reward sum.
    assert float(metrics["episodes"]) > 0 and 20 < float(metrics["episode_score"]) < 200
    result = make_evaluator(algo, 4)(algo.agent(state), jax.random.key(1))
    assert result["score"].shape == (4,) and np.all(np.asarray(result["score"]) > 0)


@pytest.mark.slow
def test_random_and_greedy_baselines_agree_with_trianglengin():
    """Our baselines on device against the same players written on trianglengin 1.0.6 (200 games each)."""
    import random

    from tests.envs.test_triangles import GameState

    from jaxrl.run.evaluation import baseline_episodes

    ours = baseline_episodes(ENV, PARAMS, jax.random.key(7), 200)

    def reference(greedy: bool, games: int = 200) -> np.ndarray:
        import copy

        rng, scores = random.Random(0), []
        for i in range(games):
            game = GameState(initial_seed=1000 + i)
            while not game.is_over():
                actions = sorted(game.valid_actions())
                if greedy:
                    rewards = {}
                    for a in actions:
                        trial = copy.deepcopy(game)
                        rewards[a] = trial.step(a)[0]
                    best = max(rewards.values())
                    actions = [a for a in actions if rewards[a] >= best - 1e-6]
                game.step(rng.choice(actions))
            scores.append(game.game_score())
        return np.asarray(scores, np.float64)

    for name, greedy, games in (("random", False, 200), ("greedy", True, 60)):
        theirs = reference(greedy, games)
        mine = np.asarray(ours[name]["score"], np.float64)
        spread = np.sqrt(mine.var() / len(mine) + theirs.var() / len(theirs))
        assert abs(mine.mean() - theirs.mean()) < 4 * spread, (name, mine.mean(), theirs.mean(), spread)
