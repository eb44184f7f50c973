"""`TwoPlayerGame`: the terminal rules every two-seat board game shares, written once.

A game writes only its rules for one legal move (`_play`), its observation and
its spaces; `TwoPlayerGame.step_env` (after pgx's ``core.Env.step``) adds the rest.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, final

import jax
import jax.numpy as jnp

from envs.core import Environment, StepResult


class GameState(Protocol):
    """The fields `TwoPlayerGame` reads and writes; a game's state dataclass may hold more.

    current_player: ``int32[]``, the seat to move (0 or 1).
    legal_action_mask: ``bool[num_actions]``, legal actions of ``current_player``; all true once terminated.
    terminated: ``bool[]``, the game is over.
    winner: ``int32[]``, the seat that won; -1 while the game goes on, or for a draw.
    """

    current_player: jax.Array
    legal_action_mask: jax.Array
    terminated: jax.Array
    winner: jax.Array

    def replace(self, **changes: Any) -> Any: ...


TGameState = TypeVar("TGameState", bound=GameState)
TEnvParams = TypeVar("TEnvParams")


class TwoPlayerGame(Environment[TGameState, TEnvParams]):
    """Base class of turn-based, zero-sum games for two seats.

    Subclasses write `reset_env`, `_play`, `get_obs` and the spaces, and may
    override `_after_illegal` and `_truncated`. `step_env` is final; it owns:

    - A terminated game is frozen: stepping it returns the state unchanged and
      zero rewards (the `AutoReset` wrapper starts a new game instead).
    - An illegal action (masked out, or outside ``[0, num_actions)``) ends the
      game as a loss for the mover, on the position `_after_illegal` gives.
    - At a terminal state every action is legal, so a masked policy still has
      a distribution to sample from.
    - ``reward`` is ``float32[2]``, one per seat: +1 for the winner and -1 for
      the loser on the step the game is decided, 0 otherwise and for a draw.
    - ``info``: ``winner`` (``int32[]``, the seat that won on this step, else
      -1) and ``draw`` (``bool[]``, the game ended drawn or was truncated on
      this step).
    """

    num_players = 2

    # -- what games implement ------------------------------------------------------------
    def _play(self, key: jax.Array, state: TGameState, action: jax.Array, params: TEnvParams) -> TGameState:
        """The state after the mover plays ``action`` (``int32[]``, legal, so within range).

        Sets every field: the position, ``current_player`` (the next mover), the
        next mover's ``legal_action_mask`` (the base makes it all true once the
        game is over), ``terminated``, and ``winner`` (-1 for none or a draw).
        The result is used only when ``action`` is legal, but it is computed
        for every step under `vmap`, so it must not fail on any input.
        """
        raise NotImplementedError

    def get_obs(self, state: TGameState, params: TEnvParams | None = None) -> jax.Array:
        """The observation of ``state``, from the viewpoint of ``state.current_player``."""
        raise NotImplementedError

    def _after_illegal(self, state: TGameState, params: TEnvParams) -> TGameState:
        """The position an illegal action ends the game on; default: the position before it.

        The base then marks it terminated, won by the other seat, with every action legal.
        """
        return state

    def _truncated(self, state: TGameState) -> jax.Array:
        """Whether ``state`` was cut off by a move cap (counted a draw), ``bool[]``; no cap by default."""
        return jnp.zeros((), bool)

    # -- the shared rules ----------------------------------------------------------------
    @final
    def step_env(self, key: jax.Array, state: TGameState, action: Any, params: TEnvParams) -> StepResult:
        action = jnp.asarray(action, jnp.int32)
        mask = state.legal_action_mask
        num_actions = mask.shape[-1]
        mover = state.current_player
        finished = state.terminated
        # A one-hot match rather than indexing: an out-of-range action matches nothing.
        legal = jnp.any(mask & (jnp.arange(num_actions) == action))

        played = self._play(key, state, jnp.clip(action, 0, num_actions - 1), params)
        played = played.replace(legal_action_mask=played.legal_action_mask | played.terminated)
        lost = self._after_illegal(state, params).replace(
            legal_action_mask=jnp.ones_like(mask),
            terminated=jnp.ones_like(finished),
            winner=(1 - mover).astype(jnp.int32),
        )
        kept = _select(finished, state, lost)
        new_state = _select(finished | ~legal, kept, played)

        winner = jnp.where(finished, -1, new_state.winner).astype(jnp.int32)
        reward = jnp.where(winner < 0, 0.0, jnp.where(jnp.arange(2) == winner, 1.0, -1.0)).astype(jnp.float32)
        cut = self._truncated(new_state)
        draw = ~finished & ((new_state.terminated & (new_state.winner < 0)) | cut)
        info = {"winner": winner, "draw": draw}
        obs = self.get_obs(new_state, params)
        return obs, new_state, reward, new_state.terminated, cut & ~finished, info

    # -- the game contract ---------------------------------------------------------------
    def action_mask(self, state: TGameState, params: TEnvParams | None = None) -> jax.Array:
        return state.legal_action_mask

    def current_player(self, state: TGameState, params: TEnvParams | None = None) -> jax.Array:
        return state.current_player


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where`` over two states of one structure; a leaf both share is taken as it is.

    A select rather than `lax.cond` stays cheap under `vmap`; skipping shared
    leaves keeps big ones (e.g. Shogi's position history) out of the select.
    """
    return jax.tree.map(lambda a, b: a if a is b else jnp.where(pred, a, b), on_true, on_false)
