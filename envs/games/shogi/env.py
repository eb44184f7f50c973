"""The RL-facing Shogi environment ``Shogi-v0`` on top of the pure rules.

Seat 0 is sente (black, moves first), seat 1 gote. The state keeps the
position in the mover's frame (`envs.games.shogi.rules`), its legal-action
mask (computed when the state is created, so it is known before acting), and
a ring buffer of position hashes for repetition (sennichite).

Observation ``float32[9, 9, 47]`` from the mover's perspective:
``obs[row, col]`` is the square on rank ``row`` (0 = the rank farthest from
the mover) and file ``9 - col``, as in a diagram seen from the mover's side
(for gote the board is rotated). Channels:

==========  ================================================================
0..13       the mover's pieces, one plane per type (P L N S B R G K +P +L +N +S +B +R)
14..27      the opponent's pieces, same order
28..34      the mover's hand P L N S B R G, count / maximum (18 4 4 4 2 2 4), constant planes
35..41      the opponent's hand, same
42..44      the position occurred before at least 1, 2, 3 times
45          move count / max_moves
46          1 if the mover is gote
==========  ================================================================

Game end: no legal move for the player to move (checkmate; stalemate also
loses) -> the other seat wins; the same position (board, hands, side to move)
for the fourth time -> draw, unless one side gave check with every one of its
moves since the first occurrence: that side loses (if both did, the side that
made the last move loses); an illegal action loses for the mover;
``move_count >= max_moves`` -> ``truncated`` as a draw. Repetition is looked
for within the last ``history_length`` plies (default 512 = the default move
cap, so exact by default).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs import spaces
from envs.games.base import TwoPlayerGame
from envs.games.shogi import moves, picture, rules, sfen

NUM_CHANNELS = 47
_MAX_IN_HAND = np.array([18, 4, 4, 4, 2, 2, 4], np.float32)
_HAND_NAMES = ("pawn", "lance", "knight", "silver", "bishop", "rook", "gold")


@struct.dataclass
class ShogiParams:
    max_moves: int = 512  # plies after which the game is truncated and counted a draw


@struct.dataclass
class ShogiState:
    """One game. Shapes are per game; vmap adds a leading batch axis.

    board: int8[81] mover's-frame board (rules module docstring).
    hand: int8[2, 7] pieces in hand, row 0 the mover's.
    current_player: int32[] seat to move (0 sente, 1 gote).
    legal_action_mask: bool[2187] legal actions of the mover; all true at a terminal state.
    in_check: bool[] the mover is in check.
    terminated: bool[] the game ended (mate, sennichite, perpetual check, illegal action).
    truncated: bool[] the move cap was reached.
    winner: int32[] winning seat, -1 for none (yet) or a draw.
    move_count: int32[] plies played (SFEN move number - 1).
    repetitions: int32[] earlier occurrences of the current position.
    hash_history: uint32[H, 2] position hashes, slot ``ply % H``.
    check_history: bool[H] whether the mover was in check in that position.
    """

    board: jax.Array
    hand: jax.Array
    current_player: jax.Array
    legal_action_mask: jax.Array
    in_check: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    winner: jax.Array
    move_count: jax.Array
    repetitions: jax.Array
    hash_history: jax.Array
    check_history: jax.Array


# Zobrist-style keys, combined by wrapping uint32 addition (two independent 32-bit words).
_rng = np.random.default_rng(0x5809)
_BOARD_KEYS = _rng.integers(0, 2**32, size=(rules.NUM_SQUARES, 2 * rules.OPPONENT, 2), dtype=np.uint32)
_HAND_KEYS = _rng.integers(0, 2**32, size=(2, rules.NUM_HAND_TYPES, 19, 2), dtype=np.uint32)
_SIDE_KEYS = _rng.integers(0, 2**32, size=(2, 2), dtype=np.uint32)
_UNWRITTEN = np.uint32(0xFFFFFFFF)


def position_hash(board: jax.Array, hand: jax.Array, player: jax.Array) -> jax.Array:
    """uint32[2] hash of a mover's-frame position with ``player`` to move."""
    board = board.astype(jnp.int32)
    hand = jnp.clip(hand.astype(jnp.int32), 0, 18)
    square_keys = jnp.asarray(_BOARD_KEYS)[jnp.arange(rules.NUM_SQUARES), jnp.clip(board, 0)]
    square_keys = jnp.where((board >= 0)[:, None], square_keys, jnp.uint32(0))
    hand_keys = jnp.asarray(_HAND_KEYS)[jnp.arange(2)[:, None], jnp.arange(rules.NUM_HAND_TYPES), hand]
    total = jnp.sum(square_keys, axis=0, dtype=jnp.uint32) + jnp.sum(hand_keys, axis=(0, 1), dtype=jnp.uint32)
    return total + jnp.asarray(_SIDE_KEYS)[player]


