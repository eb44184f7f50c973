"""Shogi as a picture, in pure JAX (`envs.render`): the board from sente's side with gote's hand above
and sente's below, so a game's frames are drawn in one jitted, vmapped call.

Pieces are the usual five-sided tiles pointing at the opponent (gote's upside down), labelled with
their English letters (P L N S B R G K); promoted pieces carry their base letter in red (+P, +L,
+N, +S, horse +B, dragon +R). A hand shows each piece type held with its count. The side to move
has a marker beside its hand; a king in check sits on a red square.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs import render as render_lib
from envs.games.shogi import rules

CELL = 40  # pixels per square
MARGIN = 30  # left and right of the board, where the files' numbers would be
HAND = 40  # height of each hand's row
WIDTH = 9 * CELL + 2 * MARGIN
HEIGHT = 9 * CELL + 2 * HAND

WOOD = (0.93, 0.80, 0.55)
TILE = (0.99, 0.93, 0.78)
INK = (0.08, 0.08, 0.08)
PROMOTED_INK = (0.80, 0.10, 0.10)
CHECK = (0.95, 0.45, 0.40)
HAND_BACKGROUND = (0.85, 0.72, 0.50)

# Font index of each piece type's letter (types 0..13: P L N S B R G K, then +P +L +N +S +B +R).
_LETTERS = np.array([render_lib.FONT_CHARS.index(c) for c in "PLNSBRGKPLNSBR"], np.int32)
_DIGITS = np.array([render_lib.FONT_CHARS.index(str(d)) for d in range(10)], np.int32)
# The tile, pointing up, in pixels from a square's centre (y down): a convex pentagon.
_TILE = np.array([(0.0, -17.0), (13.0, -11.0), (15.5, 17.0), (-15.5, 17.0), (-13.0, -11.0)], np.float32)
_GLYPH_SCALE = 4.0  # a 20 x 28 pixel letter on a tile
_COUNT_SCALE = 2.0  # 10 x 14 pixel digits for hand counts


def _polygon_distance(x: jax.Array, y: jax.Array, vertices: np.ndarray) -> jax.Array:
    """Signed distance (exact along edges, negative inside) to a convex polygon listed clockwise on screen."""
    d = None
    for i in range(len(vertices)):
        (ax, ay), (bx, by) = vertices[i], vertices[(i + 1) % len(vertices)]
        nx, ny = by - ay, ax - bx  # outward normal of a clockwise (y-down) edge
        norm = float(np.hypot(nx, ny))
        edge = ((x - ax) * nx + (y - ay) * ny) / norm
        d = edge if d is None else jnp.maximum(d, edge)
    return d


def _blend(image: jax.Array, coverage: jax.Array, color) -> jax.Array:
    coverage = coverage[..., None]
    return image * (1 - coverage) + jnp.asarray(color, jnp.float32) * coverage


def _tile(image, lx, ly, kind, upside_down, present):
    """Draws a tile with the letter of piece type ``kind`` where ``present``; ``lx, ly`` from the tile's centre."""
    lx = jnp.where(upside_down, -lx, lx)
    ly = jnp.where(upside_down, -ly, ly)
    inside = jnp.clip(0.5 - _polygon_distance(lx, ly, _TILE), 0.0, 1.0) * present
    outline = jnp.clip(1.0 - jnp.abs(_polygon_distance(lx, ly, _TILE)), 0.0, 1.0) * present
    image = _blend(image, inside, TILE)
    image = _blend(image, outline, INK)
    letter = jnp.asarray(_LETTERS)[jnp.clip(kind, 0, rules.NUM_PIECE_TYPES - 1)]
    ink = render_lib.font_ink(letter, lx + 10.0, ly + 12.0, _GLYPH_SCALE) * present
    promoted = kind >= rules.PROMOTION_OFFSET
    return _blend(image, ink, INK) * (1 - promoted[..., None]) + _blend(image, ink, PROMOTED_INK) * promoted[..., None]


