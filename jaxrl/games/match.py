"""Whole episodes on device: one frozen-episode loop for evaluation and for matches between two policies.

`play_episodes` runs a batch of fresh episodes until all are done (finished
ones frozen while the others go on). `run_episodes` is its single-agent view
(return and length of each episode); `play_match` pits two policies against
each other in a two-player game and counts wins, draws and losses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.games.opponents import uniform_choice

Policy = Callable[[jax.Array, Any, jax.Array, jax.Array], jax.Array]
"""``policy(key, state, obs, mask) -> action`` for *one* game (``play_match`` vmaps it over games).

``state`` is the game's state, ``obs`` its observation for the seat to move,
``mask`` the legal-action mask ``bool[A]``; the action is ``int32[]``.
"""

Choose = Callable[[jax.Array, jax.Array, Any, jax.Array, Any], jax.Array]
"""``choose(key, moves, states, obs, masks) -> actions``, batched over episodes: ``states``, ``obs`` ``[N, ...]``
and ``masks`` ``bool[N, A]`` (None for envs without a mask); ``moves`` is the ``int32[]`` count of moves made."""


class Episodes(NamedTuple):
    """What `play_episodes` returns, per episode.

    returns: ``float32[N, num_players]`` summed reward of each seat (one column for single-agent envs).
    length: ``int32[N]`` steps taken.
    done: ``bool[N]`` whether the episode ended (else it was still running after ``max_steps``).
    info: the env's `episode_metrics` keys of ``info`` on each episode's last step, ``[N]`` each.
    """

    returns: jax.Array
    length: jax.Array
    done: jax.Array
    info: dict[str, jax.Array]


def play_episodes(
    env: Any, params: Any, choose: Choose, key: jax.Array, num_episodes: int, max_steps: int
) -> Episodes:
    """Play ``num_episodes`` fresh episodes of ``env`` (no auto-reset) at once, ``choose`` picking every action.

    Each episode starts from ``env.reset``; finished episodes are frozen (state,
    observation, return and length stay as they were) while the others go on,
    in a `lax.while_loop` that ends when all are done or after ``max_steps``
    steps. Pure: `jit`- and `vmap`-able (``num_episodes`` and ``max_steps`` static).
    """
    num_players = env.num_players
    key_reset, key_play = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_episodes), params)
    batch_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def step(carry):
        moves, key, obs, state, done, returns, length, last_info = carry
        key, key_choose, key_step = jax.random.split(key, 3)
        mask = jax.vmap(env.action_mask, in_axes=(0, None))(state, params)
        action = choose(key_choose, moves, state, obs, mask)
        next_obs, next_state, reward, terminated, truncated, info = batch_step(
            jax.random.split(key_step, num_episodes), state, action, params
        )
        returns = returns + jnp.where(done[:, None], 0.0, reward.reshape(num_episodes, num_players))
        length = length + jnp.where(done, 0, 1)

        def keep(new, old):
            return jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), old, new)

        state = jax.tree.map(keep, next_state, state)
        obs = keep(next_obs, obs)
        last_info = {k: keep(jnp.asarray(info[k], v.dtype), v) for k, v in last_info.items()}
        done = done | terminated | truncated
        return moves + 1, key, obs, state, done, returns, length, last_info

    def running(carry):
        moves, done = carry[0], carry[4]
        return (moves < max_steps) & ~jnp.all(done)

    carry = (
        jnp.zeros((), jnp.int32), key_play, obs, state, jnp.zeros(num_episodes, bool),
        jnp.zeros((num_episodes, num_players), jnp.float32), jnp.zeros(num_episodes, jnp.int32),
        _episode_info_zeros(env, params, state, num_episodes),
    )
    _, _, _, _, done, returns, length, info = jax.lax.while_loop(running, step, carry)
    return Episodes(returns=returns, length=length, done=done, info=info)


def _episode_info_zeros(env: Any, params: Any, state: Any, num_episodes: int) -> dict[str, jax.Array]:
    """Zeros shaped like the ``info`` entries named by ``env.episode_metrics`` (found by tracing one step)."""
    keys = tuple(getattr(env, "episode_metrics", ()))
    if not keys:
        return {}
    one = jax.tree.map(lambda x: x[0], state)
    action = jnp.zeros(env.action_space(params).shape, env.action_space(params).dtype)
    shapes = jax.eval_shape(lambda: env.step(jax.random.PRNGKey(0), one, action, params)[-1])
    return {k: jnp.zeros((num_episodes, *shapes[k].shape), shapes[k].dtype) for k in keys}


def run_episodes(
    env: Any,
    env_params: Any,
    policy: Policy,
    key: jax.Array,
    num_episodes: int,
    max_steps: int,
) -> dict[str, jax.Array]:
    """Play ``num_episodes`` episodes at once, each move ``policy(key, state, obs, mask)`` vmapped over them.

    The policy sees the env state (a search simulates from it; most policies read only
    ``obs``). Returns per-episode ``return`` and ``length`` ``[N]`` (seat 0's return for
    games), and each of the env's `episode_metrics` (e.g. ``score``). Episodes
    still running after ``max_steps`` count what they have.
    """

    def choose(key, moves, state, obs, mask):
        keys = jax.random.split(key, obs.shape[0])
        return jax.vmap(policy, in_axes=(0, 0, 0, None if mask is None else 0))(keys, state, obs, mask)

    episodes = play_episodes(env, env_params, choose, key, num_episodes, max_steps)
    return {"return": episodes.returns[:, 0], "length": episodes.length, **episodes.info}


def from_opponent(act: Callable[[jax.Array, Any], jax.Array]) -> Policy:
    """Adapts a fixed opponent ``act(key, state)`` (`jaxrl.games.opponents`) to the `Policy` signature."""
    return lambda key, state, obs, mask: act(key, state)


def play_match(
    env: Any,
    params: Any,
    policy_a: Policy,
    policy_b: Policy,
    key: jax.Array,
    num_games: int,
    a_seat: int | jax.Array,
    max_moves: int = 10_000,
    opening_moves: int = 0,
) -> dict[str, jax.Array]:
    """Plays ``num_games`` games at once, ``policy_a`` in seat ``a_seat`` and ``policy_b`` in the other.

    ``env`` is a two-player game *without* auto-reset, ``params`` its params;
    the games run in `play_episodes`. Both policies are evaluated for every
    game each move and the mover's choice is selected, so ``a_seat`` may be
    traced (``jax.vmap`` over seats compiles one program for both). The first
    ``opening_moves`` moves of every game are uniformly random legal moves
    instead of the policies' (random openings, so that two deterministic
    policies still play varied games).

    A game is won by the seat with the larger total reward; equal totals, and
    games still running after ``max_moves``, are draws. Returns ``int32[]``
    counts ``{"wins", "draws", "losses"}`` from ``policy_a``'s view.
    """
    a_seat = jnp.asarray(a_seat, jnp.int32)

    def choose(key, moves, state, obs, mask):
        key_a, key_b, key_open = jax.random.split(key, 3)
        game_keys = lambda k: jax.random.split(k, num_games)  # noqa: E731
        mover = jax.vmap(env.current_player, in_axes=(0, None))(state, params)
        action_a = jax.vmap(policy_a)(game_keys(key_a), state, obs, mask)
        action_b = jax.vmap(policy_b)(game_keys(key_b), state, obs, mask)
        action = jnp.where(mover == a_seat, action_a, action_b)
        if opening_moves > 0:
            opening = jax.vmap(uniform_choice)(game_keys(key_open), mask)
            action = jnp.where(moves < opening_moves, opening, action)
        return action

    episodes = play_episodes(env, params, choose, key, num_games, max_moves)
    a_return = jnp.take(episodes.returns, a_seat, axis=1)
    b_return = jnp.take(episodes.returns, 1 - a_seat, axis=1)
    wins = episodes.done & (a_return > b_return)
    losses = episodes.done & (a_return < b_return)
    return {
        "wins": wins.sum().astype(jnp.int32),
        "draws": (~wins & ~losses).sum().astype(jnp.int32),
        "losses": losses.sum().astype(jnp.int32),
    }


def both_seats(
    env: Any, params: Any, policy_a: Policy, policy_b: Policy, key: jax.Array, games: int, max_moves: int,
    opening_moves: int = 0,
) -> dict[str, jax.Array]:
    """`play_match` from each seat: counts ``int32[2]``, index 0 with ``policy_a`` as seat 0, index 1 as seat 1."""
    return jax.vmap(
        lambda k, seat: play_match(env, params, policy_a, policy_b, k, games, seat, max_moves, opening_moves)
    )(jax.random.split(key, 2), jnp.arange(2))


__all__ = ["Choose", "Episodes", "Policy", "both_seats", "from_opponent", "play_episodes", "play_match", "run_episodes"]
