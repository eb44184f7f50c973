"""Connect Four: rules on known positions, the game contract, and step-for-step equality with numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers
from envs.games import connect_four
from envs.games.connect_four import COLS, ROWS, ConnectFour, render

ENV = ConnectFour()
PARAMS = ENV.default_params
KEY = jax.random.key(0)
STEP = jax.jit(ENV.step_env)
RESET = jax.jit(ENV.reset_env)


def play_moves(moves):
    """Plays ``moves`` from the start; returns the list of step outputs and the final state."""
    _, state = RESET(KEY, PARAMS)
    outputs = []
    for action in moves:
        obs, state, reward, terminated, truncated, info = STEP(KEY, state, action, PARAMS)
        outputs.append((obs, state, reward, terminated, truncated, info))
    return outputs, state


def mirror(moves):
    return [COLS - 1 - move for move in moves]


# -- an independent numpy implementation ----------------------------------------------


class ReferenceGame:
    """Plain Python/numpy Connect Four: scans outwards from the last stone for a line of four."""

    def __init__(self):
        self.board = np.full((ROWS, COLS), -1, np.int64)  # row 0 on top
        self.player = 0
        self.done = False
        self.winner = -1

    def legal_mask(self):
        return np.ones(COLS, bool) if self.done else self.board[0] == -1

    def _four_through(self, row, col):
        stone = self.board[row, col]
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            count = 1
            for sign in (1, -1):
                r, c = row + sign * dr, col + sign * dc
                while 0 <= r < ROWS and 0 <= c < COLS and self.board[r, c] == stone:
                    count += 1
                    r, c = r + sign * dr, c + sign * dc
            if count >= 4:
                return True
        return False

    def step(self, action):
        """Returns ``(reward[2], winner_this_step, draw_this_step)``."""
        reward = np.zeros(2, np.float32)
        if self.done:
            return reward, -1, False
        mover = self.player
        self.player = 1 - mover
        draw = False
        if not 0 <= action < COLS or self.board[0, action] != -1:
            self.done, self.winner = True, 1 - mover
        else:
            row = max(r for r in range(ROWS) if self.board[r, action] == -1)
            self.board[row, action] = mover
            if self._four_through(row, action):
                self.done, self.winner = True, mover
            elif (self.board != -1).all():
                self.done, draw = True, True
        if self.winner >= 0:
            reward[self.winner], reward[1 - self.winner] = 1.0, -1.0
        return reward, self.winner, draw

    def observation(self):
        return np.stack([self.board == self.player, self.board == 1 - self.player], -1).astype(np.float32)


# -- wins, draws, illegal moves -----------------------------------------------------------

# Winning sequences (0-based columns); the last move wins, none before it ends the game.
WINS_SEAT_0 = {
    "horizontal": [0, 0, 1, 1, 2, 2, 3],
    "vertical": [0, 1, 0, 1, 0, 1, 0],
    "diagonal_rising": [0, 1, 1, 2, 2, 3, 2, 3, 6, 3, 3],
    "diagonal_falling": mirror([0, 1, 1, 2, 2, 3, 2, 3, 6, 3, 3]),
}
WINS_SEAT_1 = {
    "horizontal": [0, 1, 0, 2, 6, 3, 6, 4],
    "vertical": [0, 1, 0, 1, 2, 1, 6, 1],
    "diagonal_rising": [5, 0, 1, 1, 2, 2, 3, 2, 3, 6, 3, 3],
    "diagonal_falling": mirror([5, 0, 1, 1, 2, 2, 3, 2, 3, 6, 3, 3]),
}
WIN_CASES = [(0, name, moves) for name, moves in WINS_SEAT_0.items()] + [
    (1, name, moves) for name, moves in WINS_SEAT_1.items()
]


@pytest.mark.parametrize("seat,direction,moves", WIN_CASES, ids=[f"seat{s}-{d}" for s, d, _ in WIN_CASES])
def test_wins(seat, direction, moves):
    outputs, state = play_moves(moves)
    for _, _, reward, terminated, _, info in outputs[:-1]:
        assert not terminated and int(info["winner"]) == -1
        np.testing.assert_array_equal(reward, [0.0, 0.0])
    _, state, reward, terminated, truncated, info = outputs[-1]
    assert bool(terminated) and not bool(truncated)
    assert int(info["winner"]) == seat and int(state.winner) == seat and not bool(info["draw"])
    expected = np.full(2, -1.0)
    expected[seat] = 1.0
    np.testing.assert_array_equal(reward, expected)
    assert reward.dtype == jnp.float32 and reward.shape == (2,)
    assert int(state.move_count) == len(moves)
    assert bool(jnp.all(state.legal_action_mask))


# Filled column by column (mostly); the final board has no four in a row anywhere.
DRAW_MOVES = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 4, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3,
              3, 3, 4, 3, 3, 4, 4, 4, 6, 5, 5, 5, 5, 6, 5, 5, 6, 6, 6, 6, 4]  # fmt: skip
DRAW_BOARD = """\
O X X O O X X
X O O X X O O
O O X X O O X
X X O O X X O
O O X X O O X
X X O O X X O
1 2 3 4 5 6 7"""


def test_full_board_draw():
    outputs, state = play_moves(DRAW_MOVES)
    assert not any(bool(terminated) for _, _, _, terminated, _, _ in outputs[:-1])
    _, state, reward, terminated, _, info = outputs[-1]
    assert bool(terminated) and bool(info["draw"]) and int(info["winner"]) == -1
    assert int(state.winner) == -1
    np.testing.assert_array_equal(reward, [0.0, 0.0])
    assert render(state) == DRAW_BOARD
    assert int(state.move_count) == ROWS * COLS


@pytest.mark.parametrize("action", [0, 7, -1, 100])
@pytest.mark.parametrize("mover", [0, 1])
def test_illegal_move_loses_for_the_mover(action, mover):
    # Column 0 full (X O X O X O from the bottom), then an extra move by seat 1 if needed.
    moves = [0] * ROWS + ([3] if mover == 1 else [])
    _, state = play_moves(moves)
    assert int(state.current_player) == mover and not bool(state.legal_action_mask[0])
    _obs, after, reward, terminated, _, info = STEP(KEY, state, action, PARAMS)
    assert bool(terminated)
    assert int(info["winner"]) == 1 - mover and int(after.winner) == 1 - mover
    expected = np.full(2, 1.0)
    expected[mover] = -1.0
    np.testing.assert_array_equal(reward, expected)
    np.testing.assert_array_equal(after.board, state.board)  # no stone placed
    assert bool(jnp.all(after.legal_action_mask))


def test_terminal_state_is_absorbing():
    outputs, state = play_moves(WINS_SEAT_0["horizontal"])
    _, _, reward, _, _, _ = outputs[-1]
    assert float(jnp.sum(reward)) == 0.0
    assert bool(jnp.all(ENV.action_mask(state, PARAMS)))
    for action in (0, 3, 6, 9):
        obs, again, reward, terminated, truncated, info = STEP(KEY, state, action, PARAMS)
        assert bool(terminated) and not bool(truncated)
        np.testing.assert_array_equal(reward, [0.0, 0.0])
        assert int(info["winner"]) == -1 and not bool(info["draw"])
        jax.tree.map(np.testing.assert_array_equal, again, state)
        np.testing.assert_array_equal(obs, ENV.get_obs(state))


def test_observation_perspective_flips():
    obs, state = RESET(KEY, PARAMS)
    assert obs.shape == (ROWS, COLS, 2) and obs.dtype == jnp.float32
    assert not bool(jnp.any(obs)) and int(ENV.current_player(state, PARAMS)) == 0
    obs, state, *_ = STEP(KEY, state, 3, PARAMS)  # X at the bottom of column 3 (0-based)
    assert int(ENV.current_player(state, PARAMS)) == 1
    assert not bool(jnp.any(obs[..., 0]))  # O has no stones yet
    assert float(obs[ROWS - 1, 3, 1]) == 1.0 and float(jnp.sum(obs)) == 1.0
    obs, state, *_ = STEP(KEY, state, 3, PARAMS)  # O on top of it
    assert int(ENV.current_player(state, PARAMS)) == 0
    assert float(obs[ROWS - 1, 3, 0]) == 1.0 and float(obs[ROWS - 2, 3, 1]) == 1.0
    assert float(jnp.sum(obs)) == 2.0
    # The same board seen by each seat: the planes swap.
    flipped = connect_four.planes(state.board, 1)
    np.testing.assert_array_equal(flipped, obs[..., ::-1])


def test_has_four_on_every_line():
    lines = []
    for row in range(ROWS):
        for col in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(row + k * dr, col + k * dc) for k in range(4)]
                if all(0 <= r < ROWS and 0 <= c < COLS for r, c in cells):
                    lines.append(cells)
    assert len(lines) == 69
    full = np.zeros((len(lines), ROWS, COLS), bool)
    for index, cells in enumerate(lines):
        for r, c in cells:
            full[index, r, c] = True
    assert bool(jnp.all(connect_four.has_four(jnp.asarray(full))))
    broken = full.copy()
    for index, cells in enumerate(lines):
        r, c = cells[index % 4]
        broken[index, r, c] = False
    assert not bool(jnp.any(connect_four.has_four(jnp.asarray(broken))))


# -- equality with the numpy implementation ----------------------------------------------


def test_matches_numpy_reference_on_random_games():
    num_games = 2000
    rng = np.random.default_rng(0)
    keys = jax.random.split(KEY, num_games)
    _, state = jax.vmap(ENV.reset_env, in_axes=(0, None))(keys, PARAMS)
    step = jax.jit(jax.vmap(ENV.step_env, in_axes=(0, 0, 0, None)))
    games = [ReferenceGame() for _ in range(num_games)]
    # A quarter of the games may also try any column, or one off the board.
    wild = np.arange(num_games) % 4 == 0
    outcomes = np.zeros(3, int)  # seat 0 wins, seat 1 wins, draws
    for _ in range(ROWS * COLS + 2):
        masks = np.stack([game.legal_mask() for game in games])
        np.testing.assert_array_equal(state.legal_action_mask, masks)
        legal_pick = np.argmax(np.where(masks, rng.random(masks.shape), -1.0), axis=1)
        any_pick = rng.integers(-1, COLS + 1, num_games)
        actions = np.where(wild & (rng.random(num_games) < 0.1), any_pick, legal_pick).astype(np.int32)

        obs, state, reward, terminated, truncated, info = step(keys, state, jnp.asarray(actions), PARAMS)
        results = [game.step(int(action)) for game, action in zip(games, actions)]
        np.testing.assert_array_equal(np.asarray(state.board), np.stack([g.board for g in games]))
        np.testing.assert_array_equal(state.current_player, [g.player for g in games])
        np.testing.assert_array_equal(terminated, [g.done for g in games])
        np.testing.assert_array_equal(state.winner, [g.winner for g in games])
        np.testing.assert_array_equal(reward, np.stack([r for r, _, _ in results]))
        np.testing.assert_array_equal(info["winner"], [w for _, w, _ in results])
        np.testing.assert_array_equal(info["draw"], [d for _, _, d in results])
        np.testing.assert_array_equal(obs, np.stack([g.observation() for g in games]))
        assert not np.any(truncated)
        outcomes += [np.sum(info["winner"] == 0), np.sum(info["winner"] == 1), np.sum(info["draw"])]
    assert all(game.done for game in games)
    assert outcomes[0] > 100 and outcomes[1] > 100


# -- jit / vmap invariants, wrappers, registry, render ----------------------------------


def test_jit_vmap_and_eager_agree():
    moves = np.array([WINS_SEAT_0["diagonal_rising"][:10], WINS_SEAT_1["vertical"] + [5, 5]])
    batch = len(moves)
    keys = jax.random.split(KEY, batch)
    _, batched = jax.jit(jax.vmap(ENV.reset_env, in_axes=(0, None)))(keys, PARAMS)
    step = jax.jit(jax.vmap(ENV.step_env, in_axes=(0, 0, 0, None)))
    singles = [ENV.reset(key, PARAMS)[1] for key in keys]
    for t in range(moves.shape[1]):
        out_batched = step(keys, batched, jnp.asarray(moves[:, t]), PARAMS)
        batched = out_batched[1]
        for game in range(batch):
            # Eager (unjitted) single-game step: the same outputs as one row of the batch.
            with jax.disable_jit():
                out_single = ENV.step_env(keys[game], singles[game], moves[game, t], PARAMS)
            singles[game] = out_single[1]
            row = jax.tree.map(lambda x, g=game: x[g], out_batched)
            jax.tree.map(np.testing.assert_array_equal, row, out_single)


def test_spaces_shapes_dtypes_and_registry():
    env, params = envs.make("ConnectFour-v0")
    assert isinstance(env, ConnectFour) and env.version == 1 and env.num_players == 2
    assert env.action_space(params).n == COLS
    obs, state = env.reset(KEY, params)
    assert bool(env.observation_space(params).contains(obs))
    assert state.board.shape == (ROWS, COLS) and state.legal_action_mask.shape == (COLS,)
    assert state.legal_action_mask.dtype == jnp.bool_ and bool(jnp.all(state.legal_action_mask))
    for field in (state.current_player, state.move_count, state.winner):
        assert field.shape == () and field.dtype == jnp.int32
    # The step key does not matter: the game is deterministic.
    out_a = STEP(jax.random.key(1), state, 4, params)
    out_b = STEP(jax.random.key(2), state, 4, params)
    jax.tree.map(np.testing.assert_array_equal, out_a, out_b)


def test_auto_reset_and_episode_statistics_scan():
    env = wrappers.AutoReset(wrappers.EpisodeStatistics(ConnectFour()))
    num_games, num_steps = 64, 60

    def random_step(carry, key):
        state = carry
        mask = env.action_mask(state, PARAMS)
        action_key, step_key = jax.random.split(key)
        action = jax.random.categorical(action_key, jnp.where(mask, 0.0, -jnp.inf))
        _, state, reward, terminated, _, info = env.step(step_key, state, action, PARAMS)
        return state, (reward, terminated, info["returned_episode_returns"], info["returned_episode_lengths"])

    @jax.jit
    def run(key):
        _, state = env.reset(key, PARAMS)
        return jax.lax.scan(random_step, state, jax.random.split(key, num_steps))

    _, (reward, terminated, returns, lengths) = jax.vmap(run)(jax.random.split(KEY, num_games))
    terminated = np.asarray(terminated)
    assert terminated.sum() >= num_games  # every game of up to 42 moves ended at least once
    np.testing.assert_array_equal(np.sum(reward, axis=-1), 0.0)
    finished_returns = np.asarray(returns)[terminated]
    np.testing.assert_array_equal(finished_returns.sum(axis=-1), 0.0)
    assert set(np.unique(finished_returns[:, 0])) <= {-1.0, 0.0, 1.0}
    lengths = np.asarray(lengths)[terminated]
    assert lengths.min() >= 7 and lengths.max() <= ROWS * COLS


def test_render_known_position():
    _, state = play_moves([3, 3, 2, 4])
    expected = "\n".join(
        [". . . . . . ."] * 4
        + [
            ". . . O . . .",
            ". . X X O . .",
            "1 2 3 4 5 6 7",
        ]
    )
    assert render(state) == expected
    assert ConnectFour().render(state) == expected
    _, empty = ENV.reset(KEY, PARAMS)
    assert render(empty).splitlines()[:ROWS] == [". . . . . . ."] * ROWS
