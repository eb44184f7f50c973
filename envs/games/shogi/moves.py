"""The Shogi action encoding (2187 discrete actions) and USI move strings.

An action is ``plane * 81 + dest`` with ``dest`` the destination square in
the *mover's frame* (``sq = file_index * 9 + rank_index``, see
`envs.games.shogi.rules`; for gote the board is rotated, so the same action
means the same move relative to the player):

====== ================================================================
plane  meaning
====== ================================================================
0..9   a board move arriving at ``dest`` in direction ``plane``, no promotion
10..19 the same, with promotion (direction ``plane - 10``)
20..26 a drop on ``dest`` of hand type P L N S B R G (``plane - 20``)
====== ================================================================

Directions (mover's frame, rank index 0 is forward): 0 forward, 1/2 forward
diagonals, 3/4 sideways, 5 back, 6/7 back diagonals, 8/9 the two knight
jumps. Pieces cannot jump except knights, so for a (direction, destination)
pair the moving piece is the nearest piece behind ``dest`` along that
direction: every legal move has exactly one action index.

USI strings ("7g7f", "8h2b+", "P*5e") use absolute squares (file digit,
rank letter, sente's frame).
"""

from __future__ import annotations

import numpy as np

from envs.games.shogi import rules

NUM_SQUARES = rules.NUM_SQUARES
NUM_MOVE_PLANES = 2 * rules.NUM_DIRECTIONS
NUM_PLANES = NUM_MOVE_PLANES + rules.NUM_HAND_TYPES
NUM_ACTIONS = NUM_PLANES * NUM_SQUARES  # 2187

HAND_LETTERS = "PLNSBRG"
RANK_LETTERS = "abcdefghi"


def square_to_usi(sq: int) -> str:
    """Absolute square index -> "7g"."""
    file_index, rank_index = divmod(int(sq), 9)
    return f"{file_index + 1}{RANK_LETTERS[rank_index]}"


def usi_to_square(text: str) -> int:
    """USI square such as "7g" -> absolute square index."""
    if len(text) != 2 or text[0] not in "123456789" or text[1] not in RANK_LETTERS:
        raise ValueError(f"bad USI square {text!r}: expected a file digit 1-9 and a rank letter a-i")
    return (int(text[0]) - 1) * 9 + RANK_LETTERS.index(text[1])


def to_absolute(sq: int, player: int) -> int:
    """Mover's-frame square -> absolute square (gote's frame is rotated 180 degrees)."""
    return int(sq) if player == 0 else 80 - int(sq)


def encode(plane: int, dest: int) -> int:
    return int(plane) * NUM_SQUARES + int(dest)


def decode(action: int) -> tuple[int, int]:
    """action -> (plane, destination square in the mover's frame)."""
    return divmod(int(action), NUM_SQUARES)


def source_square(board: np.ndarray, action: int) -> int:
    """Mover's-frame source of a board-move action on a mover's-frame ``board`` (81 if none)."""
    plane, dest = decode(action)
    for sq in rules.SOURCE_RAY[plane % rules.NUM_DIRECTIONS, dest]:
        if sq == rules.OFF_BOARD or board[sq] >= 0:
            return int(sq)
    return rules.OFF_BOARD


def action_to_usi(board: np.ndarray, action: int, player: int) -> str:
    """USI string of ``action`` for ``player`` to move on the mover's-frame ``board``."""
    plane, dest = decode(action)
    if not 0 <= plane < NUM_PLANES:
        raise ValueError(f"action {action} out of range [0, {NUM_ACTIONS})")
    to = square_to_usi(to_absolute(dest, player))
    if plane >= NUM_MOVE_PLANES:
        return f"{HAND_LETTERS[plane - NUM_MOVE_PLANES]}*{to}"
    source = source_square(np.asarray(board), action)
    if source == rules.OFF_BOARD:
        raise ValueError(f"action {action} has no piece to move")
    promote = "+" if plane >= rules.NUM_DIRECTIONS else ""
    return f"{square_to_usi(to_absolute(source, player))}{to}{promote}"


def _direction(d_file: int, d_rank: int) -> int:
    """Direction index of a move by (d_file, d_rank) in the mover's frame."""
    if abs(d_file) == 1 and d_rank == -2:
        return 8 if d_file == -1 else 9
    if (d_file, d_rank) == (0, 0) or not (d_file == 0 or d_rank == 0 or abs(d_file) == abs(d_rank)):
        raise ValueError(f"no piece moves by ({d_file}, {d_rank})")
    unit = (int(np.sign(d_file)), int(np.sign(d_rank)))
    return [tuple(d) for d in rules.DIRECTIONS[:8]].index(unit)


def usi_to_action(usi: str, player: int) -> int:
    """USI string -> action index for ``player`` to move (legality is not checked)."""
    usi = usi.strip()
    if len(usi) == 4 and usi[1] == "*":
        if usi[0] not in HAND_LETTERS:
            raise ValueError(f"bad USI drop {usi!r}: piece must be one of {HAND_LETTERS}")
        dest = to_absolute(usi_to_square(usi[2:]), player)
        return encode(NUM_MOVE_PLANES + HAND_LETTERS.index(usi[0]), dest)
    if len(usi) not in (4, 5) or (len(usi) == 5 and usi[4] != "+"):
        raise ValueError(f"bad USI move {usi!r}: expected e.g. '7g7f', '8h2b+' or 'P*5e'")
    source = to_absolute(usi_to_square(usi[:2]), player)
    dest = to_absolute(usi_to_square(usi[2:4]), player)
    (sf, sr), (df, dr) = divmod(source, 9), divmod(dest, 9)
    direction = _direction(df - sf, dr - sr)
    promote = len(usi) == 5
    return encode(direction + (rules.NUM_DIRECTIONS if promote else 0), dest)
