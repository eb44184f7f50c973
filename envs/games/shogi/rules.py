"""Pure Shogi rules in JAX: move generation, check and pin analysis, make-move.

Every function works on one position and is jit- and vmap-able with fixed
shapes (no Python control flow on traced values); batch with `jax.vmap`.

Position representation ("mover's frame")
-----------------------------------------
A position is ``(board, hand)`` seen by the player to move:

- ``board: int32[81]`` -- square ``sq = file_index * 9 + rank_index`` where
  ``file_index = file - 1`` (files 1..9) and ``rank_index`` is 0 for rank
  "a" .. 8 for rank "i", *as seen by the mover*: the mover's pieces always
  advance towards rank index 0. ``EMPTY = -1``; the mover's pieces are their
  type ``0..13``; the opponent's pieces are ``type + 14``.
- ``hand: int32[2, 7]`` -- pieces in hand, row 0 the mover's, row 1 the
  opponent's, columns in hand-type order P L N S B R G.

After a move the board is rotated by 180 degrees (``sq -> 80 - sq``) and the
owners swapped, so the next mover again sees its own pieces advancing to rank
index 0. For sente (seat 0) the mover's frame is the usual sente frame; for
gote it is rotated. `envs.games.shogi.sfen` converts to the absolute frame.

Piece types: 0 P, 1 L, 2 N, 3 S, 4 B, 5 R, 6 G, 7 K, 8 +P, 9 +L, 10 +N,
11 +S, 12 +B (horse), 13 +R (dragon). Promotion adds 8 to types 0..5, and
hand types 0..6 coincide with the unpromoted piece types.

The action encoding lives in `envs.games.shogi.moves` (2187 actions =
27 planes x 81 destination squares).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# -- pieces ------------------------------------------------------------------------------------------

PAWN, LANCE, KNIGHT, SILVER, BISHOP, ROOK, GOLD, KING = range(8)
PRO_PAWN, PRO_LANCE, PRO_KNIGHT, PRO_SILVER, HORSE, DRAGON = range(8, 14)
NUM_PIECE_TYPES = 14
NUM_HAND_TYPES = 7
EMPTY = -1
OPPONENT = 14  # opponent piece code = type + OPPONENT
NUM_SQUARES = 81
OFF_BOARD = 81  # padding index used by the ray tables
PROMOTION_OFFSET = 8

# Material values by piece type 0..13 (P L N S B R G K +P +L +N +S +B +R), in pawns: lance 3,
# knight 4, silver 5, gold 6, bishop 8, rook 10; the four gold-like promoted pieces 6, horse 11,
# dragon 13. The king is never captured, so it counts 0. A piece in hand counts as its
# unpromoted type (hand types 0..6 are piece types 0..6).
PIECE_VALUES = np.array([1, 3, 4, 5, 8, 10, 6, 0, 6, 6, 6, 6, 11, 13], np.float32)

# -- directions (mover's frame; d_rank = -1 is "forward") -----------------------------------------
# 0..7 are the king directions, 8 and 9 the two knight jumps.
DIRECTIONS = np.array(
    [(0, -1), (-1, -1), (1, -1), (-1, 0), (1, 0), (0, 1), (-1, 1), (1, 1), (-1, -2), (1, -2)], np.int32
)  # (d_file, d_rank)
NUM_DIRECTIONS = 10
OPPOSITE = np.array([5, 7, 6, 4, 3, 0, 2, 1], np.int32)
MAX_RAY = 8


def _on_board(file_index: int, rank_index: int) -> bool:
    return 0 <= file_index < 9 and 0 <= rank_index < 9


def _build_rays() -> tuple[np.ndarray, np.ndarray]:
    """SOURCE_RAY[d, sq, k]: square a piece moving in direction d by k+1 steps onto sq comes from.

    OUTWARD_RAY[d, sq, k]: square k+1 steps from sq in direction d (king directions only).
    Off-board entries are OFF_BOARD; knight rays have one entry.
    """
    source = np.full((NUM_DIRECTIONS, NUM_SQUARES, MAX_RAY), OFF_BOARD, np.int32)
    outward = np.full((8, NUM_SQUARES, MAX_RAY), OFF_BOARD, np.int32)
    for d, (df, dr) in enumerate(DIRECTIONS):
        steps = 1 if d >= 8 else MAX_RAY
        for sq in range(NUM_SQUARES):
            f, r = divmod(sq, 9)
            for k in range(steps):
                sf, sr = f - (k + 1) * df, r - (k + 1) * dr
                if not _on_board(sf, sr):
                    break
                source[d, sq, k] = sf * 9 + sr
            if d < 8:
                for k in range(MAX_RAY):
                    of, orank = f + (k + 1) * df, r + (k + 1) * dr
                    if not _on_board(of, orank):
                        break
                    outward[d, sq, k] = of * 9 + orank
    return source, outward


SOURCE_RAY, OUTWARD_RAY = _build_rays()


def _build_between() -> np.ndarray:
    """BETWEEN[a, b]: squares strictly between a and b when they share a line, else none."""
    between = np.zeros((NUM_SQUARES + 1, NUM_SQUARES, NUM_SQUARES), bool)
    for a in range(NUM_SQUARES):
        for d in range(8):
            ray = OUTWARD_RAY[d, a]
            for k in range(MAX_RAY):
                b = ray[k]
                if b == OFF_BOARD:
                    break
                between[a, b, ray[:k]] = True
    return between


BETWEEN = _build_between()  # [82, 81, 81]; row 81 (no square) is all False


def _build_moves() -> tuple[np.ndarray, np.ndarray]:
    """NEAR[t, d]: type t moves one step in direction d; SLIDE[t, d]: it slides any distance."""
    step = np.zeros((NUM_PIECE_TYPES, NUM_DIRECTIONS), bool)
    slide = np.zeros((NUM_PIECE_TYPES, NUM_DIRECTIONS), bool)
    gold_dirs = [0, 1, 2, 3, 4, 5]
    diagonals, orthogonals = [1, 2, 6, 7], [0, 3, 4, 5]
    step[PAWN, 0] = True
    slide[LANCE, 0] = True
    step[KNIGHT, [8, 9]] = True
    step[SILVER, [0, 1, 2, 6, 7]] = True
    for gold_like in (GOLD, PRO_PAWN, PRO_LANCE, PRO_KNIGHT, PRO_SILVER):
        step[gold_like, gold_dirs] = True
    slide[BISHOP, diagonals] = True
    slide[ROOK, orthogonals] = True
    step[KING, :8] = True
    slide[HORSE, diagonals] = True
    step[HORSE, orthogonals] = True
    slide[DRAGON, orthogonals] = True
    step[DRAGON, diagonals] = True
    return step | slide, slide


NEAR, SLIDE = _build_moves()

# PARALLEL[m, p + 1]: moving in direction m keeps a piece pinned along direction p on its line.
PARALLEL = np.ones((NUM_DIRECTIONS, 9), bool)
for _p in range(8):
    PARALLEL[:, _p + 1] = False
    PARALLEL[_p, _p + 1] = PARALLEL[OPPOSITE[_p], _p + 1] = True

RANK_OF = np.arange(NUM_SQUARES, dtype=np.int32) % 9
FILE_OF = np.arange(NUM_SQUARES, dtype=np.int32) // 9

# -- helpers -----------------------------------------------------------------------------------------


def _pad(board: jax.Array) -> jax.Array:
    """Board with an EMPTY square appended at index OFF_BOARD."""
    return jnp.concatenate([board, jnp.full((1,), EMPTY, board.dtype)])


def _is_own(piece: jax.Array) -> jax.Array:
    return (piece >= 0) & (piece < OPPONENT)


def flip(board: jax.Array, hand: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The same position seen by the other player: rotate 180 degrees, swap owners and hands."""
    board = jnp.where(board < 0, EMPTY, (board + OPPONENT) % (2 * OPPONENT))[::-1]
    return board, hand[::-1]


