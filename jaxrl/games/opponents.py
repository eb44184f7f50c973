"""Fixed players for evaluating policies: uniform random, one-step greedy, capture-greedy and negamax (two-player games).

Generic over any env that follows the game contract (`env.step_env`,
`env.action_mask`, `env.current_player`, ``reward`` of shape
``[num_players]``). Each opponent is a pure ``act(key, state) -> int32[]``
that can be `jit`-ed and `vmap`-ed over games.

A game whose env has a ``material(state, params) -> float32[num_players]``
method (Shogi) also gets material-aware opponents: `capture_greedy_opponent`,
and a negamax that scores the positions it leaves open by the material
balance. Such a game's action space is large (Shogi: 2187), so the search
there expands only legal moves, at most `SEARCH_MOVES` per position.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from envs.core import Environment
from envs.wrappers import Wrapper

Act = Callable[[jax.Array, Any], jax.Array]
"""``act(key, state) -> action``: ``key`` a PRNG key, ``state`` one game's state, ``action`` ``int32[]``."""

# Scores lie in [-1, 1]; an illegal action scores below any loss.
_ILLEGAL_SCORE = -2.0
_TIE_TOLERANCE = 1e-6
# A position left open scores at most this much (times an `evaluate` in [-1, 1]), so any win or loss
# the search sees (at least 1 - win_discount * depth) outweighs every difference of evaluations.
_LEAF_WEIGHT = 0.5
# The material balance ``b`` (in the game's own units, pawns in Shogi) is scored ``b / (|b| + scale)``:
# odd and increasing, so negamax orders positions as by the balance itself, and within (-1, 1).
_MATERIAL_SCALE = 64.0

SEARCH_MOVES = 160
"""At most this many legal moves are expanded per position by the legal-only searches
(`minimax_opponent` with ``max_moves``, `capture_greedy_opponent`); when more are legal, a
uniformly random subset of this many is searched. In Shogi (64 random games of 300 plies)
positions have a median of 46 legal moves, 99% have at most 134 and 99.8% at most 160; the
most any position allows is 593."""
SEARCH_BATCH = 2
"""Root moves whose subtrees a legal-only search of depth >= 2 expands at once (one `jax.lax.map`
batch): the deepest level holds ``SEARCH_BATCH * SEARCH_MOVES ** (depth - 1)`` positions per game at
a time, not ``SEARCH_MOVES ** depth``. Even one batch of the evaluation's games is tens of thousands
of positions stepped at once, enough to fill a GPU."""