# Module-level (not per instance): every `Shogi` made shares one compile and one initial state.
@functools.partial(jax.jit, static_argnames="history_length")
def new_state(board, hand, player, move_count, history_length: int) -> ShogiState:
    """The state of a mover's-frame position with ``player`` to move and no earlier history."""
    board = jnp.asarray(board, jnp.int8)
    hand = jnp.asarray(hand, jnp.int8)
    player = jnp.asarray(player, jnp.int32)
    move_count = jnp.asarray(move_count, jnp.int32)
    mask, in_check = rules.legal_action_mask(board, hand)
    history = jnp.full((history_length, 2), _UNWRITTEN, jnp.uint32)
    slot = move_count % history_length
    history = history.at[slot].set(position_hash(board, hand, player))
    checks = jnp.zeros((history_length,), bool).at[slot].set(in_check)
    no_moves = ~jnp.any(mask)
    return ShogiState(
        board=board,
        hand=hand,
        current_player=player,
        legal_action_mask=mask | no_moves,
        in_check=in_check,
        terminated=no_moves,
        truncated=jnp.zeros((), bool),
        winner=jnp.where(no_moves, 1 - player, -1).astype(jnp.int32),
        move_count=move_count,
        repetitions=jnp.zeros((), jnp.int32),
        hash_history=history,
        check_history=checks,
    )


@functools.cache
def _compiled_new_state(history_length: int) -> Any:
    """`new_state` compiled once for host-side positions (numpy board and hand, int player and move count).

    Calling the compiled executable computes at once even while a trace is open
    (reset under jit), where the jitted function would be staged into the trace,
    or run op by op under `jax.ensure_compile_time_eval`.
    """
    board, hand = sfen.to_mover_frame(sfen.parse_sfen(sfen.INITIAL_SFEN))
    return new_state.lower(board, hand, 0, 0, history_length).compile()


@functools.cache
def _initial_arrays(history_length: int) -> ShogiState:
    """The initial position's state with numpy leaves: a constant, even in a traced reset."""
    board, hand = sfen.to_mover_frame(sfen.parse_sfen(sfen.INITIAL_SFEN))
    return jax.tree.map(np.asarray, _compiled_new_state(history_length)(board, hand, 0, 0))