def absolute_board(board: jax.Array, player: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Piece type (-1 empty) and owner seat of every absolute square of a mover's-frame ``board``."""
    board = board.astype(jnp.int32)
    board = jnp.where(player == 0, board, board[::-1])  # gote's frame is rotated by 180 degrees
    mover_owns = board < rules.OPPONENT
    owner = jnp.where(mover_owns, player, 1 - player)
    kind = jnp.where(board == rules.EMPTY, -1, board % rules.OPPONENT)
    return kind, owner


def draw(board: jax.Array, hand: jax.Array, player: jax.Array, in_check: jax.Array) -> jax.Array:
    """``uint8[HEIGHT, WIDTH, 3]`` of one position given in the mover's frame (`rules`)."""
    kind, owner = absolute_board(board, player)
    hands = jnp.where(player == 0, hand, hand[::-1]).astype(jnp.int32)  # row = seat
    py, px = jnp.meshgrid(jnp.arange(HEIGHT) + 0.5, jnp.arange(WIDTH) + 0.5, indexing="ij")
    image = jnp.broadcast_to(jnp.asarray(HAND_BACKGROUND, jnp.float32), (HEIGHT, WIDTH, 3))

    # The board: 9 x 9 squares, file 9 on the left and rank a at the top, as sente sees it.
    bx, by = px - MARGIN, py - HAND
    on_board = (bx >= 0) & (bx < 9 * CELL) & (by >= 0) & (by < 9 * CELL)
    col = jnp.clip(jnp.floor(bx / CELL).astype(jnp.int32), 0, 8)
    row = jnp.clip(jnp.floor(by / CELL).astype(jnp.int32), 0, 8)
    square = (8 - col) * 9 + row  # square = file_index * 9 + rank_index
    here, whose = kind[square], owner[square]
    checked = in_check & (here == rules.KING) & (whose == player)
    image = _blend(image, on_board.astype(jnp.float32), WOOD)
    image = _blend(image, (on_board & checked).astype(jnp.float32), CHECK)
    lines = jnp.minimum(jnp.abs(bx - jnp.round(bx / CELL) * CELL), jnp.abs(by - jnp.round(by / CELL) * CELL))
    grid = (bx >= -1) & (bx <= 9 * CELL + 1) & (by >= -1) & (by <= 9 * CELL + 1)
    image = _blend(image, jnp.clip(1.0 - lines, 0.0, 1.0) * grid, INK)
    lx, ly = bx - (col + 0.5) * CELL, by - (row + 0.5) * CELL
    image = _tile(image, lx, ly, here, whose == 1, (on_board & (here >= 0)).astype(jnp.float32))

    # The hands: gote's row above the board, sente's below; seven slots P L N S B R G with counts.
    slot_width = WIDTH / rules.NUM_HAND_TYPES
    in_top, in_bottom = py < HAND, py >= HAND + 9 * CELL
    seat = jnp.where(in_top, 1, 0)
    slot = jnp.clip(jnp.floor(px / slot_width).astype(jnp.int32), 0, rules.NUM_HAND_TYPES - 1)
    count = hands[seat, slot]
    held = ((in_top | in_bottom) & (count > 0)).astype(jnp.float32)
    sx = px - slot * slot_width
    sy = py - jnp.where(in_top, 0.0, HAND + 9 * CELL)
    image = _tile(image, sx - 22.0, sy - HAND / 2, slot, seat == 1, held)
    digit_y = sy - (HAND / 2 - 7.0)
    tens, ones = count // 10, count % 10
    first = jnp.where(tens > 0, jnp.asarray(_DIGITS)[jnp.clip(tens, 0, 9)], -1)
    ink = render_lib.font_ink(first, sx - 39.0, digit_y, _COUNT_SCALE)
    ink = ink + render_lib.font_ink(jnp.asarray(_DIGITS)[ones], sx - jnp.where(tens > 0, 50.0, 39.0), digit_y,
                                    _COUNT_SCALE)
    image = _blend(image, jnp.clip(ink, 0.0, 1.0) * held, INK)

    # The side to move: a dot in the margin at its end of the board.
    dot_y = jnp.where(player == 1, HAND + 15.0, HAND + 9 * CELL - 15.0)
    mover = jnp.clip(6.0 - jnp.hypot(px - MARGIN / 2, py - dot_y), 0.0, 1.0)
    image = _blend(image, mover, INK)
    return render_lib.Canvas.image(image)


__all__ = ["CELL", "HEIGHT", "WIDTH", "absolute_board", "draw"]
