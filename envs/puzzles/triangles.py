"""Triangles: AlphaTriangle's triangle placement puzzle, the pure rules and the single-player env.

The rules are those of the reference engine ``trianglengin`` 1.0.6, step for
step (``tests/envs/test_triangles.py`` plays both side by side):

- The grid is 8 rows x 15 columns of triangles. Row ``r`` is playable on the
  columns ``range(*PLAYABLE_COLUMNS[r])``: 96 live cells; the others are dead.
  Cell ``(r, c)`` points up when ``r + c`` is odd, down otherwise.
- Three slots each hold a shape: a fixed set of ``(dr, dc, up)`` triangles
  around its ``(0, 0)`` triangle; shapes never rotate. Playing the last
  filled slot refills all three, each drawn uniformly from `TEMPLATES` (an
  entry listed twice is drawn twice as often).
- Action ``slot * 120 + r * 15 + c`` puts the slot's shape with its ``(0, 0)``
  triangle on cell ``(r, c)``. It is legal when every triangle of the shape
  lands on a live, empty cell of its own orientation.
- A *line* is a maximal run of live cells along a row or along one of the two
  diagonals (24 lines, every live cell on three). After a placement, every
  full line through a newly placed triangle is cleared, all at once; a cell
  on two such lines counts once.
- The game is over when no filled slot's shape fits anywhere.
- Score: placed + 2 x cleared triangles. Reward of a step: 0.01 per placed and
  0.5 per cleared triangle, plus 0.005 while the game goes on, or -10 on the
  step that ends it (the defaults of `TrianglesParams`).

The reference also paints every shape a random colour; no rule reads it, so it
is not modelled.

Encoding: the occupancy is a bitboard ``uint32[4]``, cell ``i = r * 15 + c``
being bit ``i % 32`` of word ``i // 32`` (bits 120 to 127 are never set). The
constant tables built at import (``_COVER``: for every shape and anchor cell,
the cells it covers or a never-free sentinel bit where it cannot go;
``_LINE_BITS``: the cells of every line) make legality of all 360 actions and
line clearing a few AND/compare ops, with no loop over cells at trace time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.core import Environment, time_limit

# -- geometry ---------------------------------------------------------------------------
# Module constants rather than params: they fix array shapes and the constant tables.

ROWS = 8
COLS = 15
NUM_CELLS = ROWS * COLS
PLAYABLE_COLUMNS = ((3, 12), (2, 13), (1, 14), (0, 15), (0, 15), (1, 14), (2, 13), (3, 12))
NUM_SLOTS = 3
NUM_ACTIONS = NUM_SLOTS * NUM_CELLS
EMPTY_SLOT = -1
WORDS = 4  # uint32 words of a bitboard: 120 cells in 128 bits
MIN_LINE_LENGTH = 2  # shorter runs are never cleared (none exist on this grid)
NUM_PLANES = 6

LIVE = np.zeros((ROWS, COLS), bool)
for _row, (_start, _end) in enumerate(PLAYABLE_COLUMNS):
    LIVE[_row, _start:_end] = True
UP = np.add.outer(np.arange(ROWS), np.arange(COLS)) % 2 == 1

# -- shapes -----------------------------------------------------------------------------

_U, _D = True, False
# The list shapes are drawn from, uniformly: entries listed twice are twice as likely.
TEMPLATES: tuple[tuple[tuple[int, int, bool], ...], ...] = (
    ((0, 0, _U),),
    ((0, 0, _U),),
    ((0, 0, _U), (1, 0, _D)),
    ((0, 0, _U), (1, 0, _D)),
    ((0, 0, _D),),
    ((0, 0, _U), (0, 1, _D)),
    ((0, 0, _U), (0, 1, _D)),
    ((0, 0, _D), (0, 1, _U)),
    ((0, 0, _D), (0, 1, _U)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U)),
    ((0, 0, _D), (0, 1, _U), (0, 2, _D)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U), (1, 0, _D)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U), (1, 2, _D)),
    ((0, 0, _D), (0, 1, _U), (1, 0, _U), (1, 1, _D)),
    ((0, 0, _U), (0, 2, _U), (1, 0, _D), (1, 1, _U), (1, 2, _D)),
    ((0, 0, _U), (1, -2, _D), (1, -1, _U), (1, 0, _D)),
    ((0, 0, _U), (0, 1, _D), (1, 0, _D), (1, 1, _U)),
    ((0, 0, _U), (0, 1, _D), (1, 0, _D), (1, 1, _U), (1, 2, _D)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U), (1, 0, _D), (1, 1, _U)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U), (1, 0, _D), (1, 2, _D)),
    ((0, 0, _U), (0, 1, _D), (0, 2, _U), (1, 1, _U), (1, 2, _D)),
    ((0, 0, _U), (0, 2, _U), (1, 0, _D), (1, 1, _U), (1, 2, _D)),
    ((0, 0, _U), (0, 1, _D), (1, 0, _D), (1, 1, _U), (1, 2, _D)),
    ((0, 0, _D), (0, 1, _U), (1, 1, _D)),
    ((0, 0, _U), (1, -1, _U), (1, 0, _D)),
    ((0, 0, _U), (1, 0, _D), (1, 1, _U)),
    ((0, 0, _U), (1, -1, _U), (1, 0, _D), (1, 1, _U)),
    ((0, 0, _U), (1, -1, _U), (1, 0, _D)),
    ((0, 0, _D), (0, 1, _U), (0, 2, _D), (1, 1, _D)),
    ((0, 0, _D), (0, 1, _U), (1, 1, _D)),
    ((0, 0, _U), (0, 1, _D), (1, 0, _D)),
)
# The distinct shapes, in order of first appearance; a slot holds an index into SHAPES.
SHAPES = tuple(dict.fromkeys(TEMPLATES))
NUM_SHAPES = len(SHAPES)
TEMPLATE_SHAPE = np.array([SHAPES.index(template) for template in TEMPLATES], np.int32)

# -- lines ------------------------------------------------------------------------------

HORIZONTAL, DOWN_RIGHT, UP_RIGHT = 0, 1, 2


def _neighbour(row: int, col: int, direction: int, forward: bool) -> tuple[int, int]:
    """The next cell along a line (the previous one when not ``forward``), on the board or not.

    An up triangle shares its base with the down triangle below it, so the
    diagonals zig-zag: one step sideways, one step vertically.
    """
    up = (row + col) % 2 == 1
    if direction == HORIZONTAL:
        return row, col + (1 if forward else -1)
    if direction == DOWN_RIGHT:
        if forward:
            return (row + 1, col) if up else (row, col + 1)
        return (row, col - 1) if up else (row - 1, col)
    if forward:
        return (row, col + 1) if up else (row - 1, col)
    return (row + 1, col) if up else (row, col - 1)


def _is_live(row: int, col: int) -> bool:
    return 0 <= row < ROWS and 0 <= col < COLS and bool(LIVE[row, col])


def _maximal_lines() -> tuple[tuple[tuple[int, int], ...], ...]:
    lines = []
    for direction in (HORIZONTAL, DOWN_RIGHT, UP_RIGHT):
        for row, col in zip(*np.nonzero(LIVE)):
            row, col = int(row), int(col)
            if _is_live(*_neighbour(row, col, direction, forward=False)):
                continue  # not the first cell of its run
            run = []
            while _is_live(row, col):
                run.append((row, col))
                row, col = _neighbour(row, col, direction, forward=True)
            if len(run) >= MIN_LINE_LENGTH:
                lines.append(tuple(run))
    return tuple(lines)


LINES = _maximal_lines()  # horizontal lines first, then down-right, then up-right diagonals

# -- constant tables --------------------------------------------------------------------


def _bits(cells: Any) -> np.ndarray:
    """``uint32[4]`` bitboard of ``(row, col)`` cells."""
    words = np.zeros(WORDS, np.uint64)
    for row, col in cells:
        index = row * COLS + col
        words[index // 32] |= np.uint64(1) << np.uint64(index % 32)
    return words.astype(np.uint32)


# Set in every cover where a shape cannot go; `legal_actions` treats it as always occupied.
_SENTINEL_BITS = np.zeros(WORDS, np.uint32)
_SENTINEL_BITS[-1] = np.uint32(1 << 31)


def _cover_table() -> np.ndarray:
    """``uint32[NUM_SHAPES + 1, 120, 4]``: cells covered by each shape at each anchor; row -1 the empty slot."""
    table = np.broadcast_to(_SENTINEL_BITS, (NUM_SHAPES + 1, NUM_CELLS, WORDS)).copy()
    for shape_index, shape in enumerate(SHAPES):
        for anchor in range(NUM_CELLS):
            row, col = divmod(anchor, COLS)
            cells = [(row + dr, col + dc) for dr, dc, _ in shape]
            if all(_is_live(r, c) and UP[r, c] == up for (r, c), (_, _, up) in zip(cells, shape)):
                table[shape_index, anchor] = _bits(cells)
    return table


def _draw_anchor(shape: tuple[tuple[int, int, bool], ...]) -> int:
    """Where the observation draws a slot's shape: mid-board, on a cell of its ``(0, 0)`` triangle's orientation."""
    points_up = next(up for dr, dc, up in shape if (dr, dc) == (0, 0))
    row, col = (3, 6) if points_up else (3, 7)  # (3, 6) points up, (3, 7) down
    return row * COLS + col


_COVER = _cover_table()
_EMPTY_BOARD_FITS = ~(_COVER & _SENTINEL_BITS).any(axis=-1)  # bool[NUM_SHAPES + 1, 120]
_SHAPE_SIZE = np.array([len(shape) for shape in SHAPES] + [0], np.int32)
_LINE_BITS = np.stack([_bits(line) for line in LINES])  # uint32[24, 4]
_CELL_WORD = np.arange(NUM_CELLS) // 32
_CELL_SHIFT = (np.arange(NUM_CELLS) % 32).astype(np.uint32)


def _unpack_np(bits: np.ndarray) -> np.ndarray:
    return (((bits[..., _CELL_WORD] >> _CELL_SHIFT) & 1) != 0).reshape(*bits.shape[:-1], ROWS, COLS)


# float32[NUM_SHAPES + 1, 8, 15]: each shape drawn at its `_draw_anchor`; the empty slot draws nothing.
_SLOT_PLANES = np.zeros((NUM_SHAPES + 1, ROWS, COLS), np.float32)
for _index, _shape in enumerate(SHAPES):
    _drawn = _COVER[_index, _draw_anchor(_shape)]
    assert not (_drawn & _SENTINEL_BITS).any(), "the drawing anchor must fit every shape"
    _SLOT_PLANES[_index] = _unpack_np(_drawn)
_BOARD_PLANES = np.stack([~LIVE, UP], axis=-1).astype(np.float32)  # dead, up

# -- pure rules -------------------------------------------------------------------------


def pack(cells: jax.Array) -> jax.Array:
    """The ``uint32[..., 4]`` bitboard of a boolean ``[..., 8, 15]`` grid."""
    cells = jnp.asarray(cells, bool)
    flat = cells.reshape(*cells.shape[:-2], NUM_CELLS)
    padding = [(0, 0)] * (flat.ndim - 1) + [(0, WORDS * 32 - NUM_CELLS)]
    words = jnp.pad(flat, padding).reshape(*flat.shape[:-1], WORDS, 32).astype(jnp.uint32)
    # Distinct powers of two: their sum is their bitwise or.
    return jnp.sum(words << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def unpack(bits: jax.Array) -> jax.Array:
    """The boolean ``[..., 8, 15]`` grid of a ``uint32[..., 4]`` bitboard."""
    bits = jnp.asarray(bits, jnp.uint32)
    cells = (bits[..., _CELL_WORD] >> _CELL_SHIFT) & 1
    return cells.astype(bool).reshape(*bits.shape[:-1], ROWS, COLS)


def _table_row(slots: jax.Array) -> jax.Array:
    """Row of the shape tables for slot contents (``EMPTY_SLOT`` maps to the never-fitting last row)."""
    return jnp.where(slots == EMPTY_SLOT, NUM_SHAPES, slots)


def legal_actions(occupied: jax.Array, slots: jax.Array) -> jax.Array:
    """``bool[360]``: which actions fit, for bitboard ``occupied`` and shape indices ``slots`` (``int32[3]``)."""
    cover = jnp.asarray(_COVER)[_table_row(slots)]  # [3, 120, 4]
    blocked = occupied | _SENTINEL_BITS
    return jnp.all((cover & blocked) == 0, axis=-1).reshape(NUM_ACTIONS)


def place(occupied: jax.Array, slots: jax.Array, action: jax.Array) -> tuple[jax.Array, ...]:
    """Plays ``action`` (assumed legal) and clears the lines it completes.

    Returns ``(occupied, slots, placed, cleared)``: the new bitboard, the
    slots with the played one emptied (no refill), and the numbers of
    triangles placed and cleared (``int32[]``). An illegal action gives
    meaningless values without failing; callers discard them.
    """
    slot, anchor = jnp.divmod(jnp.asarray(action, jnp.int32), NUM_CELLS)
    chosen = jnp.arange(NUM_SLOTS) == slot
    row = _table_row(jnp.sum(jnp.where(chosen, slots, 0)))
    cover = jnp.asarray(_COVER)[row, anchor]  # [4]
    filled = occupied | cover
    lines = jnp.asarray(_LINE_BITS)
    complete = jnp.all((filled & lines) == lines, axis=-1)
    # Only lines through a new triangle are cleared, as in the reference (from reachable
    # positions no other line can be full; hand-built ones may have one).
    touched = jnp.any((lines & cover) != 0, axis=-1)
    cleared_bits = jnp.bitwise_or.reduce(jnp.where((complete & touched)[:, None], lines, 0), axis=0)
    cleared = jnp.sum(jax.lax.population_count(cleared_bits), dtype=jnp.int32)
    placed = jnp.asarray(_SHAPE_SIZE)[row]
    return filled & ~cleared_bits, jnp.where(chosen, EMPTY_SLOT, slots), placed, cleared


def draw_slots(key: jax.Array) -> jax.Array:
    """``int32[3]`` shape indices for a refill, each drawn uniformly from `TEMPLATES`."""
    return jnp.asarray(TEMPLATE_SHAPE)[jax.random.randint(key, (NUM_SLOTS,), 0, len(TEMPLATES))]


# -- the environment --------------------------------------------------------------------


@struct.dataclass
class TrianglesParams:
    """The reference's reward constants, and a step limit of our own."""

    reward_per_placed_triangle: float = 0.01  # for each triangle of the placed shape
    reward_per_cleared_triangle: float = 0.5  # for each distinct cell cleared this step
    reward_per_step_alive: float = 0.005  # on a step after which the game goes on
    penalty_game_over: float = -10.0  # instead, on the step that ends the game
    max_steps_in_episode: int = 10_000  # truncation (the reference has none)


