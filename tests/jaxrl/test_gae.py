"""GAE: hand-computed rollouts with termination and truncation, zero-sum signs, Monte-Carlo limit."""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

from jaxrl.ppo.gae import gae

# One compiled program per shape instead of many eager op dispatches.
jitted_gae = jax.jit(gae, static_argnames="method")


@pytest.fixture(autouse=True, params=("associative", "doubling"))
def method(request, monkeypatch):
    """Every test runs with both log-depth solvers of the recurrence."""
    monkeypatch.setattr(sys.modules[__name__], "METHOD", request.param)
    return request.param


METHOD = "associative"

# A [T=6, B=2] rollout, gamma = lambda = 0.5 (so gamma * lambda = 0.25).
#
# Column 0: episode A is steps 0-1 and terminates at t=1; episode B is steps
# 2-3 and is truncated at t=3, where the final observation is worth 4 while
# the next step's (reset) observation is worth values[4] = 0; episode C is
# steps 4-5 and is still running, bootstrapped from next_values[5] = 6.
# Column 1: terminated *and* truncated at t=2 (termination wins: no
# bootstrap), truncated at t=4 (final observation worth 8, values[5] = 1).
# At terminated steps next_values holds junk (7, 5) that must be ignored;
# elsewhere next_values[t] = values[t + 1], as a rollout without reset gives.
GAMMA, LAMBDA = 0.5, 0.5
REWARDS = np.array([[1, 0], [2, 1], [0, 2], [1, -2], [3, 1], [-1, 4]], np.float32)
VALUES = np.array([[0.5, 1], [1, 2], [2, 4], [1, 0], [0, 2], [2, 1]], np.float32)
NEXT_VALUES = np.array([[1, 2], [7, 4], [1, 5], [4, 2], [2, 8], [6, -2]], np.float32)
TERMINATED = np.array([[0, 0], [1, 0], [0, 1], [0, 0], [0, 0], [0, 0]], bool)
TRUNCATED = np.array([[0, 0], [0, 0], [0, 1], [1, 0], [0, 1], [0, 0]], bool)

# Worked by hand.  delta_t = r_t + 0.5 * V(next_t) * (1 - term_t) - V_t:
#   column 0: 1+0.5-0.5=1, 2-1=1, 0+0.5-2=-1.5, 1+2-1=2, 3+1-0=4, -1+3-2=0
#   column 1: 0+1-1=0, 1+2-2=1, 2-4=-2, -2+1-0=-1, 1+4-2=3, 4-1-1=2
# A_t = delta_t + 0.25 * (1 - done_t) * A_{t+1}, backwards from A_6 = 0:
#   column 0: A5=0, A4=4, A3=2 (done), A2=-1.5+0.5=-1, A1=1 (done), A0=1+0.25=1.25
#   column 1: A5=2, A4=3 (done), A3=-1+0.75=-0.25, A2=-2 (done), A1=1-0.5=0.5, A0=0.125
EXPECTED_ADVANTAGES = np.array(
    [[1.25, 0.125], [1.0, 0.5], [-1.0, -2.0], [2.0, -0.25], [4.0, 3.0], [0.0, 2.0]], np.float32
)


def run_gae(rewards, values, next_values, terminated, truncated, gamma, lam, next_sign=None):
    advantages, targets = jitted_gae(
        np.asarray(rewards, np.float32),
        np.asarray(values, np.float32),
        np.asarray(next_values, np.float32),
        np.asarray(terminated, bool),
        np.asarray(truncated, bool),
        gamma,
        lam,
        None if next_sign is None else np.asarray(next_sign, np.float32),
        method=METHOD,
    )
    return np.asarray(advantages), np.asarray(targets)


def lambda_returns(rewards, next_values, terminated, truncated, gamma, lam, next_sign=None):
    """Reference: the recursive lambda-return, one env and one step at a time (plain Python).

    G_t = r_t                                               if terminated_t
        = r_t + gamma s_t V(next_t)                         if truncated_t or t = T-1
        = r_t + gamma s_t ((1 - lam) V(next_t) + lam G_{t+1})  otherwise
    where s_t = -1 when the opponent moves next (negamax: the next value is theirs).
    """
    num_steps, num_envs = rewards.shape
    sign = np.ones_like(rewards) if next_sign is None else next_sign
    returns = np.zeros((num_steps, num_envs), np.float64)
    for env in range(num_envs):
        following = 0.0
        for t in reversed(range(num_steps)):
            r, v_next, s = float(rewards[t, env]), float(next_values[t, env]), float(sign[t, env])
            if terminated[t, env]:
                g = r
            elif truncated[t, env] or t == num_steps - 1:
                g = r + gamma * s * v_next
            else:
                g = r + gamma * s * ((1 - lam) * v_next + lam * following)
            returns[t, env] = following = g
    return returns


