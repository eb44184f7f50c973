"""The tree search: mctx's Gumbel MuZero or MuZero policy with the env itself as the model.

The embedding of a tree node is the env state it stands for, and `recurrent_fn`
steps the real env: AlphaZero's perfect simulator. The network only supplies
priors and leaf values. Conventions (mctx backs up ``reward + discount * value``):

- Two-player games: a node's value is from the viewpoint of the player to move
  there; the reward of an edge is the mover's reward; the discount is -1 where
  the turn passes to the opponent (+1 if the same seat moves again), and 0 once
  the game is over, whose value is 0.
- Single-player: the env's reward, the configured discount, 0 after the end.

Illegal actions are removed at the root through ``invalid_actions`` and inside
the tree by a large negative prior logit on the illegal actions of each expanded
state, so the search never prefers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mctx

from envs import Environment

# Large negative logit for illegal actions: softmax gives them exactly 0 while staying finite.
MASKED_LOGIT = -1e9

Evaluate = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]
"""``evaluate(params, obs [B, ...]) -> (logits [B, A], value [B])``, the value from the mover's viewpoint."""


class SearchOutput(NamedTuple):
    """What one batched search returns, per game ``[B, ...]``.

    action: ``int32[B]`` the move to play (greedy: argmax of ``action_weights``).
    action_weights: ``float32[B, A]`` the improved policy, the policy target (0 on illegal actions).
    root_value: ``float32[B]`` the search's value of the root, from the mover's viewpoint.
    """

    action: jax.Array
    action_weights: jax.Array
    root_value: jax.Array


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """``logits`` with `MASKED_LOGIT` where ``mask`` is False."""
    return jnp.where(mask, logits, MASKED_LOGIT)


class Search:
    """A batched search for one env and network; ``search(params, key, states, obs, greedy=...)``.

    ``env`` is the bare env (no wrappers): its states are the tree's embeddings.
    Keyword arguments are the search knobs of `AlphaZeroConfig` (``kind`` is its ``search``).
    """

    def __init__(
        self,
        env: Environment,
        env_params: Any,
        evaluate: Evaluate,
        *,
        num_simulations: int,
        kind: str = "gumbel",
        discount: float = 1.0,
        max_num_considered_actions: int = 16,
        gumbel_scale: float = 1.0,
        dirichlet_alpha: float = 0.3,
        dirichlet_fraction: float = 0.25,
        pb_c_init: float = 1.25,
        pb_c_base: float = 19652.0,
        temperature: float = 1.0,
    ):
        self.env, self.env_params, self.evaluate = env, env_params, evaluate
        self.num_simulations = num_simulations
        self.kind = kind
        self.discount = discount
        self.max_num_considered_actions = max_num_considered_actions
        self.gumbel_scale = gumbel_scale
        self.dirichlet_alpha = dirichlet_alpha
        self.dirichlet_fraction = dirichlet_fraction
        self.pb_c_init, self.pb_c_base = pb_c_init, pb_c_base
        self.temperature = temperature
        self.two_player = env.num_players == 2

    def _mask(self, states: Any) -> jax.Array:
        return jax.vmap(self.env.action_mask, in_axes=(0, None))(states, self.env_params)

    def _player(self, states: Any) -> jax.Array:
        return jax.vmap(self.env.current_player, in_axes=(0, None))(states, self.env_params)

    def recurrent_fn(
        self, params: Any, key: jax.Array, action: jax.Array, states: Any
    ) -> tuple[mctx.RecurrentFnOutput, Any]:
        """One step of the env from every leaf ``states`` ``[B]`` with ``action`` ``[B]`` (mctx's signature)."""
        num_games = action.shape[0]
        mover = self._player(states)
        obs, next_states, reward, terminated, _, _ = jax.vmap(self.env.step_env, in_axes=(0, 0, 0, None))(
            jax.random.split(key, num_games), states, action, self.env_params
        )
        logits, value = self.evaluate(params, obs)
        logits = masked_logits(logits, self._mask(next_states))
        if self.two_player:
            reward = jnp.take_along_axis(reward, mover[:, None].astype(jnp.int32), axis=-1)[:, 0]
            discount = jnp.where(self._player(next_states) == mover, 1.0, -1.0)
        else:
            discount = jnp.full_like(reward, self.discount)
        # A truncation inside the tree is not an end: the position still has its value.
        discount = jnp.where(terminated, 0.0, discount).astype(jnp.float32)
        value = jnp.where(terminated, 0.0, value).astype(jnp.float32)
        output = mctx.RecurrentFnOutput(
            reward=reward.astype(jnp.float32), discount=discount, prior_logits=logits, value=value
        )
        return output, next_states

    def root(self, params: Any, states: Any, obs: jax.Array) -> tuple[mctx.RootFnOutput, jax.Array]:
        """The root of every game ``[B]`` and its legal-action mask ``bool[B, A]``."""
        logits, value = self.evaluate(params, obs)
        mask = self._mask(states)
        return mctx.RootFnOutput(prior_logits=masked_logits(logits, mask), value=value, embedding=states), mask

    def __call__(self, params: Any, key: jax.Array, states: Any, obs: jax.Array, *, greedy: bool) -> SearchOutput:
        """Search from ``states`` (bare env states ``[B]``) with observations ``obs`` ``[B, ...]``.

        Self-play (``greedy`` False) adds the root noise and acts like the paper: Gumbel
        MuZero's chosen action, or a sample of the visit counts at ``temperature``.
        ``greedy`` removes the noise and plays the argmax of the action weights.
        """
        root, mask = self.root(params, states, obs)
        if self.kind == "gumbel":
            out = mctx.gumbel_muzero_policy(
                params, key, root, self.recurrent_fn, self.num_simulations, invalid_actions=~mask,
                max_num_considered_actions=self.max_num_considered_actions,
                gumbel_scale=0.0 if greedy else self.gumbel_scale,
            )
        else:
            out = mctx.muzero_policy(
                params, key, root, self.recurrent_fn, self.num_simulations, invalid_actions=~mask,
                dirichlet_fraction=0.0 if greedy else self.dirichlet_fraction,
                dirichlet_alpha=self.dirichlet_alpha, pb_c_init=self.pb_c_init, pb_c_base=self.pb_c_base,
                temperature=self.temperature,
            )
        weights = jnp.where(mask, out.action_weights, 0.0)
        action = jnp.argmax(masked_logits(weights, mask), axis=-1) if greedy else out.action
        root_value = out.search_tree.node_values[:, out.search_tree.ROOT_INDEX]
        return SearchOutput(action.astype(jnp.int32), weights, root_value)


__all__ = ["MASKED_LOGIT", "Evaluate", "Search", "SearchOutput", "masked_logits"]