@struct.dataclass
class TrianglesState:
    """One game. Shapes are per game; `vmap` adds a leading batch axis.

    occupied: ``uint32[4]``, the occupancy bitboard (see the module docstring; `unpack` gives ``bool[8, 15]``).
    slots: ``int32[3]``, each slot's shape (an index into `SHAPES`), or ``EMPTY_SLOT`` (-1) once played.
    legal_action_mask: ``bool[360]``, the actions that fit; all true once terminated.
    terminated: ``bool[]``, the game is over (nothing fits, or an illegal action was taken).
    score: ``int32[]``, placed + 2 x cleared triangles so far.
    time: ``int32[]``, steps taken, an ending illegal one included.
    """

    occupied: jax.Array
    slots: jax.Array
    legal_action_mask: jax.Array
    terminated: jax.Array
    score: jax.Array
    time: jax.Array


def make_state(occupied: jax.Array, slots: jax.Array, score: Any = 0, time: Any = 0) -> TrianglesState:
    """The state of a position: bitboard ``occupied``, ``int32[3]`` ``slots``; the mask and game over derived."""
    occupied = jnp.asarray(occupied, jnp.uint32)
    slots = jnp.asarray(slots, jnp.int32)
    return _with_mask(occupied, slots, legal_actions(occupied, slots), score, time)