def random_rollout(rng, num_steps, num_envs, done_prob=0.2):
    """Random rewards/values/flags with next_values[t] = values[t+1] wherever no episode ended."""
    rewards = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    values = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    terminated = rng.random((num_steps, num_envs)) < done_prob
    truncated = rng.random((num_steps, num_envs)) < done_prob
    done = terminated | truncated
    next_values = rng.normal(size=(num_steps, num_envs)).astype(np.float32)  # final-observation values
    next_values[:-1] = np.where(done[:-1], next_values[:-1], values[1:])
    return rewards, values, next_values, terminated, truncated


def test_hand_computed_rollout_with_termination_and_truncation():
    advantages, targets = run_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    np.testing.assert_allclose(advantages, EXPECTED_ADVANTAGES, atol=1e-6)
    np.testing.assert_allclose(targets, EXPECTED_ADVANTAGES + VALUES, atol=1e-6)


def test_truncation_bootstraps_from_final_observation_not_next_step():
    advantages, _ = run_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    # Column 0, t=3: r + gamma * V(final_obs) - V = 1 + 0.5 * 4 - 1 = 2.
    # Bootstrapping from the reset observation (values[4] = 0) would give 0.
    assert advantages[3, 0] == pytest.approx(2.0)
    # Column 1, t=4: 1 + 0.5 * 8 - 2 = 3 (not 1 + 0.5 * values[5] - 2 = -0.5).
    assert advantages[4, 1] == pytest.approx(3.0)
    # The bootstrap is linear in the final-observation value with slope gamma.
    bumped = NEXT_VALUES.copy()
    bumped[3, 0] += 10.0
    advantages_bumped, _ = run_gae(REWARDS, VALUES, bumped, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    assert advantages_bumped[3, 0] - advantages[3, 0] == pytest.approx(GAMMA * 10.0)


def test_termination_does_not_bootstrap():
    advantages, _ = run_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    # Terminal steps: A = r - V exactly (column 1 t=2 is terminated and truncated at once).
    assert advantages[1, 0] == pytest.approx(REWARDS[1, 0] - VALUES[1, 0])
    assert advantages[2, 1] == pytest.approx(REWARDS[2, 1] - VALUES[2, 1])
    # The junk next_values at terminated steps change nothing anywhere.
    junk = NEXT_VALUES.copy()
    junk[1, 0] = -1000.0
    junk[2, 1] = 1000.0
    advantages_junk, _ = run_gae(REWARDS, VALUES, junk, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    np.testing.assert_array_equal(advantages_junk, advantages)


@pytest.mark.parametrize(
    ("column", "boundary"),
    [(0, 2), (0, 4), (1, 3), (1, 5)],  # first step of a new episode
)
def test_no_leakage_across_episode_boundaries(column, boundary):
    advantages, _ = run_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    rewards, values, next_values = REWARDS.copy(), VALUES.copy(), NEXT_VALUES.copy()
    rewards[boundary:, column] += 100.0
    values[boundary:, column] -= 50.0
    next_values[boundary:, column] += 30.0
    # Keep the step before the boundary's next_values: it is the old episode's final observation.
    perturbed, _ = run_gae(rewards, values, next_values, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    np.testing.assert_array_equal(perturbed[:boundary, column], advantages[:boundary, column])
    assert not np.allclose(perturbed[boundary:, column], advantages[boundary:, column])
    # The other env is untouched.
    np.testing.assert_array_equal(perturbed[:, 1 - column], advantages[:, 1 - column])


def test_running_episode_bootstraps_at_rollout_end():
    advantages, _ = run_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    # Column 1, last step: 4 + 0.5 * (-2) - 1 = 2, nothing follows.
    assert advantages[5, 1] == pytest.approx(2.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.9, 0.0), (0.8, 1.0)])
def test_random_rollouts_match_lambda_return_recursion(seed, gamma, lam):
    rng = np.random.default_rng(seed)
    rewards, values, next_values, terminated, truncated = random_rollout(rng, 12, 5)
    advantages, targets = run_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    expected = lambda_returns(rewards, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(targets, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, expected - values, rtol=1e-5, atol=1e-5)


def test_gamma_one_lambda_one_gives_monte_carlo_returns():
    # Every episode ends by termination inside the rollout, so the targets are
    # plain undiscounted reward-to-go and do not depend on the critic at all.
    rng = np.random.default_rng(3)
    num_steps, num_envs = 8, 3
    rewards = rng.integers(-3, 4, size=(num_steps, num_envs)).astype(np.float32)
    terminated = np.zeros((num_steps, num_envs), bool)
    terminated[[2, 7], 0] = True
    terminated[[0, 4, 7], 1] = True
    terminated[7, 2] = True
    truncated = np.zeros_like(terminated)
    values = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    next_values = np.concatenate([values[1:], rng.normal(size=(1, num_envs))]).astype(np.float32)

    reward_to_go = np.zeros((num_steps, num_envs))
    for env in range(num_envs):
        for t in range(num_steps):
            total = 0.0
            for u in range(t, num_steps):
                total += rewards[u, env]
                if terminated[u, env]:
                    break
            reward_to_go[t, env] = total

    advantages, targets = run_gae(rewards, values, next_values, terminated, truncated, 1.0, 1.0)
    np.testing.assert_allclose(targets, reward_to_go, atol=1e-5)
    np.testing.assert_allclose(advantages, reward_to_go - values, atol=1e-5)


def test_zero_sum_negamax_hand_computed():
    # One board, alternating movers (next_sign = -1 every step), gamma = lambda = 1.
    # Game 1 is steps 0-3: the mover at t=3 wins (+1, mover's view) and it terminates.
    # Game 2 is steps 4-5 and still running; the position after t=5 is worth 0.3
    # to the player who moves next (the opponent of the t=5 mover).
    # Negamax by hand, G_t = r_t - G_{t+1}:
    #   G3 = 1, G2 = 0 - 1 = -1, G1 = 0 + 1 = 1, G0 = -1   (the t=3 mover also moved at t=1)
    #   G5 = 0 - 0.3 = -0.3, G4 = 0 + 0.3 = 0.3
    rewards = np.array([[0], [0], [0], [1], [0], [0]], np.float32)
    terminated = np.array([[0], [0], [0], [1], [0], [0]], bool)
    truncated = np.zeros_like(terminated)
    sign = -np.ones((6, 1), np.float32)
    values = np.array([[0.2], [-0.1], [0.4], [0.5], [0.1], [-0.2]], np.float32)
    next_values = np.array([[-0.1], [0.4], [0.5], [9.0], [-0.2], [0.3]], np.float32)
    expected_targets = np.array([[-1.0], [1.0], [-1.0], [1.0], [0.3], [-0.3]], np.float32)

    advantages, targets = run_gae(rewards, values, next_values, terminated, truncated, 1.0, 1.0, sign)
    np.testing.assert_allclose(targets, expected_targets, atol=1e-6)
    np.testing.assert_allclose(advantages, expected_targets - values, atol=1e-6)

    # Without the sign flip the loser would be credited with the win.
    _, targets_unsigned = run_gae(rewards, values, next_values, terminated, truncated, 1.0, 1.0)
    assert targets_unsigned[0, 0] == pytest.approx(1.0)


def test_zero_sum_truncation_bootstrap_is_negated():
    # Truncated after t=0 with the opponent to move in the final position,
    # which is worth 0.6 to them: A_0 = r + gamma * (-1) * 0.6 - V = 0.1 - 0.54 - 0.2.
    advantages, _ = run_gae(
        [[0.1], [0.0]], [[0.2], [0.0]], [[0.6], [0.0]], [[False], [False]], [[True], [False]],
        0.9, 0.95, [[-1.0], [-1.0]],
    )
    assert advantages[0, 0] == pytest.approx(0.1 - 0.9 * 0.6 - 0.2)


@pytest.mark.parametrize("seed", [0, 1])
def test_zero_sum_random_rollouts_match_negamax_lambda_returns(seed):
    # Mostly alternating movers, sometimes the same player moves again (+1).
    rng = np.random.default_rng(10 + seed)
    rewards, values, next_values, terminated, truncated = random_rollout(rng, 10, 4)
    sign = np.where(rng.random((10, 4)) < 0.8, -1.0, 1.0).astype(np.float32)
    advantages, targets = run_gae(rewards, values, next_values, terminated, truncated, 0.97, 0.9, sign)
    expected = lambda_returns(rewards, next_values, terminated, truncated, 0.97, 0.9, sign)
    np.testing.assert_allclose(targets, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, expected - values, rtol=1e-5, atol=1e-5)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown GAE method"):
        gae(*(np.zeros((4, 2), np.float32),) * 3, *(np.zeros((4, 2), bool),) * 2, 0.9, 0.9, method="sequential")
