"""Trained policies: `load_policy` from a run or a checkpoint, and `python -m jaxrl.evaluate`."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import runs

RESULT_LINE = re.compile(r"^CartPole-v1: mean return (\S+) ± (\S+) over (\d+) episodes$", re.MULTILINE)


def _observations(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-0.2, 0.2, size=(count, 4)).astype(np.float32)


def test_load_policy_single_and_batched(finished_base_run):
    from jaxrl.evaluate import load_policy
    from jaxrl.run.rundir import restore_run

    act = load_policy(finished_base_run)
    obs = _observations(7)

    single = act(obs[0])
    assert single.shape == () and jnp.issubdtype(single.dtype, jnp.integer)
    assert int(single) in (0, 1)

    batch = act(obs)
    assert batch.shape == (7,) and batch.dtype == single.dtype
    assert set(np.asarray(batch).tolist()) <= {0, 1}
    assert [int(act(o)) for o in obs] == np.asarray(batch).tolist()  # one by one == batched

    # Deterministic: the most likely action of the restored final policy.
    algo, state, _ = restore_run(finished_base_run, report=pytest.fail)
    logits_mode = algo.policy(state.params, jnp.asarray(obs)).mode()
    np.testing.assert_array_equal(np.asarray(batch), np.asarray(logits_mode))
    np.testing.assert_array_equal(np.asarray(act(obs, jax.random.PRNGKey(3))), np.asarray(batch))  # key ignored


def test_load_policy_from_a_checkpoint_directory(finished_base_run):
    from jaxrl.evaluate import load_policy
    from jaxrl.run.rundir import restore_run

    obs = jnp.asarray(_observations(64))
    act = load_policy(finished_base_run / "checkpoints" / "16")
    algo, state, meta = restore_run(finished_base_run / "checkpoints" / "16", report=pytest.fail)
    assert meta["update"] == 16
    np.testing.assert_array_equal(np.asarray(act(obs)), np.asarray(algo.policy(state.params, obs).mode()))


def test_load_policy_stochastic_samples_with_a_key(finished_base_run):
    from jaxrl.evaluate import load_policy

    act = load_policy(finished_base_run, deterministic=False)
    obs = np.zeros((256, 4), np.float32)
    a1, a2 = act(obs, jax.random.PRNGKey(1)), act(obs, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))  # same key, same sample
    assert a1.shape == (256,) and set(np.asarray(a1).tolist()) == {0, 1}  # an early policy is still stochastic
    assert act(obs[0], jax.random.PRNGKey(2)).shape == ()


def test_evaluate_cli(finished_base_run, cli_env, tmp_path):
    video = tmp_path / "episode.gif"
    result = runs.run_module("jaxrl.evaluate", [finished_base_run, "--episodes", "4", "--video", video, "--fps", "50"],
                             cli_env, timeout=120)
    assert result.returncode == 0, runs.describe(result)
    from PIL import Image

    steps = int(re.search(r"video: (\d+) steps, return ([\d.]+), (\d+) frames at 50 fps", result.stdout).group(1))
    with Image.open(video) as gif:
        assert gif.n_frames == steps + 1 and gif.size == (600, 400)
    match = RESULT_LINE.search(result.stdout)
    assert match, result.stdout
    mean, _, episodes = float(match.group(1)), float(match.group(2)), int(match.group(3))
    assert episodes == 4 and 1 <= mean <= 500


@pytest.mark.parametrize("args", [["--episodes", "0"], []], ids=["zero-episodes", "not-a-run"])
def test_evaluate_cli_errors_are_one_line(tmp_path, cli_env, finished_base_run, args):
    target = finished_base_run if args else tmp_path
    result = runs.run_module("jaxrl.evaluate", [target, *args], cli_env, timeout=120)
    assert result.returncode == 2, runs.describe(result)
    lines = runs.nonempty_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), runs.describe(result)
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_trained_cartpole_policy_reaches_its_logged_return(tmp_path, cli_env):
    """Default CartPole config for ~150k steps, then evaluate the saved policy on 20 fresh episodes.

    The run's last logged ``eval/episode_return`` (16 episodes) and `jaxrl.evaluate` (20 episodes) use
    the same final parameters and the same deterministic policy; they differ only in which start states
    are drawn. So they are two sample means of one return distribution, and their difference has
    standard deviation sigma * sqrt(1/16 + 1/20) ~ 0.34 sigma. We allow 3 of those (a false failure
    about 0.3% of the time for a normal difference), estimating sigma by the evaluation's sample std,
    floored at 25 (5% of the 500 cap) because 20 episodes of a near-solved policy can show std 0.
    """
    run_dir = tmp_path / "cartpole"
    trained = runs.train(["--total-timesteps", "150000", "--run-dir", run_dir], cli_env, timeout=600)
    assert trained.returncode == 0, runs.describe(trained)
    logged = [r["eval/episode_return"] for r in runs.read_metrics(run_dir) if "eval/episode_return" in r]
    assert logged, "the default config evaluates at the end of the run"
    final_logged = logged[-1]
    assert final_logged > 150, f"the default config did not learn CartPole in 150k steps ({logged})"

    result = runs.run_module("jaxrl.evaluate", [run_dir, "--episodes", "20"], cli_env, timeout=300)
    assert result.returncode == 0, runs.describe(result)
    match = RESULT_LINE.search(result.stdout)
    assert match and int(match.group(3)) == 20, result.stdout
    mean, std = float(match.group(1)), float(match.group(2))
    tolerance = 3 * max(std, 25.0) * math.sqrt(1 / 16 + 1 / 20)
    assert abs(mean - final_logged) <= tolerance, (
        f"evaluate: {mean:.1f} ± {std:.1f} (20 episodes), logged eval {final_logged:.1f}, tolerance {tolerance:.1f}"
    )


def test_evaluate_names_the_checkpoint(finished_base_run, cli_env):
    result = runs.run_module("jaxrl.evaluate", [finished_base_run, "--episodes", "2"], cli_env, timeout=120)
    assert result.returncode == 0, runs.describe(result)
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"checkpoint {finished_base_run / 'checkpoints'}") and "(update 32," in first


def test_evaluate_reports_every_seed_of_a_multi_seed_run(tmp_path, cli_env):
    run_dir = tmp_path / "seeds"
    trained = runs.train([*runs.TINY_TOTAL[:1], "512", *runs.TINY, "--num-seeds", "2", "--run-dir", run_dir], cli_env)
    assert trained.returncode == 0, runs.describe(trained)
    every = runs.run_module("jaxrl.evaluate", [run_dir, "--episodes", "2"], cli_env, timeout=120)
    assert every.returncode == 0, runs.describe(every)
    assert "seed 0 of 2" in every.stdout and "seed 1 of 2" in every.stdout
    assert len(RESULT_LINE.findall(every.stdout)) == 2
    one = runs.run_module("jaxrl.evaluate", [run_dir, "--episodes", "2", "--seed-index", "1"], cli_env, timeout=120)
    assert one.returncode == 0 and "seed 1 of 2" in one.stdout and "seed 0 of 2" not in one.stdout
    assert len(RESULT_LINE.findall(one.stdout)) == 1
    bad = runs.run_module("jaxrl.evaluate", [run_dir, "--seed-index", "2"], cli_env, timeout=120)
    assert bad.returncode == 2 and runs.nonempty_lines(bad.stderr) == [
        "error: --seed-index 2 is out of range: the run trained 2 seeds (0..1)"]