class Shogi(TwoPlayerGame[ShogiState, ShogiParams]):
    """Shogi with drops, promotions, sennichite and a move cap; 2187 actions (see `moves`)."""

    name = "Shogi-v0"
    version = 1

    def __init__(self, history_length: int = 512):
        self.history_length = int(history_length)

    @property
    def default_params(self) -> ShogiParams:
        return ShogiParams()

    def _initial_state(self) -> ShogiState:
        return jax.tree.map(jnp.asarray, _initial_arrays(self.history_length))

    def reset_env(self, key: jax.Array, params: ShogiParams) -> tuple[jax.Array, ShogiState]:
        state = self._initial_state()
        return self.get_obs(state, params), state

    def init_from_sfen(self, text: str, params: ShogiParams | None = None) -> ShogiState:
        """A state for the SFEN position (host side; no earlier history)."""
        position = sfen.parse_sfen(text)
        board, hand = sfen.to_mover_frame(position)
        return _compiled_new_state(self.history_length)(
            board, hand, position.player, position.move_number - 1
        )

    # -- dynamics ---------------------------------------------------------------------------------
    def _play(self, key: jax.Array, state: ShogiState, action: jax.Array, params: ShogiParams) -> ShogiState:
        board, hand = rules.apply_action(state.board, state.hand, action)
        mask, in_check = rules.legal_action_mask(board, hand)
        move_count = state.move_count + 1
        mover = state.current_player
        next_player = 1 - mover

        count, mover_perpetual, their_perpetual, hashes, checks = self._repetition(
            state, board, hand, next_player, move_count, in_check
        )
        mated = ~jnp.any(mask)
        fourfold = count >= 4
        # Fourfold repetition is a draw unless one side gave check throughout: that side loses.
        on_repetition = jnp.where(mover_perpetual, next_player, jnp.where(their_perpetual, mover, -1))
        winner = jnp.where(mated, mover, jnp.where(fourfold, on_repetition, -1)).astype(jnp.int32)
        terminated = mated | fourfold
        return ShogiState(
            board=board,
            hand=hand,
            current_player=next_player,
            legal_action_mask=mask,
            in_check=in_check,
            terminated=terminated,
            truncated=~terminated & (move_count >= params.max_moves),
            winner=winner,
            move_count=move_count,
            repetitions=count - 1,
            hash_history=hashes,
            check_history=checks,
        )

    def material(self, state: ShogiState, params: ShogiParams | None = None) -> jax.Array:
        """``float32[2]``: each seat's material, board and hand (values: `rules.PIECE_VALUES`).

        Opponents that play for material look for this method on a game: a seat's
        balance ``material[seat] - material[1 - seat]`` is what they maximise.
        """
        own_first = rules.material(state.board, state.hand)
        return jnp.where(state.current_player == 0, own_first, own_first[::-1])

    def _truncated(self, state: ShogiState) -> jax.Array:
        return state.truncated

    def _repetition(self, state, board, hand, player, move_count, in_check):
        """Record the new position; return its occurrence count and who checked perpetually."""
        size = self.history_length
        slot = move_count % size
        current = position_hash(board, hand, player)
        hashes = state.hash_history.at[slot].set(current)
        checks = state.check_history.at[slot].set(in_check)
        slots = jnp.arange(size)
        ply = move_count - (move_count - slots) % size
        same = jnp.all(hashes == current, axis=-1)
        count = jnp.sum(same.astype(jnp.int32))
        first = jnp.min(jnp.where(same, ply, move_count))
        in_span = (ply > first) & (ply <= move_count)
        by_mover = (move_count - ply) % 2 == 0  # positions the player who just moved created
        mover_perpetual = jnp.all(jnp.where(in_span & by_mover, checks, True))
        their_perpetual = jnp.all(jnp.where(in_span & ~by_mover, checks, True))
        return count, mover_perpetual, their_perpetual, hashes, checks

    # -- observation and spaces -------------------------------------------------------------------
    def get_obs(self, state: ShogiState, params: ShogiParams | None = None) -> jax.Array:
        params = self.default_params if params is None else params
        board = state.board.astype(jnp.int32)
        types = jnp.arange(rules.NUM_PIECE_TYPES)
        pieces = jnp.concatenate(
            [board[:, None] == types, board[:, None] == types + rules.OPPONENT], axis=-1
        ).astype(jnp.float32)  # [81, 28]
        hands = (state.hand.astype(jnp.float32) / _MAX_IN_HAND).reshape(-1)  # [14]
        repetition = (state.repetitions >= jnp.arange(1, 4)).astype(jnp.float32)
        scalars = jnp.concatenate(
            [
                hands,
                repetition,
                jnp.reshape(state.move_count / params.max_moves, (1,)).astype(jnp.float32),
                jnp.reshape(state.current_player, (1,)).astype(jnp.float32),
            ]
        )
        planes = jnp.concatenate(
            [pieces, jnp.broadcast_to(scalars, (rules.NUM_SQUARES, scalars.shape[0]))], -1
        )
        # [file, rank, C] -> [rank, file, C] with column 0 = file 9.
        return planes.reshape(9, 9, NUM_CHANNELS).transpose(1, 0, 2)[:, ::-1]

    def observation_space(self, params: ShogiParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (9, 9, NUM_CHANNELS), jnp.float32)

    def action_space(self, params: ShogiParams) -> spaces.Discrete:
        return spaces.Discrete(moves.NUM_ACTIONS)

    # -- host-side helpers (one unbatched state) --------------------------------------------------
    def position(self, state: ShogiState) -> sfen.Position:
        return sfen.from_mover_frame(
            np.asarray(state.board),
            np.asarray(state.hand),
            int(state.current_player),
            int(state.move_count) + 1,
        )

    def to_sfen(self, state: ShogiState) -> str:
        return sfen.to_sfen(self.position(state))

    def render_frame(self, state: ShogiState, params: ShogiParams | None = None) -> jax.Array:
        """The position as a picture (`envs.games.shogi.picture`): sente's side at the bottom."""
        return picture.draw(state.board, state.hand, state.current_player, state.in_check)

    def render(self, state: ShogiState) -> str:
        text = sfen.render(self.position(state))
        if bool(state.terminated) or bool(state.truncated):
            winner = int(state.winner)
            text += "\ngame over: " + ("draw" if winner < 0 else f"{'sente' if winner == 0 else 'gote'} wins")
        elif bool(state.in_check):
            text += "\ncheck"
        return text

    def action_to_usi(self, state: ShogiState, action: int) -> str:
        return moves.action_to_usi(np.asarray(state.board), int(action), int(state.current_player))

    def usi_to_action(self, state: ShogiState, usi: str) -> int:
        """Action index of a USI move; ValueError if it does not name the piece that would move."""
        player = int(state.current_player)
        action = moves.usi_to_action(usi, player)
        if "*" not in usi:
            source = moves.to_absolute(moves.source_square(np.asarray(state.board), action), player)
            if moves.square_to_usi(source) != usi[:2]:
                raise ValueError(f"USI move {usi!r} is not a move of the piece on {usi[:2]} in this position")
        return action

    # Move notation for people (`jaxrl.play`): USI, which needs the position to name a move.
    def move_text(self, state: ShogiState, action: int) -> str:
        return self.action_to_usi(state, action)

    def move_from_text(self, state: ShogiState, text: str) -> int:
        return self.usi_to_action(state, text.strip())

    def game_record(self, usi_moves: list[str]) -> str:
        """A game from the start position as the USI command that sets it up (GUIs and engines read it)."""
        return "position startpos moves " + " ".join(usi_moves)

    def illegal_reason(self, state: ShogiState, usi: str) -> str | None:
        """Why the USI move ``usi`` cannot be played in ``state`` (None if it can), for a person.

        Malformed text, a square with no piece of the mover's that moves that way, a drop of a
        piece not in hand or on an occupied square, a capture of one's own piece and a wrong
        promotion get their own reasons; any other illegal move leaves the king in check, is
        blocked, or breaks a drop rule, which the reason says.
        """
        usi = usi.strip()
        player = int(state.current_player)
        board = np.asarray(state.board)
        if "*" not in usi and len(usi) in (4, 5):
            try:
                source = moves.to_absolute(moves.usi_to_square(usi[:2]), player)
            except ValueError as error:
                return str(error)
            if not 0 <= board[source] < rules.OPPONENT:
                return f"there is no piece of yours on {usi[:2]}"
        try:
            action = self.usi_to_action(state, usi)
        except ValueError as error:
            return str(error)
        legal = self.legal_usi_moves(state)
        if usi in legal:
            return None
        _, dest = moves.decode(action)
        if "*" in usi:
            piece = moves.HAND_LETTERS.index(usi[0])
            if int(np.asarray(state.hand)[0, piece]) == 0:
                return f"you have no {_HAND_NAMES[piece]} in hand"
            if board[dest] != rules.EMPTY:
                return f"{usi[2:]} is occupied"
            return (f"{usi} breaks a drop rule (two unpromoted pawns on a file, a piece that could never move "
                    f"again, or a pawn drop that mates) or leaves your king in check")
        if 0 <= board[dest] < rules.OPPONENT:
            return f"your own piece is on {usi[2:4]}"
        other = usi[:4] if usi.endswith("+") else usi + "+"
        if other in legal:
            return f"the piece {'cannot promote on' if usi.endswith('+') else 'must promote after'} this move"
        return f"{usi} is blocked or leaves your king in check"

    def legal_usi_moves(self, state: ShogiState) -> list[str]:
        if bool(state.terminated):
            return []
        return sorted(
            self.action_to_usi(state, a) for a in np.flatnonzero(np.asarray(state.legal_action_mask))
        )
