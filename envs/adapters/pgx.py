"""Run a pgx (>= 2.0) game through our `Environment` contract: ``envs.make("pgx:<env_id>")``.

pgx is imported only inside `make_pgx`, so nothing else in `envs` needs it installed.
"""

from __future__ import annotations

import difflib
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs import spaces
from envs.core import Environment, StepResult

ADAPTER_VERSION = 1
"""Bumped when the adapter's own behaviour changes; `PgxEnv.version` combines it with pgx's env version."""

INSTALL_HINT = 'pip install -e ".[pgx]"'


@struct.dataclass
class PgxParams:
    """The adapter's one parameter; pgx's games take theirs at construction (`PgxEnv` of any pgx env)."""

    max_steps_in_episode: int = 10_000  # truncation (a draw in games); pgx's own rules end its games sooner


@struct.dataclass
class PgxState:
    """One game: pgx's state as pgx steps it, and how its player ids map onto our seats.

    pgx_state: the pgx ``State`` (its ``observation`` is the current player's, its ``rewards`` per player id).
    first_player: ``int32[]``, pgx's id of the player who moved first; seat = pgx id XOR it, so that
        seat 0 moves first as in our own games (pgx draws the first mover's id at random).
    """

    pgx_state: Any
    first_player: jax.Array

    # The fields a `TwoPlayerGame` state has, for code that reads an unwrapped game state.
    @property
    def current_player(self) -> jax.Array:
        """``int32[]``, the seat to move."""
        return jnp.asarray(self.pgx_state.current_player, jnp.int32) ^ self.first_player

    @property
    def legal_action_mask(self) -> jax.Array:
        return self.pgx_state.legal_action_mask

    @property
    def terminated(self) -> jax.Array:
        return self.pgx_state.terminated


