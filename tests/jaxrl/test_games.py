"""Self-play bookkeeping on hand-built Connect Four games: seats, zero-sum GAE signs, outcome counts,
matches between scripted policies, the opponent pool and Elo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.games.connect_four import ConnectFour
from jaxrl import games, ppo, seats
from jaxrl.config import PPOConfig
from jaxrl.games.opponents import random_opponent
from jaxrl.ppo import gae

ENV = ConnectFour()
PARAMS = ENV.default_params
KEY = jax.random.PRNGKey(0)

# Scripted games (0-based columns), seat 0 ("X", black) moves first.
BLACK_WINS = [0, 1, 0, 1, 0, 1, 0]  # X completes column 0 on move 7
WHITE_WINS = [0, 1, 0, 1, 2, 1, 6, 1]  # O completes column 1 on move 8
DRAW = [5, 5, 5, 0, 5, 4, 4, 6, 6, 3, 5, 1, 3, 5, 2, 1, 2, 3, 0, 4, 1,
        4, 3, 0, 2, 2, 2, 1, 0, 0, 0, 2, 1, 6, 1, 3, 4, 4, 3, 6, 6, 6]  # fills the board, no four
ILLEGAL = [0] * 7  # the column fills after six alternating stones; X's seventh stone is illegal: X loses


def learner_env():
    """The env stack PPO trains on (AutoReset over EpisodeStatistics)."""
    return ppo.build_env(PPOConfig(env="ConnectFour-v0"))


def scripted_rollout(env, env_params, scripts: list[list[int]], num_steps: int) -> dict[str, np.ndarray]:
    """Steps one env per script through ``env`` (``[T, B]`` outputs), as the learner's rollout does.

    Each env plays its script and then keeps playing column 3 after the auto-reset.
    """
    actions = np.full((num_steps, len(scripts)), 3, np.int32)
    for b, script in enumerate(scripts):
        actions[: len(script), b] = script
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(KEY, len(scripts)), env_params)

    def step(state, action):
        player = jax.vmap(env.current_player, in_axes=(0, None))(state, env_params)
        keys = jax.random.split(KEY, len(scripts))
        _, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, env_params
        )
        out = {
            "player": player, "seat_reward": reward, "terminated": terminated, "truncated": truncated,
            "final_player": info["final_player"], "done": info["returned_episode"],
            "mover_reward": seats.mover_reward(reward, player),
            "next_sign": seats.next_sign(player, info["final_player"]),
        }
        return state, out

    _, out = jax.jit(lambda s, a: jax.lax.scan(step, s, a))(state, jnp.asarray(actions))
    return jax.tree.map(np.asarray, out)


# -- seats -------------------------------------------------------------------------------


def test_mover_reward_and_next_sign_hand_built():
    seat_reward = jnp.array([[0.0, 0.0], [1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]])
    player = jnp.array([0, 0, 0, 1])
    np.testing.assert_array_equal(seats.mover_reward(seat_reward, player), [0.0, 1.0, -1.0, -1.0])
    np.testing.assert_array_equal(seats.next_sign(jnp.array([0, 1, 0, 1]), jnp.array([1, 0, 0, 1])),
                                  [-1.0, -1.0, 1.0, 1.0])


def test_seat_bookkeeping_on_scripted_games():
    env, env_params = learner_env()
    out = scripted_rollout(env, env_params, [BLACK_WINS, WHITE_WINS], num_steps=9)
    # Seats alternate from X; after the end the auto-reset starts the next game with X again.
    np.testing.assert_array_equal(out["player"][:, 0], [0, 1, 0, 1, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(out["player"][:, 1], [0, 1, 0, 1, 0, 1, 0, 1, 0])
    # Only the winning move is rewarded, +1 to the mover (whichever seat it is); per seat +1 / -1.
    np.testing.assert_array_equal(out["mover_reward"][:, 0], [0, 0, 0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(out["mover_reward"][:, 1], [0, 0, 0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(out["seat_reward"][6, 0], [1.0, -1.0])
    np.testing.assert_array_equal(out["seat_reward"][7, 1], [-1.0, 1.0])
    # The opponent moves next after every move, the final one included (final_player is pre-reset).
    np.testing.assert_array_equal(out["next_sign"], -1.0)
    np.testing.assert_array_equal(out["final_player"], 1 - out["player"])
    np.testing.assert_array_equal(np.flatnonzero(out["terminated"][:, 0]), [6])
    np.testing.assert_array_equal(np.flatnonzero(out["terminated"][:, 1]), [7])


# -- zero-sum GAE --------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_gae_signs_on_a_scripted_two_player_game(gamma):
    env, env_params = learner_env()
    out = scripted_rollout(env, env_params, [BLACK_WINS], num_steps=7)
    zeros = np.zeros((7, 1), np.float32)
    advantages, targets = gae(
        jnp.asarray(out["mover_reward"]), jnp.asarray(zeros), jnp.asarray(zeros),
        jnp.asarray(out["terminated"]), jnp.asarray(out["truncated"]), gamma, 1.0, jnp.asarray(out["next_sign"]),
    )
    # By hand (negamax): the winner's moves (t = 0, 2, 4, 6) are worth +gamma^(6-t) to their mover,
    # the loser's (t = 1, 3, 5) -gamma^(6-t).
    expected = np.array([(-1.0) ** (6 - t) * gamma ** (6 - t) for t in range(7)], np.float32)[:, None]
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    # Without the sign, the loser's moves would be credited with the win.
    _, unsigned = gae(jnp.asarray(out["mover_reward"]), jnp.asarray(zeros), jnp.asarray(zeros),
                      jnp.asarray(out["terminated"]), jnp.asarray(out["truncated"]), gamma, 1.0)
    assert float(unsigned[1, 0]) > 0


def test_gae_sign_bootstraps_from_the_opponent_view_mid_game():
    # Two moves of a running game, values from each mover's view; the position after t=1 is worth
    # 0.5 to the seat to move there (X), so -0.5 to O who moved at t=1, +0.5 to X at t=0 (gamma 1).
    out_sign = jnp.array([[-1.0], [-1.0]])
    values = jnp.array([[0.1], [-0.2]])
    next_values = jnp.array([[-0.2], [0.5]])
    rewards = jnp.zeros((2, 1))
    flags = jnp.zeros((2, 1), bool)
    advantages, targets = gae(rewards, values, next_values, flags, flags, 1.0, 1.0, out_sign)
    np.testing.assert_allclose(targets[:, 0], [0.5, -0.5], rtol=1e-6)
    np.testing.assert_allclose(advantages[:, 0], [0.4, -0.3], rtol=1e-6)


# -- outcome counts ------------------------------------------------------------------------


def test_outcome_counts_on_scripted_games():
    env, env_params = learner_env()
    # Several games back to back in each env (the auto-reset starts the next one); env 1's last game
    # is still running at the end of the rollout and must not be counted.
    scripts = [BLACK_WINS + WHITE_WINS + DRAW, ILLEGAL + BLACK_WINS + BLACK_WINS + DRAW[:36]]
    assert len(scripts[0]) == len(scripts[1]) == 57
    out = scripted_rollout(env, env_params, scripts, num_steps=57)
    counts = jax.device_get(seats.outcome_counts(jnp.asarray(out["done"]), jnp.asarray(out["seat_reward"])))
    assert {k: int(v) for k, v in counts.items()} == {"games": 6, "black_wins": 3, "white_wins": 2, "draws": 1}
    metrics = jax.device_get(seats.outcome_metrics(jnp.asarray(out["done"]), jnp.asarray(out["seat_reward"])))
    assert float(metrics["black_wins_rate"]) == pytest.approx(3 / 6)
    assert float(metrics["draws_rate"]) == pytest.approx(1 / 6)


def test_outcome_counts_exact_on_scripted_games():
    env, env_params = learner_env()
    # Exactly as long as each script: no game starts after it.
    cases = [(BLACK_WINS, (1, 1, 0, 0)), (WHITE_WINS, (1, 0, 1, 0)), (DRAW, (1, 0, 0, 1)), (ILLEGAL, (1, 0, 1, 0))]
    for script, (num_games, black, white, draws) in cases:
        out = scripted_rollout(env, env_params, [script], num_steps=len(script))
        counts = jax.device_get(seats.outcome_counts(jnp.asarray(out["done"]), jnp.asarray(out["seat_reward"])))
        assert (int(counts["games"]), int(counts["black_wins"]), int(counts["white_wins"]), int(counts["draws"])) == (
            num_games, black, white, draws), script
    metrics = jax.device_get(seats.outcome_metrics(jnp.zeros((3, 2), bool), jnp.zeros((3, 2, 2))))
    assert int(metrics["games"]) == 0 and np.isnan(metrics["black_wins_rate"])


# -- matches -------------------------------------------------------------------------------


def column_policy(column: int) -> games.Policy:
    return lambda key, state, obs, mask: jnp.asarray(column, jnp.int32)


def script_policy(script: list[int]) -> games.Policy:
    moves = jnp.asarray(script, jnp.int32)
    return lambda key, state, obs, mask: moves[jnp.minimum(state.move_count, len(script) - 1)]


def match(policy_a, policy_b, num_games=8, **kwargs):
    """Counts ``[2]`` (policy_a as seat 0, then as seat 1), jit of vmap over the seat."""
    fn = jax.jit(jax.vmap(
        lambda seat: games.play_match(ENV, PARAMS, policy_a, policy_b, KEY, num_games, seat, **kwargs)
    ))
    return {k: np.asarray(v) for k, v in jax.device_get(fn(jnp.arange(2))).items()}


def test_play_match_scripted_wins_and_losses():
    # Column 0 against column 1: whoever moves first completes its column first.
    counts = match(column_policy(0), column_policy(1))
    np.testing.assert_array_equal(counts["wins"], [8, 0])
    np.testing.assert_array_equal(counts["losses"], [0, 8])
    np.testing.assert_array_equal(counts["draws"], [0, 0])


def test_play_match_illegal_move_loses_and_draws_count():
    # Both in column 0: the column fills without a four and the first player's 7th stone is illegal.
    counts = match(column_policy(0), column_policy(0), num_games=4)
    np.testing.assert_array_equal(counts["losses"], [4, 0])
    np.testing.assert_array_equal(counts["wins"], [0, 4])
    # Both follow the drawn game's script.
    counts = match(script_policy(DRAW), script_policy(DRAW), num_games=4)
    np.testing.assert_array_equal(counts["draws"], [4, 4])


def test_play_match_move_cap_counts_as_draw():
    counts = match(column_policy(0), column_policy(1), num_games=4, max_moves=5)
    np.testing.assert_array_equal(counts["draws"], [4, 4])


def test_play_match_random_openings():
    # With every move a random opening move, both scripts are ignored: random against random,
    # where the first player wins a little more than half the games.
    counts = match(column_policy(0), column_policy(0), num_games=1000, opening_moves=42)
    assert counts["wins"].sum() + counts["draws"].sum() + counts["losses"].sum() == 2000
    first_player_wins = counts["wins"][0] + counts["losses"][1]
    assert 0.48 < first_player_wins / 2000 < 0.62
    # Two openings then scripts: column 0 vs column 1 can now be disturbed, but every game is counted.
    counts = match(column_policy(0), column_policy(1), num_games=64, opening_moves=2)
    np.testing.assert_array_equal(counts["wins"] + counts["draws"] + counts["losses"], [64, 64])
    assert counts["losses"][0] < 64


def test_play_match_against_a_fixed_opponent_and_vmap_over_keys():
    rand = games.from_opponent(random_opponent(ENV, PARAMS))
    fn = jax.jit(jax.vmap(lambda key: games.play_match(ENV, PARAMS, column_policy(3), rand, key, 64, 0)))
    counts = jax.device_get(fn(jax.random.split(KEY, 3)))
    np.testing.assert_array_equal(counts["wins"] + counts["draws"] + counts["losses"], 64)
    assert (counts["wins"] > 32).all()  # stacking one column beats random play most of the time


def test_agent_policy_greedy_and_sampled_respect_the_mask():
    algo = ppo.make(PPOConfig(env="ConnectFour-v0", network="mlp", hidden_sizes=(16,)))
    state = algo.init(KEY)
    obs, game = ENV.reset(KEY, PARAMS)
    mask = jnp.zeros(7, bool).at[4].set(True)
    greedy = algo.agent_policy(algo.agent(state))
    sampled = algo.agent_policy(algo.agent(state), greedy=False)
    assert int(greedy(KEY, game, obs, mask)) == 4
    picks = jax.vmap(sampled, in_axes=(0, None, None, None))(jax.random.split(KEY, 32), game, obs, mask)
    np.testing.assert_array_equal(picks, 4)
    full = jnp.ones(7, bool)
    dist = algo.policy(state.params, obs[None], full[None])
    assert int(greedy(KEY, game, obs, full)) == int(dist.mode()[0])


# -- opponent pool ---------------------------------------------------------------------------


def test_opponent_pool_is_a_ring_buffer_on_device():
    params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3, jnp.int32)}
    pool = games.pool_init(params, capacity=3)
    assert pool.capacity == 3 and pool.size() == 0
    assert pool.params["w"].shape == (3, 2, 3) and pool.params["b"].dtype == jnp.int32
    add = jax.jit(games.pool_add)
    for i in range(1, 5):  # snapshots 1..4; the 4th replaces the 1st
        pool = add(pool, jax.tree.map(lambda x, i=i: jnp.full_like(x, i), params))
    assert pool.size() == 3 and int(pool.added) == 4
    np.testing.assert_array_equal(pool.params["w"][:, 0, 0], [4, 2, 3])
    member = jax.jit(games.pool_member)(pool, jnp.asarray(1))
    np.testing.assert_array_equal(member["b"], [2, 2, 2])
    with pytest.raises(ValueError, match="capacity"):
        games.pool_init(params, 0)


# -- Elo -------------------------------------------------------------------------------------


def test_elo_expected_and_update_hand_computed():
    assert games.elo_expected(1500, 1500) == pytest.approx(0.5)
    assert games.elo_expected(400, 0) == pytest.approx(1 / 1.1)
    assert games.elo_expected(0, 400) == pytest.approx(1 - 1 / 1.1)
    assert games.elo_update(1500, [(1500, 1.0)], k=32) == pytest.approx(1516)
    assert games.elo_update(1500, [(1500, 0.5)], k=32) == pytest.approx(1500)
    # The textbook tournament: 1613 loses to 1609, draws 1477, beats 1388 and 1586, loses to 1720.
    # Expected score 2.867 -> 1613 + 32 * (2.5 - 2.867) = 1601.
    results = [(1609, 0.0), (1477, 0.5), (1388, 1.0), (1586, 1.0), (1720, 0.0)]
    assert sum(games.elo_expected(1613, r) for r, _ in results) == pytest.approx(2.867, abs=1e-3)
    assert games.elo_update(1613, results, k=32) == pytest.approx(1601.25, abs=0.05)
    # Score rates count as one result each: 75% against an equal opponent is +k/4.
    assert games.elo_update(0.0, [(0.0, 0.75)], k=16) == pytest.approx(4.0)


def test_elo_update_games_one_game_at_a_time_hand_computed():
    # A win against an equal: +16. Then a loss against 1500 from 1516: expected 1 / (1 + 10^(-16/400)).
    expected = 1 / (1 + 10 ** (-16 / 400))
    assert expected == pytest.approx(0.52301, abs=1e-5)
    assert games.elo_update_games(1500, [(1500, 1.0)], k=32) == pytest.approx(1516)
    assert games.elo_update_games(1500, [(1500, 1.0), (1500, 0.0)], k=32) == pytest.approx(1516 - 32 * expected)
    assert games.elo_update_games(1500, [], k=32) == 1500
    # Many games at a fixed score rate settle near the rating whose expectation is that rate.
    record = [(0.0, 1.0)] * 9 + [(0.0, 0.0)]  # 90% against a player rated 0
    rating = 0.0
    for _ in range(200):
        rating = games.elo_update_games(rating, record, k=4)
    assert rating == pytest.approx(games.elo_from_score(0.9, 10**6), abs=30)


def test_elo_from_score_inverts_the_expectation():
    assert games.elo_from_score(0.5, 100) == pytest.approx(0.0)
    assert games.elo_from_score(1 / 1.1, 100, opponent_rating=100) == pytest.approx(500)
    perfect = games.elo_from_score(1.0, 100)
    assert np.isfinite(perfect) and games.elo_expected(perfect, 0) == pytest.approx(1 - 0.5 / 100)