def uniform_choice(key: jax.Array, candidates: jax.Array) -> jax.Array:
    """A uniformly random index among the true entries of ``candidates`` (``bool[A]``); ``int32[]``.

    ``candidates`` must have at least one true entry.
    """
    logits = jnp.where(candidates, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def random_opponent(env: Environment | None = None, params: Any = None) -> Act:
    """Plays a uniformly random legal action.

    The legal actions come from ``env.action_mask(state, params)`` when ``env``
    is given, else from ``state.legal_action_mask`` (an unwrapped game state).
    """

    def act(key: jax.Array, state: Any) -> jax.Array:
        mask = state.legal_action_mask if env is None else env.action_mask(state, params)
        return uniform_choice(key, mask)

    return act


def material_balance(env: Environment, params: Any) -> Callable[[Any], jax.Array] | None:
    """``balance(state) -> float32[2]``: each seat's material minus the other seat's, from the env's
    ``material(state, params)`` method; None when the env has none.

    Wrappers are looked through, each unwrapping the state (`inner_state`) on the way to the
    innermost env, which is the one whose state ``material`` reads.
    """
    layers = []
    inner = env
    while isinstance(inner, Wrapper):
        layers.append(inner)
        inner = inner.env
    material = getattr(inner, "material", None)
    if material is None:
        return None

    def balance(state: Any) -> jax.Array:
        for layer in layers:
            state = layer.inner_state(state)
        totals = material(state, params)
        return totals - totals[::-1]

    return balance


def material_evaluate(env: Environment, params: Any) -> Callable[[Any], jax.Array] | None:
    """A leaf ``evaluate`` for `minimax_opponent` from `material_balance`: ``b / (|b| + 64)`` per seat,
    in (-1, 1) and ordered as the balance ``b``; None when the env has no ``material`` method."""
    balance = material_balance(env, params)
    if balance is None:
        return None

    def evaluate(state: Any) -> jax.Array:
        b = balance(state)
        return b / (jnp.abs(b) + _MATERIAL_SCALE)

    return evaluate


def legal_candidates(key: jax.Array, legal: jax.Array, max_moves: int) -> tuple[jax.Array, jax.Array]:
    """``(actions int32[K], valid bool[K])``: the legal actions of ``legal`` (``bool[A]``), at most
    ``K = min(max_moves, A)`` of them, a uniformly random K when more are legal.

    ``valid`` marks the entries that are legal; when fewer than K actions are legal the others
    are padding (illegal actions) to be masked out. Every legal action gets a random priority
    below 1 and every illegal one -1, and the K highest are taken, so no legal action is left
    out while K suffice, and none is favoured when they do not.
    """
    width = min(int(max_moves), legal.shape[-1])
    priority = jnp.where(legal, jax.random.uniform(key, legal.shape), -1.0)
    _, actions = jax.lax.top_k(priority, width)
    return actions.astype(jnp.int32), legal[actions]


def minimax_opponent(
    env: Environment,
    params: Any,
    depth: int,
    *,
    win_discount: float = 0.01,
    evaluate: Callable[[Any], jax.Array] | None = None,
    max_moves: int | None = None,
    batch: int | None = None,
) -> Act:
    """Depth-limited negamax, ties broken at random.

    A game that ends ``ply`` moves from now (``ply`` = 1 for the opponent's own
    move) scores ``reward[mover] * (1 - win_discount * ply)`` for the seat
    ``mover`` that is to move now, so faster wins and slower losses are
    preferred; positions still open after ``depth`` plies score 0, or
    ``0.5 * evaluate(position)[mover]`` with an ``evaluate``, so that every win
    or loss the search finds outweighs any difference of evaluations.

    By default every action is expanded, legal or not: each search level is
    one `vmap` over all actions, so the traced graph holds ``depth`` copies of
    ``env.step_env`` and compiles quickly; the work per decision is
    ``num_actions ** depth`` env steps. With ``max_moves`` = K only legal
    actions are expanded (`legal_candidates`: at most K per position, a
    uniformly random K where more are legal), so the work is at most
    ``K ** depth`` steps; with ``batch`` as well, the root moves' subtrees are
    searched ``batch`` at a time (`jax.lax.map`), so the deepest level holds
    ``batch * K ** (depth - 1)`` states per game at once instead of ``K ** depth``.

    Args:
        env: a two-player game (unwrapped, or wrapped without auto-reset).
        params: its params.
        depth: plies to search, a Python int >= 1 (unrolled at trace time).
        win_discount: score lost per ply before a game's end.
        evaluate: ``evaluate(state) -> float32[num_players]`` in [-1, 1], a heuristic
            score of an open position for each seat (e.g. `material_evaluate`); None scores
            them all 0.
        max_moves: K, the most legal actions expanded per position; None expands every action.
        batch: with ``max_moves``, the root moves whose subtrees are searched together;
            None searches all at once.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"minimax depth must be a positive int, got {depth!r}")
    for name, value in (("max_moves", max_moves), ("batch", batch)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"minimax {name} must be a positive int or None, got {value!r}")
    num_actions = env.action_space(params).n
    all_actions = jnp.arange(num_actions, dtype=jnp.int32)

    def candidates(key: jax.Array, state: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(actions, legal, keys)``: the actions to expand at ``state``, which are legal, a key each."""
        legal = env.action_mask(state, params)
        if max_moves is None:
            return all_actions, legal, jax.random.split(key, num_actions)
        pick_key, key = jax.random.split(key)
        actions, valid = legal_candidates(pick_key, legal, max_moves)
        return actions, valid, jax.random.split(key, actions.shape[0])

    def action_scores(key: jax.Array, state: Any, plies_left: int, ply: int) -> tuple[jax.Array, ...]:
        """``(actions, legal, scores)``: the expanded actions, which are legal, and the negamax score
        (``float32``) of each for the seat to move at ``state``, `_ILLEGAL_SCORE` where not legal."""
        mover = env.current_player(state, params)
        actions, legal, keys = candidates(key, state)

        def score(action_key: jax.Array, action: jax.Array) -> jax.Array:
            step_key, search_key = jax.random.split(action_key)
            _, next_state, reward, terminated, truncated, _ = env.step_env(step_key, state, action, params)
            ended = terminated | truncated
            value = reward[mover] * (1.0 - win_discount * ply)
            if plies_left == 1:
                if evaluate is None:
                    return value
                leaf = _LEAF_WEIGHT * jnp.clip(evaluate(next_state)[mover], -1.0, 1.0)
                return value + jnp.where(ended, 0.0, leaf)
            best_next = jnp.max(action_scores(search_key, next_state, plies_left - 1, ply + 1)[2])
            same_mover = env.current_player(next_state, params) == mover
            continuation = jnp.where(same_mover, best_next, -best_next)
            return value + jnp.where(ended, 0.0, continuation)

        if max_moves is not None and batch is not None and ply == 1 and plies_left > 1 and batch < actions.shape[0]:
            scores = jax.lax.map(lambda pair: score(*pair), (keys, actions), batch_size=batch)
        else:
            scores = jax.vmap(score)(keys, actions)
        return actions, legal, jnp.where(legal, scores, _ILLEGAL_SCORE)

    def act(key: jax.Array, state: Any) -> jax.Array:
        search_key, choice_key = jax.random.split(key)
        actions, legal, scores = action_scores(search_key, state, depth, 1)
        best = jnp.max(scores)
        return actions[uniform_choice(choice_key, legal & (scores >= best - _TIE_TOLERANCE))]

    return act


def capture_greedy_opponent(env: Environment, params: Any, max_moves: int = SEARCH_MOVES) -> Act:
    """The legal move that leaves the mover the best material balance, ties (e.g. no capture) at random.

    Needs an env with a ``material`` method (`material_balance`). Each candidate
    move is played with `env.step_env` and the mover's balance read after it,
    so the gain of a capture counts the piece taken from the board and the one
    it adds to the mover's hand, and a promotion (with or without a capture)
    counts what it adds; a move that gains nothing ties with every quiet move.
    The game's result is not looked at (a mate in one is played only by
    chance). At most ``max_moves`` legal moves are tried per
    position, a uniformly random subset where more are legal
    (`legal_candidates`).
    """
    balance = material_balance(env, params)
    if balance is None:
        raise ValueError(f"capture_greedy_opponent needs an env with a material(state, params) method; {env!r} has none")

    def act(key: jax.Array, state: Any) -> jax.Array:
        pick_key, step_key, choice_key = jax.random.split(key, 3)
        mover = env.current_player(state, params)
        actions, legal = legal_candidates(pick_key, env.action_mask(state, params), max_moves)

        def after(step_key: jax.Array, action: jax.Array) -> jax.Array:
            return balance(env.step_env(step_key, state, action, params)[1])[mover]

        scores = jnp.where(legal, jax.vmap(after)(jax.random.split(step_key, actions.shape[0]), actions), -jnp.inf)
        return actions[uniform_choice(choice_key, legal & (scores >= jnp.max(scores) - _TIE_TOLERANCE))]

    return act


def greedy_player(env: Environment, params: Any) -> Act:
    """One-step greedy: the legal action with the best immediate reward for the mover, ties at random.

    Every action is tried with `env.step_env` under its own fresh key (what the
    env draws after the move, e.g. a puzzle's new shapes, is not known in
    advance); the reward of the seat to move is read for games. The baseline a
    puzzle agent must beat: it takes every line it can clear now and shuns a
    move that ends the game, but never plans a second move.
    """
    num_actions = env.action_space(params).n
    actions = jnp.arange(num_actions, dtype=jnp.int32)

    def act(key: jax.Array, state: Any) -> jax.Array:
        step_key, choice_key = jax.random.split(key)
        legal = env.action_mask(state, params)
        rewards = jax.vmap(lambda k, a: env.step_env(k, state, a, params)[2])(
            jax.random.split(step_key, num_actions), actions
        )
        if rewards.ndim > 1:  # per seat: the mover's
            rewards = rewards[:, env.current_player(state, params)]
        scores = jnp.where(legal, rewards, -jnp.inf)
        return uniform_choice(choice_key, legal & (scores >= jnp.max(scores) - _TIE_TOLERANCE))

    return act


# The most device memory a minimax search may take, for all games together.
MINIMAX_BYTES_LIMIT = 16 * 2**30
# `minimax_memory_bytes` counts the positions held at the deepest level; what the levels above
# hold besides (the root's candidates, keys, scores) is well within this factor.
_MEMORY_HEADROOM = 1.25


def search_options(env: Environment, params: Any) -> dict[str, Any]:
    """The `minimax_opponent` keyword arguments the evaluation gives a game.

    A material leaf evaluation where the env has a ``material`` method; the
    legal-only search (``max_moves`` = `SEARCH_MOVES`, ``batch`` = `SEARCH_BATCH`)
    where the game has more actions than `SEARCH_MOVES`, else every action is
    expanded (Connect Four).
    """
    options: dict[str, Any] = {}
    evaluate = material_evaluate(env, params)
    if evaluate is not None:
        options["evaluate"] = evaluate
    if int(env.action_space(params).n) > SEARCH_MOVES:
        options.update(max_moves=SEARCH_MOVES, batch=SEARCH_BATCH)
    return options


def search_states(num_actions: int, depth: int, max_moves: int | None = None, batch: int | None = None) -> int:
    """Positions per game a depth-``depth`` `minimax_opponent` holds at once at its deepest level.

    ``num_actions ** depth`` when every action is expanded; ``K ** depth`` with
    ``K = min(max_moves, num_actions)`` for the legal-only search; with a
    ``batch`` below K (and depth >= 2), the K root children plus
    ``batch * K ** (depth - 1)``. Depth 0 counts the one position searched from.
    """
    if max_moves is None:
        return num_actions**depth
    width = min(max_moves, num_actions)
    if depth <= 1 or batch is None or batch >= width:
        return width**depth
    return width + batch * width ** (depth - 1)


def _state_shapes(env: Environment, params: Any) -> Any:
    return jax.eval_shape(lambda key: env.reset(key, params)[1], jax.random.PRNGKey(0))


def state_bytes(env: Environment, params: Any) -> int:
    """Bytes of one game's env state."""
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(_state_shapes(env, params)))