def _with_mask(
    occupied: jax.Array, slots: jax.Array, mask: jax.Array, score: Any, time: Any
) -> TrianglesState:
    over = ~jnp.any(mask)
    return TrianglesState(
        occupied=occupied,
        slots=slots,
        legal_action_mask=mask | over,
        terminated=over,
        score=jnp.asarray(score, jnp.int32),
        time=jnp.asarray(time, jnp.int32),
    )


def observation(state: TrianglesState) -> jax.Array:
    """``float32[8, 15, 6]``, the layout `Triangles` documents."""
    occupied = unpack(state.occupied).astype(jnp.float32)[..., None]
    slot_planes = jnp.moveaxis(jnp.asarray(_SLOT_PLANES)[_table_row(state.slots)], 0, -1)
    return jnp.concatenate([occupied, jnp.asarray(_BOARD_PLANES), slot_planes], axis=-1)


class Triangles(Environment[TrianglesState, TrianglesParams]):
    """AlphaTriangle's puzzle for one player, with a legal-action mask (rules: the module docstring).

    Action: ``Discrete(360)``, ``slot * 120 + row * 15 + col``. An illegal
    action (masked out, or outside ``[0, 360)``) ends the game on the spot:
    nothing is placed and the reward is the game-over penalty, as when the
    reference forces a game over. Legal play never takes one.

    Observation: ``float32[8, 15, 6]`` planes of the state reached: 0 occupied,
    1 dead (not playable), 2 points up, 3 to 5 the shape in slots 0 to 2,
    drawn with its ``(0, 0)`` triangle on cell (3, 6) if it points up, else
    (3, 7) (all zero for an empty slot).

    ``terminated`` once nothing fits (or after an illegal action); a
    terminated game is frozen (zero reward, same state) and allows every
    action. ``truncated`` after ``max_steps_in_episode`` steps.
    ``info``: ``score`` (``int32[]``, so far), ``placed`` and ``cleared``
    (``int32[]``, triangles this step).
    """

    name = "Triangles-v0"
    version = 1
    num_players = 1
    episode_metrics = ("score",)

    @property
    def default_params(self) -> TrianglesParams:
        return TrianglesParams()

    def reset_env(self, key: jax.Array, params: TrianglesParams) -> tuple[jax.Array, TrianglesState]:
        slots = draw_slots(key)
        # On the empty board legality is a table lookup: AutoReset pays for a reset every step.
        mask = jnp.asarray(_EMPTY_BOARD_FITS)[_table_row(slots)].reshape(NUM_ACTIONS)
        state = _with_mask(jnp.zeros(WORDS, jnp.uint32), slots, mask, 0, 0)
        return self.get_obs(state, params), state

    def transition(
        self, state: TrianglesState, action: jax.Array, drawn: jax.Array, params: TrianglesParams
    ) -> tuple[TrianglesState, jax.Array, dict[str, jax.Array]]:
        """One step with the refill given: ``drawn`` (``int32[3]``) fills the slots if they all became empty.

        Returns ``(state, reward, info)``; `step_env` is this with ``drawn`` from `draw_slots`.
        """
        action = jnp.asarray(action, jnp.int32)
        finished = state.terminated
        # A one-hot match rather than indexing: an out-of-range action matches nothing.
        legal = ~finished & jnp.any(state.legal_action_mask & (jnp.arange(NUM_ACTIONS) == action))

        occupied, slots, placed, cleared = place(
            state.occupied, state.slots, jnp.clip(action, 0, NUM_ACTIONS - 1)
        )
        slots = jnp.where(jnp.all(slots == EMPTY_SLOT), jnp.asarray(drawn, jnp.int32), slots)
        played = make_state(occupied, slots, state.score + placed + 2 * cleared, state.time + 1)
        ended = state.replace(
            legal_action_mask=jnp.ones_like(state.legal_action_mask),
            terminated=jnp.ones_like(finished),
            time=state.time + 1,
        )
        new_state = _select(finished, state, _select(legal, played, ended))

        placed = jnp.where(legal, placed, 0)
        cleared = jnp.where(legal, cleared, 0)
        ending = jnp.where(new_state.terminated, params.penalty_game_over, params.reward_per_step_alive)
        reward = (
            placed * params.reward_per_placed_triangle
            + cleared * params.reward_per_cleared_triangle
            + jnp.where(finished, 0.0, ending)
        )
        info = {"score": new_state.score, "placed": placed, "cleared": cleared}
        return new_state, reward.astype(jnp.float32), info

    def step_env(self, key: jax.Array, state: TrianglesState, action: Any, params: TrianglesParams):
        new_state, reward, info = self.transition(state, action, draw_slots(key), params)
        truncated = time_limit(new_state.time, params.max_steps_in_episode) & ~new_state.terminated
        return self.get_obs(new_state, params), new_state, reward, new_state.terminated, truncated, info

    def get_obs(self, state: TrianglesState, params: TrianglesParams | None = None) -> jax.Array:
        return observation(state)

    def action_mask(self, state: TrianglesState, params: TrianglesParams | None = None) -> jax.Array:
        return state.legal_action_mask

    def observation_space(self, params: TrianglesParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (ROWS, COLS, NUM_PLANES), jnp.float32)

    def action_space(self, params: TrianglesParams) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def render(self, state: TrianglesState, coordinates: bool = False) -> str:
        return render(state, coordinates)

    def parse_action(self, text: str) -> int:
        """A move typed as ``slot row col`` (e.g. ``0 3 6``): the slot's hollow triangle goes on that cell."""
        parts = text.replace(",", " ").split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError("type slot, row and column, e.g. '0 3 6'")
        slot, row, col = map(int, parts)
        if slot >= NUM_SLOTS or row >= ROWS or col >= COLS:
            raise ValueError(f"slot 0-{NUM_SLOTS - 1}, row 0-{ROWS - 1}, column 0-{COLS - 1}")
        return slot * NUM_CELLS + row * COLS + col

    def action_label(self, action: int) -> str:
        slot, cell = divmod(int(action), NUM_CELLS)
        return f"{slot} {cell // COLS} {cell % COLS}"


