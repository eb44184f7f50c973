"""`load_policy`: a trained agent from a run directory, as a jitted function of observations."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from jaxrl.run.evaluation import seed_state
from jaxrl.run.rundir import restore_run


def load_policy(path: str | Path, deterministic: bool = True, seed_index: int = 0):
    """A jitted ``act(obs, key=None, mask=None) -> action`` from a run directory or checkpoint.

    ``obs`` is one observation or a batch. Without ``key`` (or with
    ``deterministic=True``) the most likely action is taken. A multi-seed run
    gives seed ``seed_index``'s agent (its parameters and its own observation
    statistics). ``act.algo`` is the algorithm, ``act.meta`` the checkpoint's metadata.
    """
    algo, state, meta = restore_run(path)
    agent = algo.agent(seed_state(state, seed_index))
    obs_ndim = len(algo.env.observation_space(algo.env_params).shape)

    @jax.jit
    def _act(obs, key, mask):
        single = obs.ndim == obs_ndim
        batch = obs[None] if single else obs
        masks = None if mask is None else (mask[None] if single else mask)
        policy = algo.agent_policy(agent, greedy=key is None)
        keys = jax.random.split(jax.random.PRNGKey(0) if key is None else key, batch.shape[0])
        action = jax.vmap(policy, in_axes=(0, None, 0, None if masks is None else 0))(keys, None, batch, masks)
        return action[0] if single else action

    def act(obs, key=None, mask=None):
        return _act(jnp.asarray(obs), None if deterministic else key, mask)

    act.algo = algo  # type: ignore[attr-defined]
    act.meta = meta  # type: ignore[attr-defined]
    return act


__all__ = ["load_policy"]