def step_scratch_bytes(env: Environment, params: Any, positions: int = 256) -> int:
    """Scratch bytes per position of ``env.step_env`` batched as a search level batches it (many
    actions from one state), as XLA's compiler plans it on the default device.

    Compiles (shapes only; nothing runs) one step of ``positions`` actions and
    divides its temporary buffers by ``positions``. For Shogi, whose step
    generates the next position's legal moves, this is several times the
    state itself.
    """
    state = _state_shapes(env, params)
    keys = jax.eval_shape(lambda key: jax.random.split(key, positions), jax.random.PRNGKey(0))
    actions = jax.ShapeDtypeStruct((positions,), jnp.int32)

    def level(keys: jax.Array, state: Any, actions: jax.Array) -> Any:
        return jax.vmap(lambda key, action: env.step_env(key, state, action, params)[1:4])(keys, actions)

    analysis = jax.jit(level).lower(keys, state, actions).compile().memory_analysis()
    return -(-int(analysis.temp_size_in_bytes) // positions)


def minimax_state_bytes(env: Environment, params: Any, depth: int, games: int) -> int:
    """Bytes of the env states the evaluation's depth-``depth`` search (`search_options`) holds at
    once at its deepest level for ``games`` games: `search_states` per game."""
    options = search_options(env, params)
    held = search_states(int(env.action_space(params).n), depth, options.get("max_moves"), options.get("batch"))
    return held * games * state_bytes(env, params)


def minimax_memory_bytes(env: Environment, params: Any, depth: int, games: int, scratch: int | None = None) -> int:
    """Device bytes of one move of the evaluation's depth-``depth`` search for ``games`` games, an upper
    estimate: each position held at the deepest level (`minimax_state_bytes`) with its step's
    scratch (`step_scratch_bytes`, measured unless ``scratch`` is given), plus 25% for the rest.

    `compiled_move_bytes` gives what the compiler actually plans, for comparison.
    """
    scratch = step_scratch_bytes(env, params) if scratch is None else scratch
    per_state = state_bytes(env, params)
    positions = minimax_state_bytes(env, params, depth, games) // per_state
    return math.ceil(positions * (per_state + scratch) * _MEMORY_HEADROOM)


def minimax_max_games(env: Environment, params: Any, depth: int, scratch: int | None = None) -> int:
    """The most games a depth-``depth`` evaluation search may play at once within `MINIMAX_BYTES_LIMIT`."""
    scratch = step_scratch_bytes(env, params) if scratch is None else scratch
    return MINIMAX_BYTES_LIMIT // max(minimax_memory_bytes(env, params, depth, 1, scratch), 1)


def minimax_fits(env: Environment, params: Any, depth: int, games: int) -> bool:
    """Whether the evaluation's depth-``depth`` search of ``games`` games at once fits `MINIMAX_BYTES_LIMIT`."""
    return depth <= 0 or minimax_memory_bytes(env, params, depth, games) <= MINIMAX_BYTES_LIMIT


def _describe_search(env: Environment, params: Any, depth: int) -> str:
    """What a depth-``depth`` search expands per move, for messages."""
    options = search_options(env, params)
    if "max_moves" not in options:
        return f"{int(env.action_space(params).n)}^{depth} positions"
    k, batch = options["max_moves"], options["batch"]
    if depth == 1 or batch >= k:
        return f"up to {k}^{depth} positions (legal moves only)"
    return f"up to {k}^{depth} positions (legal moves only, {batch} root moves at a time)"


def check_minimax(env: Environment, params: Any, depth: int, games: int, flag: str = "--minimax-depth") -> None:
    """Raise ValueError (one line, with what to use instead) when the search would not fit in memory:
    `minimax_memory_bytes` over `MINIMAX_BYTES_LIMIT`."""
    if depth <= 0:
        return
    scratch = step_scratch_bytes(env, params)
    need = minimax_memory_bytes(env, params, depth, games, scratch)
    if need > MINIMAX_BYTES_LIMIT:
        fits = [d for d in range(depth - 1, 0, -1)
                if minimax_memory_bytes(env, params, d, games, scratch) <= MINIMAX_BYTES_LIMIT]
        advice = f"use {flag} {fits[0]} or 0 (no minimax opponent)" if fits else f"use {flag} 0 (no minimax opponent)"
        most = minimax_max_games(env, params, depth, scratch)
        if most >= 1:
            advice += f", or at most {most} games at once"
        raise ValueError(
            f"{flag} {depth} searches {_describe_search(env, params, depth)} per move of each of {games} games "
            f"at once, about {need / 2**30:,.1f} GiB of device memory (limit {MINIMAX_BYTES_LIMIT // 2**30} GiB); "
            f"{advice}"
        )


def compiled_move_bytes(env: Environment, params: Any, act: Act, games: int) -> dict[str, int]:
    """Device memory of one move of ``act`` for ``games`` games at once, as XLA's compiler plans it.

    Lowers and compiles ``jit(vmap(act))`` over ``games`` keys and states (shapes
    only; nothing runs) and reads `memory_analysis`: ``temp`` (scratch),
    ``argument``, ``output``, and ``total`` = their sum less what outputs alias.
    The compile takes as long as the real one (tens of seconds for a Shogi search).
    """
    state = jax.eval_shape(lambda key: env.reset(key, params)[1], jax.random.PRNGKey(0))
    states = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct((games, *leaf.shape), leaf.dtype), state)
    keys = jax.eval_shape(lambda key: jax.random.split(key, games), jax.random.PRNGKey(0))
    analysis = jax.jit(jax.vmap(act)).lower(keys, states).compile().memory_analysis()
    out = {
        "temp": int(analysis.temp_size_in_bytes),
        "argument": int(analysis.argument_size_in_bytes),
        "output": int(analysis.output_size_in_bytes),
    }
    out["total"] = out["temp"] + out["argument"] + out["output"] - int(analysis.alias_size_in_bytes)
    return out


def fixed_opponents(env: Environment, params: Any, minimax_depth: int) -> dict[str, Act]:
    """The evaluation opponents of a two-player game, by name.

    ``random``; ``capture_greedy`` where the env has a ``material`` method; and,
    unless ``minimax_depth`` is 0, ``minimax<depth>``, the negamax of
    `search_options` (for Shogi: on the material balance, legal moves only).
    """
    out = {"random": random_opponent(env, params)}
    if material_balance(env, params) is not None:
        out["capture_greedy"] = capture_greedy_opponent(env, params)
    if minimax_depth > 0:
        out[f"minimax{minimax_depth}"] = minimax_opponent(env, params, minimax_depth, **search_options(env, params))
    return out


__all__ = [
    "MINIMAX_BYTES_LIMIT", "SEARCH_BATCH", "SEARCH_MOVES", "Act", "capture_greedy_opponent", "check_minimax",
    "compiled_move_bytes", "fixed_opponents", "greedy_player", "legal_candidates", "material_balance",
    "material_evaluate", "minimax_fits", "minimax_max_games", "minimax_memory_bytes", "minimax_opponent", "minimax_state_bytes", "random_opponent",
    "search_options", "search_states", "state_bytes", "step_scratch_bytes", "uniform_choice",
]