def _select(pred: jax.Array, on_true: TrianglesState, on_false: TrianglesState) -> TrianglesState:
    """Leaf-wise ``where``: cheaper than `lax.cond` under `vmap`."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


# -- text -------------------------------------------------------------------------------

_GLYPHS = {(False, True): "△", (False, False): "▽", (True, True): "▲", (True, False): "▼"}


def _shape_lines(shape: tuple[tuple[int, int, bool], ...], hollow_anchor: bool = False) -> list[str]:
    first = min(dc for _, dc, _ in shape)
    width = max(dc for _, dc, _ in shape) - first + 1
    rows = [[" "] * width for _ in range(max(dr for dr, _, _ in shape) + 1)]
    for dr, dc, up in shape:
        rows[dr][dc - first] = _GLYPHS[not (hollow_anchor and (dr, dc) == (0, 0)), up]
    return ["".join(row).rstrip() for row in rows]


def render(state: TrianglesState, coordinates: bool = False) -> str:
    """Text board of one (unbatched) state: a status line, the grid, then each slot's shape.

    With ``coordinates`` (for a person typing moves), rows are numbered 0-7 on
    the left, columns 0-14 above (tens digit on the first line), and each
    slot's ``(0, 0)`` triangle, the one a move's row and column name, is drawn
    hollow.

    ``△``/``▽`` are empty cells pointing up/down, ``▲``/``▼`` occupied ones,
    blanks are dead; e.g. the first rows of a new game and a slot::

        score 0  steps 0
           ▽△▽△▽△▽△▽
          ▽△▽△▽△▽△▽△▽
        ...
        slot 0: ▲▼▲
                ▼
    """
    occupied = np.asarray(unpack(state.occupied))
    status = f"score {int(state.score)}  steps {int(state.time)}" + (
        "  game over" if state.terminated else ""
    )
    lines = [status]
    margin = "  " if coordinates else ""
    if coordinates:
        lines.append(margin + "".join(str(col // 10) if col >= 10 else " " for col in range(COLS)).rstrip())
        lines.append(margin + "".join(str(col % 10) for col in range(COLS)))
    for row in range(ROWS):
        cells = [
            _GLYPHS[bool(occupied[row, col]), bool(UP[row, col])] if LIVE[row, col] else " "
            for col in range(COLS)
        ]
        lines.append((f"{row} " if coordinates else "") + "".join(cells).rstrip())
    for slot, shape_index in enumerate(np.asarray(state.slots).tolist()):
        label = f"slot {slot}: "
        drawing = ["-"] if shape_index == EMPTY_SLOT else _shape_lines(SHAPES[shape_index], coordinates)
        lines.append(label + drawing[0])
        lines.extend(" " * len(label) + line for line in drawing[1:])
    return "\n".join(lines)
