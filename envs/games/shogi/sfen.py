"""SFEN positions in and out, and a text rendering of the board (host side, numpy).

Positions here are in the *absolute* frame: ``board: int[81]`` with
``sq = (file - 1) * 9 + rank_index`` (rank "a" = 0), sente's pieces coded by
type ``0..13`` and gote's by ``type + 14`` (`envs.games.shogi.rules`), and
``hand: int[2, 7]`` with row 0 sente's and row 1 gote's, columns P L N S B R G.
`to_mover_frame` / `from_mover_frame` convert to the frame the rules use.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from envs.games.shogi import rules

INITIAL_SFEN = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"

_LETTERS = "PLNSBRGK"  # unpromoted piece types 0..7
_HAND_ORDER = "RBGSNLP"  # the conventional order of hands in SFEN output
_MAX_IN_HAND = np.array([18, 4, 4, 4, 2, 2, 4])  # P L N S B R G


class Position(NamedTuple):
    """A position in the absolute frame."""

    board: np.ndarray  # int32[81]
    hand: np.ndarray  # int32[2, 7], row 0 sente
    player: int  # 0 sente (b), 1 gote (w) to move
    move_number: int  # SFEN move number (1 at the start)


def _piece_letters(piece: int) -> str:
    owner, piece_type = divmod(int(piece), rules.OPPONENT)
    promoted = piece_type >= rules.PROMOTION_OFFSET
    letter = _LETTERS[piece_type - rules.PROMOTION_OFFSET if promoted else piece_type]
    letter = letter.lower() if owner else letter
    return ("+" if promoted else "") + letter


def parse_sfen(sfen: str) -> Position:
    """Parse "<board> <b|w> <hands> [<move number>]" (or "startpos") into a `Position`.

    Raises ValueError with one line saying what is wrong.
    """
    text = sfen.strip()
    text = text.removeprefix("sfen ")
    if text == "startpos":
        text = INITIAL_SFEN
    fields = text.split()
    if len(fields) not in (3, 4):
        raise ValueError(f"bad SFEN {sfen!r}: expected '<board> <b|w> <hands> [<move number>]'")
    board_text, side, hand_text = fields[:3]
    board = np.full(rules.NUM_SQUARES, rules.EMPTY, np.int32)
    ranks = board_text.split("/")
    if len(ranks) != 9:
        raise ValueError(f"bad SFEN board {board_text!r}: expected 9 ranks separated by '/'")
    for rank_index, rank in enumerate(ranks):
        file = 9
        promoted = False
        for char in rank:
            if char.isdigit():
                file -= int(char)
            elif char == "+":
                promoted = True
            elif char.upper() in _LETTERS:
                if file < 1:
                    raise ValueError(f"bad SFEN rank {rank!r}: more than 9 squares")
                piece_type = _LETTERS.index(char.upper())
                if promoted:
                    if piece_type >= rules.GOLD:
                        raise ValueError(f"bad SFEN rank {rank!r}: {char} cannot be promoted")
                    piece_type += rules.PROMOTION_OFFSET
                board[(file - 1) * 9 + rank_index] = piece_type + (rules.OPPONENT if char.islower() else 0)
                file -= 1
                promoted = False
            else:
                raise ValueError(f"bad SFEN rank {rank!r}: unknown character {char!r}")
        if file != 0 or promoted:
            raise ValueError(f"bad SFEN rank {rank!r}: does not describe exactly 9 squares")
    if side not in ("b", "w"):
        raise ValueError(f"bad SFEN side to move {side!r}: expected 'b' or 'w'")
    hand = np.zeros((2, rules.NUM_HAND_TYPES), np.int32)
    if hand_text != "-":
        count = ""
        for char in hand_text:
            if char.isdigit():
                count += char
            elif char.upper() in _LETTERS[:7]:
                hand[int(char.islower()), _LETTERS.index(char.upper())] += int(count or 1)
                count = ""
            else:
                raise ValueError(f"bad SFEN hands {hand_text!r}: unknown character {char!r}")
        if count:
            raise ValueError(f"bad SFEN hands {hand_text!r}: count without a piece")
    move_number = 1
    if len(fields) == 4:
        if not fields[3].isdigit():
            raise ValueError(f"bad SFEN move number {fields[3]!r}")
        move_number = int(fields[3])
    return Position(board, hand, 0 if side == "b" else 1, move_number)


def to_sfen(position: Position) -> str:
    """Write a `Position` as SFEN (hands in the usual R B G S N L P order)."""
    board = np.asarray(position.board)
    ranks = []
    for rank_index in range(9):
        text, empty = "", 0
        for file in range(9, 0, -1):
            piece = int(board[(file - 1) * 9 + rank_index])
            if piece < 0:
                empty += 1
                continue
            if empty:
                text, empty = text + str(empty), 0
            text += _piece_letters(piece)
        ranks.append(text + (str(empty) if empty else ""))
    hand = np.asarray(position.hand)
    hands = ""
    for owner in (0, 1):
        for letter in _HAND_ORDER:
            count = int(hand[owner, _LETTERS.index(letter)])
            if count:
                hands += (str(count) if count > 1 else "") + (letter.lower() if owner else letter)
    side = "b" if int(position.player) == 0 else "w"
    return f"{'/'.join(ranks)} {side} {hands or '-'} {int(position.move_number)}"


def _flip_numpy(board: np.ndarray, hand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    board = np.asarray(board, np.int32)
    flipped = np.where(board < 0, rules.EMPTY, (board + rules.OPPONENT) % (2 * rules.OPPONENT))[::-1]
    return flipped.copy(), np.asarray(hand, np.int32)[::-1].copy()


def to_mover_frame(position: Position) -> tuple[np.ndarray, np.ndarray]:
    """Absolute position -> (board, hand) as the player to move sees them."""
    if position.player == 0:
        return np.asarray(position.board, np.int32).copy(), np.asarray(position.hand, np.int32).copy()
    return _flip_numpy(position.board, position.hand)


def from_mover_frame(board: np.ndarray, hand: np.ndarray, player: int, move_number: int = 1) -> Position:
    """(board, hand) in ``player``'s frame -> absolute `Position`."""
    if int(player) == 0:
        return Position(np.asarray(board, np.int32).copy(), np.asarray(hand, np.int32).copy(), 0, move_number)
    board, hand = _flip_numpy(board, hand)
    return Position(board, hand, 1, move_number)


