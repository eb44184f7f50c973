"""Connect Four: the pure rules on a 6x7 board, and the two-player `ConnectFour` env on top.

The first section holds rule functions on a bare board (no RL concepts); the
second wraps them in the game contract: seat to move, legal-action mask,
per-seat rewards, observation from the mover's perspective.

Board encoding: ``int8[6, 7]``, row 0 is the *top* row (the order `render`
prints), row 5 the bottom; a cell holds ``EMPTY`` (-1) or the seat index of
the stone (0 for the first player "X", 1 for the second "O"). Stones fall to
the lowest empty cell of their column.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import render as render_lib
from envs import spaces
from envs.games.base import TwoPlayerGame

ROWS = 6
COLS = 7
EMPTY = -1
CONNECT = 4

# Directions (row step, column step) of a line of four; row steps go downwards.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))

# -- pure rules -----------------------------------------------------------------------


def init() -> jax.Array:
    """The empty board, ``int8[6, 7]`` filled with ``EMPTY``."""
    return jnp.full((ROWS, COLS), EMPTY, jnp.int8)


def column_heights(board: jax.Array) -> jax.Array:
    """Stones in each column, ``int32[7]`` (assumes stones obey gravity)."""
    return jnp.sum(board != EMPTY, axis=0, dtype=jnp.int32)


def legal_moves(board: jax.Array) -> jax.Array:
    """Columns that can take another stone, ``bool[7]`` (their top cell is empty)."""
    return board[0] == EMPTY


def is_full(board: jax.Array) -> jax.Array:
    """No empty cell left, ``bool[]``."""
    return jnp.all(board != EMPTY)


def play(board: jax.Array, column: jax.Array, player: jax.Array) -> jax.Array:
    """Drops a stone of ``player`` (0 or 1) into ``column``; returns the new ``int8[6, 7]`` board.

    Written as one element-wise select (no dynamic indexing) so that it stays
    cheap under `vmap`. A full column, or a column outside ``[0, 7)``, leaves
    the board unchanged: callers decide what an illegal move means.
    """
    landing_row = ROWS - 1 - column_heights(board)  # [COLS]; -1 where the column is full
    rows = jnp.arange(ROWS)[:, None]
    cols = jnp.arange(COLS)[None, :]
    target = (rows == landing_row[None, :]) & (cols == column)
    return jnp.where(target, jnp.asarray(player, jnp.int8), board)


def has_four(stones: jax.Array) -> jax.Array:
    """Whether ``stones`` (``bool[..., 6, 7]``) holds four in a row in any direction; ``bool[...]``.

    For each direction, the board is AND-ed with three shifted copies of
    itself (static slices), so the graph has a fixed size of 4 x 4 slices.
    """
    found = jnp.zeros(stones.shape[:-2], bool)
    span = CONNECT - 1
    for row_step, col_step in _DIRECTIONS:
        row_count = ROWS - span * row_step  # start rows whose line stays on the board
        col_first = span if col_step < 0 else 0
        col_count = COLS - span * abs(col_step)
        line = jnp.ones(stones.shape[:-2] + (row_count, col_count), bool)
        for k in range(CONNECT):
            row0 = k * row_step
            col0 = col_first + k * col_step
            line = line & stones[..., row0 : row0 + row_count, col0 : col0 + col_count]
        found = found | jnp.any(line, axis=(-2, -1))
    return found


def winner(board: jax.Array) -> jax.Array:
    """The seat with four in a row, ``int32[]``: 0, 1, or -1 for none.

    Positions reached by legal play have at most one winner; if both seats
    have four, seat 0 is reported.
    """
    return jnp.where(has_four(board == 0), 0, jnp.where(has_four(board == 1), 1, -1)).astype(jnp.int32)


def planes(board: jax.Array, player: jax.Array) -> jax.Array:
    """``float32[6, 7, 2]``: plane 0 the stones of ``player``, plane 1 those of the other seat."""
    player = jnp.asarray(player, jnp.int8)
    return jnp.stack([board == player, board == 1 - player], axis=-1).astype(jnp.float32)


# -- the environment ------------------------------------------------------------------


@struct.dataclass
class ConnectFourParams:
    """Connect Four has no tunable parameters (and no move cap)."""


@struct.dataclass
class ConnectFourState:
    """One game. Shapes are per game; `vmap` adds a leading batch axis.

    board: ``int8[6, 7]``, row 0 at the top; ``EMPTY`` (-1), 0 or 1 (seat of the stone).
    current_player: ``int32[]``, the seat to move next (keeps alternating after the end).
    legal_action_mask: ``bool[7]``, legal columns for ``current_player``; all true once terminated.
    terminated: ``bool[]``, the game is over (win, draw or illegal move).
    winner: ``int32[]``, the seat that won, -1 while ongoing or for a draw.
    move_count: ``int32[]``, moves played, the ending illegal move included.
    """

    board: jax.Array
    current_player: jax.Array
    legal_action_mask: jax.Array
    terminated: jax.Array
    winner: jax.Array
    move_count: jax.Array


class ConnectFour(TwoPlayerGame[ConnectFourState, ConnectFourParams]):
    """Two-player Connect Four; seat 0 ("X") moves first.

    Action: the column to drop a stone into, ``Discrete(7)``; a full column, or
    a value outside ``[0, 7)``, is illegal and loses at once (no stone is placed).
    Observation: ``float32[6, 7, 2]`` of the state reached, from the viewpoint
    of the seat to move next: plane 0 its own stones, plane 1 its opponent's.
    Rewards, ``info`` and terminal states follow `TwoPlayerGame`; a draw is the
    board filling up with no four in a row.
    """

    name = "ConnectFour-v0"
    version = 1

    @property
    def default_params(self) -> ConnectFourParams:
        return ConnectFourParams()

    def reset_env(self, key: jax.Array, params: ConnectFourParams) -> tuple[jax.Array, ConnectFourState]:
        board = init()
        state = ConnectFourState(
            board=board,
            current_player=jnp.zeros((), jnp.int32),
            legal_action_mask=legal_moves(board),
            terminated=jnp.zeros((), bool),
            winner=jnp.full((), -1, jnp.int32),
            move_count=jnp.zeros((), jnp.int32),
        )
        return self.get_obs(state), state

    def _play(
        self, key: jax.Array, state: ConnectFourState, action: jax.Array, params: ConnectFourParams
    ) -> ConnectFourState:
        mover = state.current_player
        board = play(state.board, action, mover)
        mover_won = has_four(board == mover)
        return ConnectFourState(
            board=board,
            current_player=1 - mover,
            legal_action_mask=legal_moves(board),
            terminated=mover_won | is_full(board),
            winner=jnp.where(mover_won, mover, -1).astype(jnp.int32),
            move_count=state.move_count + 1,
        )

    def _after_illegal(self, state: ConnectFourState, params: ConnectFourParams) -> ConnectFourState:
        # No stone is placed, but the illegal move counts as a move like any other:
        # the turn passes and `move_count` includes it.
        return state.replace(current_player=1 - state.current_player, move_count=state.move_count + 1)

    def get_obs(self, state: ConnectFourState, params: ConnectFourParams | None = None) -> jax.Array:
        """``float32[6, 7, 2]`` from the viewpoint of ``state.current_player``."""
        return planes(state.board, state.current_player)

    def observation_space(self, params: ConnectFourParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (ROWS, COLS, 2), jnp.float32)

    def action_space(self, params: ConnectFourParams) -> spaces.Discrete:
        return spaces.Discrete(COLS)

    def render_frame(self, state: ConnectFourState, params: ConnectFourParams | None = None) -> jax.Array:
        """The board as a picture (420 x 360): seat 0's stones red, seat 1's yellow, the holes white."""
        canvas = render_lib.Canvas(360, 420, 0.0, float(COLS), 0.0, float(ROWS))
        x, y = canvas.grid()
        column = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, COLS - 1)
        row = jnp.clip((ROWS - 1) - jnp.floor(y).astype(jnp.int32), 0, ROWS - 1)  # row 0 at the top
        colours = jnp.asarray([render_lib.WHITE, render_lib.RED, render_lib.YELLOW], jnp.float32)
        stone = colours[state.board[row, column] + 1]  # EMPTY (-1) -> white
        hole = canvas.coverage(jnp.hypot(x - column - 0.5, y - jnp.floor(y) - 0.5) - 0.4)[..., None]
        image = canvas.blank(render_lib.BLUE) * (1 - hole) + stone * hole
        return canvas.image(image)

    def render(self, state: ConnectFourState) -> str:
        return render(state)


def render(state: ConnectFourState) -> str:
    """Text board of one (unbatched) state for humans: rows top to bottom, then column numbers.

    ``.`` is empty, ``X`` a stone of seat 0, ``O`` a stone of seat 1, e.g.::

        . . . . . . .
        ...
        . . X O . . .
        1 2 3 4 5 6 7
    """
    board = np.asarray(state.board)
    symbols = {EMPTY: ".", 0: "X", 1: "O"}
    lines = [" ".join(symbols[int(cell)] for cell in row) for row in board]
    lines.append(" ".join(str(column + 1) for column in range(COLS)))
    return "\n".join(lines)