class PgxEnv(Environment[PgxState, PgxParams]):
    """A pgx environment seen through our contract; two-player games behave as `TwoPlayerGame` promises.

    - Seats: pgx labels its players at random each game; here seat 0 is the one that moves first
      (``current_player`` and ``reward`` are re-indexed), so per-seat statistics mean first / second mover.
    - ``reward``: ``float32[2]`` per seat for games (pgx's values: +-1 at the end in most games, more
      in backgammon), ``float32[]`` for single-player envs (2048, MinAtar).
    - A finished game is frozen: stepping it returns the state unchanged and zero rewards.
    - An illegal action (masked out, or outside ``[0, num_actions)``) ends the game, the mover
      penalised as pgx penalises it (-1; backgammon -3), the other seat rewarded for games.
    - The mask is pgx's legal-action mask, all true at a terminal state (pgx does the same);
      MinAtar games have no mask (every action is always legal there), like our single-agent envs.
    - ``terminated`` is pgx's end of the game, its own move caps included (Go, chess and shogi end
      at a maximum game length, scored by its rules); ``truncated`` is pgx's truncation or
      ``max_steps_in_episode`` steps taken (written into pgx's state, so the game is frozen
      there too), never on a step that terminated. Both stay set while a finished game is stepped.
    - ``info`` for games: ``winner`` (the seat that won on this step, else -1) and ``draw`` (the
      game ended drawn or was truncated on this step); empty for single-player envs.
    - Observation: pgx's own, from the viewpoint of the player to move, as ``float32``.

    ``version`` is ``100 * ADAPTER_VERSION + n`` for pgx's env version ``"v<n>"``.
    """

    def __init__(self, pgx_env: Any):
        if pgx_env.num_players not in (1, 2):
            raise ValueError(
                f"pgx:{pgx_env.id} has {pgx_env.num_players} players; "
                "our contract plays one- or two-player envs"
            )
        self.pgx_env = pgx_env
        self.name = f"pgx:{pgx_env.id}"
        self.num_players = int(pgx_env.num_players)
        self.pgx_version = str(pgx_env.version)
        self.version = 100 * ADAPTER_VERSION + _version_number(self.pgx_version)
        shapes = jax.eval_shape(pgx_env.init, jax.random.PRNGKey(0))
        self.num_actions = int(shapes.legal_action_mask.shape[-1])
        self._obs_shape = tuple(shapes.observation.shape)
        self._obs_binary = shapes.observation.dtype == jnp.bool_
        self._has_mask = not str(pgx_env.id).startswith("minatar-")
        self._penalty = float(getattr(pgx_env, "_illegal_action_penalty", -1.0))

    @property
    def default_params(self) -> PgxParams:
        return PgxParams()

    def reset_env(self, key: jax.Array, params: PgxParams) -> tuple[jax.Array, PgxState]:
        # Fresh buffers of fixed dtypes: pgx fills some fields with module-level constants (one buffer
        # under two fields, which a jit that donates its arguments refuses) or with Python ints (weakly
        # typed under jit).
        inner = jax.tree.map(lambda leaf: jnp.array(leaf, jnp.asarray(leaf).dtype), self.pgx_env.init(key))
        state = PgxState(inner, jnp.array(inner.current_player, jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key: jax.Array, state: PgxState, action: Any, params: PgxParams) -> StepResult:
        inner = state.pgx_state
        action = jnp.asarray(action, jnp.int32)
        num_actions = self.num_actions
        finished = inner.terminated | inner.truncated
        mover = inner.current_player
        # pgx indexes its mask with the action, which JAX clamps, so an action outside the range is
        # settled here. It and a finished game are stepped as terminated states: pgx then keeps the
        # position and player, makes every action legal and zeroes the rewards; the penalty is ours.
        off_range = ~finished & ((action < 0) | (action >= num_actions))
        stepped = self.pgx_env.step(
            inner.replace(terminated=inner.terminated | inner.truncated | off_range),
            jnp.clip(action, 0, num_actions - 1),
            key,
        )
        players = jnp.arange(self.num_players)
        penalty = jnp.where(players == mover, self._penalty, -self._penalty * (self.num_players - 1))
        rewards = jnp.where(off_range, penalty, stepped.rewards).astype(jnp.float32)
        # pgx counts an illegal move as a step; so does an action outside the range.
        step_count = stepped._step_count + off_range.astype(stepped._step_count.dtype)
        limit = ~finished & ~stepped.terminated & (step_count >= params.max_steps_in_episode)
        stepped = stepped.replace(
            rewards=rewards,
            _step_count=step_count,
            truncated=stepped.truncated | limit,
        )
        # A finished game comes back as it was; pgx may have zeroed its rewards, or marked a truncated
        # game lost on an illegal action.
        stepped = stepped.replace(
            rewards=jnp.where(finished, inner.rewards, stepped.rewards),
            terminated=jnp.where(finished, inner.terminated, stepped.terminated),
            truncated=jnp.where(finished, inner.truncated, stepped.truncated),
            legal_action_mask=jnp.where(finished, inner.legal_action_mask, stepped.legal_action_mask),
        )
        new_state = state.replace(pgx_state=stepped)
        reward = jnp.where(finished, 0.0, self._seat_order(rewards, state.first_player))
        terminated = stepped.terminated
        # Like ``terminated``, ``truncated`` describes the state reached, so it stays set on a frozen game.
        truncated = stepped.truncated & ~terminated
        obs = self.get_obs(new_state, params)
        if self.num_players == 1:
            return obs, new_state, reward[0], terminated, truncated, {}
        decided = ~finished & terminated & (jnp.max(reward) > 0)
        winner = jnp.where(decided, jnp.argmax(reward), -1).astype(jnp.int32)
        draw = ~finished & ((terminated & (winner < 0)) | truncated)
        return obs, new_state, reward, terminated, truncated, {"winner": winner, "draw": draw}

    def _seat_order(self, per_player: jax.Array, first_player: jax.Array) -> jax.Array:
        """Values indexed by pgx player id -> indexed by seat (reversed where pgx's player 1 moved first)."""
        if self.num_players == 1:
            return per_player
        return jnp.where(first_player == 1, per_player[::-1], per_player)

    def get_obs(self, state: PgxState, params: PgxParams | None = None) -> jax.Array:
        """pgx's observation of ``state`` (the player to move's view) as float32."""
        return jnp.asarray(state.pgx_state.observation, jnp.float32)

    def observation_space(self, params: PgxParams) -> spaces.Box:
        low, high = (0.0, 1.0) if self._obs_binary else (-jnp.inf, jnp.inf)
        return spaces.Box(low, high, self._obs_shape, jnp.float32)

    def action_space(self, params: PgxParams) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def action_mask(self, state: PgxState, params: PgxParams | None = None) -> jax.Array | None:
        return state.pgx_state.legal_action_mask if self._has_mask else None

    def current_player(self, state: PgxState, params: PgxParams | None = None) -> jax.Array:
        return state.current_player if self.num_players == 2 else jnp.zeros((), jnp.int32)


def _version_number(version: str) -> int:
    """``"v2"`` -> 2 (pgx names its env versions so)."""
    digits = str(version).lstrip("vV")
    if not digits.isdigit():
        raise ValueError(f"unexpected pgx env version {version!r}; expected 'v<number>'")
    return int(digits)


def make_pgx(env_id: str) -> tuple[PgxEnv, PgxParams]:
    """``pgx.make(env_id)`` wrapped in `PgxEnv`; returns ``(env, default params)``."""
    try:
        import pgx
    except ModuleNotFoundError as error:
        # pgx itself, or one of its own imports (it imports svgwrite at once).
        missing = error.name or "pgx"
        raise ImportError(f"pgx games need {missing!r}: {INSTALL_HINT}") from None
    found = str(getattr(pgx, "__version__", "?"))
    major = found.split(".")[0]
    if not major.isdigit() or int(major) < 2:
        raise ImportError(f"pgx games need pgx >= 2.0, found {found}: {INSTALL_HINT}")
    available = list(pgx.available_envs())
    if env_id not in available:
        close = difflib.get_close_matches(env_id, available, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(f'pgx:{c}') for c in close)}?" if close else "no close match"
        raise ValueError(f"unknown pgx environment {env_id!r}: {hint} (available: {', '.join(available)})")
    env = PgxEnv(pgx.make(env_id))
    return env, env.default_params