def piece_counts(board: np.ndarray, hand: np.ndarray) -> np.ndarray:
    """Pieces per unpromoted kind P L N S B R G K, on board and in both hands (int[8])."""
    board = np.asarray(board)
    counts = np.asarray(hand).sum(axis=0).tolist() + [0]
    for piece in board[board >= 0]:
        piece_type = int(piece) % rules.OPPONENT
        if piece_type >= rules.PROMOTION_OFFSET:
            piece_type -= rules.PROMOTION_OFFSET
        counts[piece_type] += 1
    return np.array(counts)


FULL_SET = np.array([18, 4, 4, 4, 2, 2, 4, 2])  # P L N S B R G K in a complete set


def render(position: Position) -> str:
    """A text diagram: sente's pieces upper case, gote's lower case, '+' marks promotion."""
    board = np.asarray(position.board)
    lines = ["   " + "  ".join(str(f) for f in range(9, 0, -1))]
    for rank_index in range(9):
        cells = []
        for file in range(9, 0, -1):
            piece = int(board[(file - 1) * 9 + rank_index])
            cells.append(" ." if piece < 0 else _piece_letters(piece).rjust(2))
        lines.append(f"{'abcdefghi'[rank_index]} " + " ".join(cells))

    def hand_text(owner: int) -> str:
        parts = [
            f"{letter}x{int(position.hand[owner, _LETTERS.index(letter)])}"
            for letter in _HAND_ORDER
            if position.hand[owner, _LETTERS.index(letter)]
        ]
        return " ".join(parts) or "-"

    lines.insert(0, f"gote hand:  {hand_text(1).lower()}")
    lines.append(f"sente hand: {hand_text(0)}")
    lines.append(f"{'sente' if position.player == 0 else 'gote'} to move, move {position.move_number}")
    return "\n".join(lines)