def _flip_board(board: jax.Array) -> jax.Array:
    return jnp.where(board < 0, EMPTY, (board + OPPONENT) % (2 * OPPONENT))[::-1]


def reach_at(board: jax.Array, dests: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Which of the mover's pieces can move onto the squares ``dests: int32[n]``, per direction.

    Returns ``source: int32[10, n]`` (the nearest occupied square behind each
    destination along each direction: the only piece that could arrive from
    there; OFF_BOARD where the ray leaves the board) and ``can: bool[10, n]``
    (that piece is the mover's and moves that way that far). Destination
    occupancy is ignored, so ``can`` doubles as an attack map. An OFF_BOARD
    destination has no sources.
    """
    padded = _pad(board)
    rays = jnp.asarray(np.concatenate([SOURCE_RAY, np.full((NUM_DIRECTIONS, 1, MAX_RAY), OFF_BOARD)], 1))
    rays = rays[:, dests]  # [10, n, 8]
    ray_occupied = padded[rays] >= 0
    first = jnp.argmax(ray_occupied, axis=-1)
    source = jnp.take_along_axis(rays, first[..., None], axis=-1)[..., 0]
    piece = padded[source]
    piece_type = jnp.clip(piece, 0, NUM_PIECE_TYPES - 1)
    dirs = jnp.arange(NUM_DIRECTIONS)[:, None]
    moves_that_far = jnp.where(
        first == 0, jnp.asarray(NEAR)[piece_type, dirs], jnp.asarray(SLIDE)[piece_type, dirs]
    )
    return source, _is_own(piece) & moves_that_far


def reach(board: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`reach_at` for every square: ``source, can`` of shape ``[10, 81]``."""
    return reach_at(board, jnp.arange(NUM_SQUARES))


def _pins(board: jax.Array, king_sq: jax.Array) -> jax.Array:
    """``int32[81]``: for each of the mover's pieces pinned to the king on ``king_sq``, the direction
    from the king towards the pinner; -1 for the others. No pins when ``king_sq`` is OFF_BOARD."""
    padded = _pad(board)
    outward = np.concatenate([OUTWARD_RAY, np.full((8, 1, MAX_RAY), OFF_BOARD)], 1)
    rays = jnp.asarray(outward)[:, king_sq]  # [8, 8]
    occupied = padded[rays] >= 0
    first = jnp.argmax(occupied, axis=-1)
    second_occupied = occupied & (jnp.arange(MAX_RAY) != first[:, None])
    second = jnp.argmax(second_occupied, axis=-1)
    first_sq = jnp.take_along_axis(rays, first[:, None], axis=-1)[:, 0]
    second_sq = jnp.take_along_axis(rays, second[:, None], axis=-1)[:, 0]
    first_piece, second_piece = padded[first_sq], padded[second_sq]
    enemy_type = jnp.clip(second_piece - OPPONENT, 0, NUM_PIECE_TYPES - 1)
    # An enemy piece on ray d reaches our king moving along OPPOSITE[d] in our frame, which is
    # direction d in its own (rotated) frame.
    pinned = (
        jnp.any(second_occupied, axis=-1)
        & _is_own(first_piece)
        & (second_piece >= OPPONENT)
        & jnp.asarray(SLIDE)[enemy_type, jnp.arange(8)]
    )
    pin_dir = jnp.full((NUM_SQUARES + 1,), -1, jnp.int32)
    pin_dir = pin_dir.at[jnp.where(pinned, first_sq, OFF_BOARD)].set(jnp.arange(8, dtype=jnp.int32))
    return pin_dir[:NUM_SQUARES]


def _king_safety(board: jax.Array) -> dict[str, jax.Array]:
    """Check and pin analysis for the mover's king.

    Returns ``king_sq``; ``attacked: bool[81]`` (squares the opponent attacks
    with the mover's king lifted, so the king cannot retreat along a checking
    line); ``num_checks``; ``evasion: bool[81]`` (checker square or squares
    between it and the king; meaningful under single check); ``block``
    (between squares only) and ``pin_dir: int32[81]`` (direction from the
    king to the pinner for pinned pieces, else -1).
    """
    is_king = board == KING
    has_king = jnp.any(is_king)
    king_sq = jnp.argmax(is_king)
    lifted = jnp.where(is_king, EMPTY, board)
    their_source, their_can = reach(_flip_board(lifted))
    attacked = jnp.any(their_can, axis=0)[::-1]
    king_flipped = 80 - king_sq
    checking = their_can[:, king_flipped] & has_king  # [10]
    num_checks = jnp.sum(checking.astype(jnp.int32))
    checker = 80 - their_source[jnp.argmax(checking), king_flipped]
    checker = jnp.where(num_checks > 0, checker, OFF_BOARD)
    block = jnp.asarray(BETWEEN)[checker, king_sq]
    evasion = block | (jnp.arange(NUM_SQUARES) == checker)

    return {
        "king_sq": jnp.where(has_king, king_sq, OFF_BOARD),
        "attacked": attacked,
        "num_checks": num_checks,
        "evasion": evasion,
        "block": block,
        "pin_dir": _pins(board, jnp.where(has_king, king_sq, OFF_BOARD)),
    }


def board_move_mask(board: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Legal board moves (no drops) as ``bool[2, 10, 81]``: [no promotion / promotion, direction, dest].

    Also returns the king-safety analysis (used for drops and ``in_check``).
    """
    source, can = reach(board)
    safety = _king_safety(board)
    padded = _pad(board)
    dest_free = ~_is_own(board)
    pseudo = can & dest_free[None, :]

    is_king_move = source == safety["king_sq"]
    king_ok = ~safety["attacked"][None, :]
    pin_dir = jnp.concatenate([safety["pin_dir"], jnp.full((1,), -1, jnp.int32)])[source]
    pin_ok = jnp.asarray(PARALLEL)[jnp.arange(NUM_DIRECTIONS)[:, None], pin_dir + 1]
    num_checks = safety["num_checks"]
    check_ok = (num_checks == 0) | ((num_checks == 1) & safety["evasion"][None, :])
    legal = pseudo & jnp.where(is_king_move, king_ok, pin_ok & check_ok)

    piece_type = jnp.clip(padded[source], 0, NUM_PIECE_TYPES - 1)
    dest_rank = jnp.asarray(RANK_OF)[None, :]
    source_rank = jnp.asarray(np.append(RANK_OF, 8))[source]
    in_zone = (source_rank <= 2) | (dest_rank <= 2)
    can_promote = in_zone & (piece_type < GOLD)
    must_promote = (((piece_type == PAWN) | (piece_type == LANCE)) & (dest_rank == 0)) | (
        (piece_type == KNIGHT) & (dest_rank <= 1)
    )
    return jnp.stack([legal & ~must_promote, legal & can_promote]), safety


def _drop_mask(board: jax.Array, hand: jax.Array, safety: dict[str, jax.Array]) -> jax.Array:
    """Legal drops as ``bool[7, 81]`` (hand type, destination), pawn-drop mate excluded."""
    rank = jnp.asarray(RANK_OF)
    empty = board < 0
    rank_ok = jnp.stack(
        [rank >= 1, rank >= 1, rank >= 2] + [jnp.ones(NUM_SQUARES, bool)] * (NUM_HAND_TYPES - 3)
    )
    pawn_on_file = jnp.any((board == PAWN).reshape(9, 9), axis=1)
    no_double_pawn = ~pawn_on_file[jnp.asarray(FILE_OF)]
    num_checks = safety["num_checks"]
    check_ok = (num_checks == 0) | ((num_checks == 1) & safety["block"])
    mask = (hand[0] > 0)[:, None] & (empty & check_ok)[None, :] & rank_ok
    mask = mask.at[PAWN].set(mask[PAWN] & no_double_pawn)

    # Pawn-drop mate: only a pawn dropped right in front of the enemy king can give check.
    is_their_king = board == KING + OPPONENT
    their_king = jnp.argmax(is_their_king)
    target = their_king + 1
    candidate = jnp.any(is_their_king) & (jnp.asarray(RANK_OF)[their_king] < 8)
    target = jnp.where(candidate, target, 0)
    candidate = candidate & mask[PAWN, target]
    mate = _pawn_drop_mates(board, target, their_king)
    return mask.at[PAWN, target].set(mask[PAWN, target] & ~(candidate & mate))


def _pawn_drop_mates(board: jax.Array, target: jax.Array, their_king: jax.Array) -> jax.Array:
    """Whether a pawn dropped on ``target`` (right in front of the enemy king) mates.

    The check is adjacent, so it cannot be blocked and their drops do not
    help: they escape only by a king move to a square we do not attack (with
    their king lifted off the board; this includes taking an undefended pawn)
    or by taking the pawn with a piece that is not pinned.
    """
    after = board.at[target].set(PAWN)
    lifted = jnp.where(after == KING + OPPONENT, EMPTY, after)
    neighbours = jnp.concatenate([OUTWARD_RAY[:, :, 0], jnp.full((8, 1), OFF_BOARD)], 1)[:, their_king]
    _, we_attack = reach_at(lifted, neighbours)
    free = _pad(after)[neighbours] < OPPONENT  # empty or ours
    king_escapes = (neighbours != OFF_BOARD) & free & ~jnp.any(we_attack, axis=0)

    their_view = _flip_board(after)
    source, can = reach_at(their_view, jnp.reshape(80 - target, (1,)))
    source, can = source[:, 0], can[:, 0]
    not_king = _pad(their_view)[source] != KING
    pin_dir = jnp.concatenate([_pins(their_view, 80 - their_king), jnp.full((1,), -1, jnp.int32)])[source]
    along_pin = jnp.asarray(PARALLEL)[jnp.arange(NUM_DIRECTIONS), pin_dir + 1]
    captures = can & not_king & along_pin
    return ~jnp.any(king_escapes) & ~jnp.any(captures)


def legal_action_mask(board: jax.Array, hand: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The mover's legal actions ``bool[2187]`` and whether the mover is in check.

    Actions follow `envs.games.shogi.moves`: ``plane * 81 + dest`` with planes
    0..9 moves without promotion (by direction), 10..19 with promotion, 20..26
    drops of hand types P L N S B R G.
    """
    board = board.astype(jnp.int32)
    hand = hand.astype(jnp.int32)
    moves, safety = board_move_mask(board)
    drops = _drop_mask(board, hand, safety)
    mask = jnp.concatenate([moves.reshape(-1), drops.reshape(-1)])
    return mask, safety["num_checks"] > 0


def material(board: jax.Array, hand: jax.Array) -> jax.Array:
    """``float32[2]``: the material (`PIECE_VALUES`, board and hand) of the mover and of the opponent."""
    board = board.astype(jnp.int32)
    values = jnp.asarray(PIECE_VALUES)
    piece_type = jnp.clip(board % OPPONENT, 0, NUM_PIECE_TYPES - 1)
    on_board = jnp.where(board >= 0, values[piece_type], 0.0)
    theirs = board >= OPPONENT
    in_hand = hand.astype(jnp.float32) @ values[:NUM_HAND_TYPES]
    return jnp.stack([jnp.sum(jnp.where(theirs, 0.0, on_board)), jnp.sum(jnp.where(theirs, on_board, 0.0))]) + in_hand


def action_source(board: jax.Array, action: jax.Array) -> jax.Array:
    """Source square of a board-move action (the nearest piece behind the destination)."""
    plane, dest = action // NUM_SQUARES, action % NUM_SQUARES
    direction = plane % NUM_DIRECTIONS
    ray = jnp.asarray(SOURCE_RAY)[direction, dest]
    occupied = _pad(board.astype(jnp.int32))[ray] >= 0
    return ray[jnp.argmax(occupied)]


def apply_action(board: jax.Array, hand: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Play a (legal) action and return the next position in the *next* mover's frame."""
    dtype_board, dtype_hand = board.dtype, hand.dtype
    board = board.astype(jnp.int32)
    hand = hand.astype(jnp.int32)
    action = jnp.asarray(action, jnp.int32)
    plane, dest = action // NUM_SQUARES, action % NUM_SQUARES
    is_drop = plane >= 2 * NUM_DIRECTIONS
    promote = (plane >= NUM_DIRECTIONS) & ~is_drop
    source = action_source(board, action)
    moving = _pad(board)[source]
    drop_type = jnp.clip(plane - 2 * NUM_DIRECTIONS, 0, NUM_HAND_TYPES - 1)
    placed = jnp.where(is_drop, drop_type, moving + jnp.where(promote, PROMOTION_OFFSET, 0))

    captured = board[dest]
    captured_type = captured - OPPONENT
    base_type = jnp.where(captured_type >= PROMOTION_OFFSET, captured_type - PROMOTION_OFFSET, captured_type)
    gains = (captured >= OPPONENT) & (base_type < NUM_HAND_TYPES)

    source = jnp.where(is_drop, OFF_BOARD, source)
    board = _pad(board).at[source].set(EMPTY)[:NUM_SQUARES].at[dest].set(placed)
    own_hand = hand[0]
    own_hand = own_hand.at[drop_type].add(jnp.where(is_drop, -1, 0))
    own_hand = own_hand.at[jnp.clip(base_type, 0, NUM_HAND_TYPES - 1)].add(jnp.where(gains, 1, 0))
    hand = hand.at[0].set(own_hand)
    board, hand = flip(board, hand)
    return board.astype(dtype_board), hand.astype(dtype_hand)
