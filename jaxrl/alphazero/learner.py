"""AlphaZero as pure functions: ``init(key) -> state``, ``update(state)``, ``train(key)``.

Read top to bottom: the training state, building the env, network, search and
optimiser, self-play (one batched search per move, `lax.scan` over
``num_steps`` moves, finished games' moves written to the replay buffer), and
learning (``train_steps`` AdamW steps on minibatches drawn from the buffer).
Nothing here touches the host, so every function can be jitted, vmapped over
seeds and sharded. `AlphaZero` implements `jaxrl.algorithm.Algorithm`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from envs import wrappers
from jaxrl import backend, seats
from jaxrl.alphazero import buffer as replay
from jaxrl.alphazero import trajectory
from jaxrl.alphazero.config import AlphaZeroConfig, validate
from jaxrl.alphazero.network import AlphaZeroNet
from jaxrl.alphazero.search import Search, masked_logits
from jaxrl.games.match import Policy
from jaxrl.games.opponents import uniform_choice
from jaxrl.sharding import split_over_devices

# What `update` reports, per update (scalars reduced on device); games add `jaxrl.seats`'s outcome
# counts and rates, single-player envs `episode_return`; every env `episode_<key>` for its `episode_metrics`
# (Triangles: `episode_score`), as PPO does.
METRICS = (
    "update", "total_loss", "policy_loss", "value_loss", "search_entropy", "root_value", "learning_rate",
    "buffer_size", "episodes", "episode_length",
)
# A non-finite value of one of these stops a run.
CHECKED_METRICS = ("total_loss", "policy_loss", "value_loss")


@struct.dataclass
class AlphaZeroState:
    """Everything needed to continue training bit-exactly.

    Fields (``B`` = num_envs, ``P`` = the pending moves per game): ``params`` network
    parameters; ``opt_state`` optax state (Adam moments and step count); ``env_state``
    the wrapped env states ``[B, ...]`` (episode statistics and auto-reset around the
    game); ``obs`` the current observations ``[B, *obs_shape]``; ``pending`` the moves of
    the running games waiting for their value targets ``[B, P, ...]``
    (`jaxrl.alphazero.trajectory.Pending`); ``buffer`` the replay buffer
    ``[capacity, ...]``; ``rng`` the PRNG key; ``update`` int32 count of completed
    updates. Env steps taken are ``update * num_envs * num_steps`` (see `env_steps`).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    pending: trajectory.Pending
    buffer: replay.Buffer
    rng: jax.Array
    update: jax.Array


class Move(NamedTuple):
    """What one self-play move reports for every game; stacked by the scan to ``[T, B, ...]``."""

    episode_done: jax.Array
    episode_return: jax.Array  # per seat for games: [T, B, num_players]
    episode_length: jax.Array
    seat_reward: jax.Array
    episode_info: dict  # the env's `episode_metrics` keys of info, [T, B]
    search_entropy: jax.Array
    root_value: jax.Array


def build_env(config: AlphaZeroConfig, *, training: bool = True) -> tuple[envs.Environment, Any]:
    """The env and params: with ``training``, wrapped in episode statistics and auto-reset; without,
    the bare env, as evaluation plays it and as the search simulates it."""
    env, params = envs.make(config.env, **dict(config.env_kwargs))
    if training:
        env = wrappers.AutoReset(wrappers.EpisodeStatistics(env))
    return env, params


def bare_state(env: envs.Environment, state: Any) -> Any:
    """The innermost env's state of a wrapped env's ``state``."""
    while isinstance(env, wrappers.Wrapper):
        state, env = env.inner_state(state), env.env
    return state


def _moves_played(env: envs.Environment, state: Any) -> jax.Array:
    """Moves played so far in each running game of a wrapped env's ``state`` (its `EpisodeStatistics`)."""
    while not isinstance(env, wrappers.EpisodeStatistics):
        state, env = env.inner_state(state), env.env
    return state.extra.episode_length


def _entropy(probs: jax.Array) -> jax.Array:
    return -jnp.sum(jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0), axis=-1)


class AlphaZero:
    """The algorithm for one config: pure ``init``, ``update``, ``train`` and helpers."""

    name = "alphazero"
    checked_metrics = CHECKED_METRICS
    env_batch_fields = ("env_state", "obs", "pending")  # leaves with the env batch axis [B, ...]

    def __init__(self, config: AlphaZeroConfig):
        validate(config)
        self.config = config
        self.env, self.env_params = build_env(config)
        self.game = self.env.unwrapped
        self.num_players = self.env.num_players
        self.num_actions = int(self.env.action_space(self.env_params).n)
        # The search is hundreds of short loops per move: kept on the device where the GPU can.
        self.backend = backend.resolve(graph_loops="auto")
        # bfloat16 convolutions are faster on accelerators and slower on CPUs.
        self.dtype = config.dtype if config.dtype != "auto" else (
            "float32" if self.backend.platform == "cpu" else "bfloat16")
        self.network = AlphaZeroNet(
            num_actions=self.num_actions, channels=config.channels, num_blocks=config.num_blocks,
            bounded_value=self.num_players > 1, dtype=jnp.dtype(self.dtype), norm=config.norm,
        )
        self.search = self._build_search(config.num_simulations)
        self.eval_search = self._build_search(config.eval_num_simulations)
        # AdamW with the learning rate applied outside the chain, so that it follows the update
        # counter (and may be a tracer) rather than optax's step count, which skipped steps do not advance.
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optax.scale_by_adam(),
            optax.add_decayed_weights(config.weight_decay),
        )
        outcomes = ("games", *seats.OUTCOMES, *seats.OUTCOME_RATES)
        self.metric_names = (
            METRICS + (outcomes if self.num_players > 1 else ("episode_return",))
            + tuple(f"episode_{key}" for key in self.env.episode_metrics)
        )

    def _build_search(self, num_simulations: int) -> Search:
        cfg = self.config
        return Search(
            self.game, self.env_params, self.evaluate, num_simulations=num_simulations, kind=cfg.search,
            discount=cfg.discount, max_num_considered_actions=cfg.max_num_considered_actions,
            gumbel_scale=cfg.gumbel_scale, dirichlet_alpha=cfg.dirichlet_alpha,
            dirichlet_fraction=cfg.dirichlet_fraction, pb_c_init=cfg.pb_c_init, pb_c_base=cfg.pb_c_base,
            temperature=cfg.temperature,
        )

    # -- counters and schedules ----------------------------------------------------
    @property
    def num_updates(self) -> int:
        """Updates in a whole run (``total_timesteps`` rounded down to whole updates)."""
        return self.config.num_updates

    @property
    def steps_per_update(self) -> int:
        """Self-play moves one update takes, per seed: ``num_envs * num_steps``."""
        return self.config.steps_per_update

    def env_steps(self, state: AlphaZeroState) -> int:
        """Env steps taken so far by one seed, as an exact Python int (host side)."""
        return int(jax.device_get(state.update).max()) * self.steps_per_update

    def describe(self) -> str:
        """One line on what an update does, for the run's start-up summary."""
        cfg = self.config
        search = f"{cfg.search} search of {cfg.num_simulations} simulations"
        return (f"self-play: {cfg.num_envs} games x {cfg.num_steps} moves per update, each move a {search}; "
                f"then {cfg.train_steps} gradient steps on {cfg.batch_size} samples of a {cfg.buffer_capacity} buffer; "
                f"net {cfg.channels}x{cfg.num_blocks} ({cfg.norm} norm, {self.dtype})")

    def learning_rate(self, update: jax.Array) -> jax.Array:
        """The learning rate of update ``update`` (0-based) under ``lr_schedule``."""
        cfg = self.config
        progress = jnp.asarray(update, jnp.float32) / cfg.num_updates
        if cfg.lr_schedule == "linear":
            return cfg.lr * (1.0 - progress)
        if cfg.lr_schedule == "cosine":
            return cfg.lr * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        return jnp.asarray(cfg.lr, jnp.float32)

    # -- init ----------------------------------------------------------------------
    def init(self, key: jax.Array) -> AlphaZeroState:
        cfg = self.config
        key, key_net, key_env = jax.random.split(key, 3)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(key_env, cfg.num_envs), self.env_params
        )
        params = self.network.init(key_net, obs[:1])
        example = trajectory.example_sample(obs[0], self.num_actions)
        return AlphaZeroState(
            params=params,
            opt_state=self.optimizer.init(params),
            env_state=env_state,
            obs=obs,
            pending=trajectory.init(cfg.num_envs, cfg.pending_length, obs[0], self.num_actions),
            buffer=replay.init(example, cfg.buffer_capacity),
            rng=key,
            update=jnp.zeros((), jnp.int32),
        )

    # -- acting --------------------------------------------------------------------
    def evaluate(self, params: Any, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The network on a batch: ``(logits [B, A], value [B])``, the value from the mover's view
        in the units of the returns (``value_scale`` x the head's output)."""
        logits, value = self.network.apply(params, obs)
        return logits, self.config.value_scale * value

    def eval_env(self) -> tuple[envs.Environment, Any]:
        """The env as evaluation plays it: the bare env, whole episodes, no auto-reset."""
        return build_env(self.config, training=False)

    def agent(self, state: AlphaZeroState) -> Any:
        """What acting needs from a training state (one seed): the network parameters."""
        return state.params

    def display_state(self, state: AlphaZeroState) -> Any:
        """Game 0's own env state (under the wrappers) of one seed's ``state``, for the live display's board."""
        return jax.tree.map(lambda x: x[0], bare_state(self.env, state.env_state))

    def agent_policy(self, agent: Any, *, greedy: bool = True) -> Policy:
        """A `jaxrl.games.Policy` for one game: a search of ``eval_num_simulations`` from ``state``.

        ``state`` is the bare env's state (as `eval_env` plays it). ``greedy`` searches without
        root noise and plays the argmax of the action weights; otherwise the self-play search
        (noise, sampled move). Callers that have no state (``state`` None: an observation-only
        evaluator) get the network's prior instead of a search: its argmax, or a sample.
        """

        def act(key: jax.Array, state: Any, obs: jax.Array, mask: jax.Array | None) -> jax.Array:
            if state is None:
                logits, _ = self.evaluate(agent, obs[None])
                logits = logits[0] if mask is None else masked_logits(logits[0], mask)
                return (jnp.argmax(logits) if greedy else jax.random.categorical(key, logits)).astype(jnp.int32)
            states = jax.tree.map(lambda x: x[None], state)
            return self.eval_search(agent, key, states, obs[None], greedy=greedy).action[0]

        return act

    # -- self-play -----------------------------------------------------------------
    def _move(self, params: Any, carry: tuple, key: jax.Array) -> tuple[tuple, Move]:
        """One move of every game: search, record the move, step, credit rewards, write finished games."""
        env_state, obs, pending, buffer = carry
        key_search, key_env = jax.random.split(key)
        states = bare_state(self.env, env_state)
        out = self.search(params, key_search, states, obs, greedy=False)
        seat = jax.vmap(self.game.current_player, in_axes=(0, None))(states, self.env_params)
        pending, oldest, oldest_valid = trajectory.record(pending, obs, out.action_weights, seat, out.root_value)
        action = out.action
        if self.config.opening_moves > 0:
            key_env, key_open = jax.random.split(key_env)
            legal = jax.vmap(self.game.action_mask, in_axes=(0, None))(states, self.env_params)
            opening = jax.vmap(uniform_choice)(jax.random.split(key_open, self.config.num_envs), legal)
            action = jnp.where(_moves_played(self.env, env_state) < self.config.opening_moves, opening, action)

        env_keys = split_over_devices(jax.random.split(key_env, self.config.num_envs), axis=0)
        obs, env_state, reward, terminated, truncated, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            env_keys, env_state, action, self.env_params
        )
        seat_reward = reward if self.num_players > 1 else reward[:, None]
        discount = self.config.discount if self.num_players == 1 else 1.0
        pending, ended, ended_valid = trajectory.advance(pending, seat_reward, terminated, truncated, discount)
        buffer = replay.add(buffer, *trajectory.concat((oldest, oldest_valid), (ended, ended_valid)))

        move = Move(
            episode_done=info["returned_episode"],
            episode_return=info["returned_episode_returns"],
            episode_length=info["returned_episode_lengths"],
            seat_reward=reward,
            episode_info={key: info[key] for key in self.env.episode_metrics},
            search_entropy=_entropy(out.action_weights),
            root_value=out.root_value,
        )
        return (env_state, obs, pending, buffer), move

    def self_play(self, state: AlphaZeroState) -> tuple[AlphaZeroState, Move]:
        """``num_steps`` moves of every game; the per-move reports are ``[T, B, ...]``."""
        rng, key = jax.random.split(state.rng)
        carry = (state.env_state, state.obs, state.pending, state.buffer)
        (env_state, obs, pending, buffer), moves = jax.lax.scan(
            lambda c, k: self._move(state.params, c, k), carry, jax.random.split(key, self.config.num_steps)
        )
        return state.replace(env_state=env_state, obs=obs, pending=pending, buffer=buffer, rng=rng), moves

    # -- learning ------------------------------------------------------------------
    def loss(self, params: Any, batch: trajectory.Sample) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Cross-entropy to the search policy plus ``value_coef`` x the squared error of the masked values
        (in units of ``value_scale``)."""
        logits, value = self.network.apply(params, batch.obs)
        policy_loss = -jnp.sum(batch.policy * jax.nn.log_softmax(logits), axis=-1).mean()
        mask = batch.value_mask.astype(jnp.float32)
        error = value - batch.value / self.config.value_scale
        value_loss = jnp.sum(mask * error**2) / jnp.maximum(mask.sum(), 1.0)
        return policy_loss + self.config.value_coef * value_loss, (policy_loss, value_loss)

    def gradient_step(
        self, params: Any, opt_state: Any, batch: trajectory.Sample, learning_rate: jax.Array
    ) -> tuple[Any, Any, jax.Array]:
        """One AdamW step on ``batch``; returns the new parameters, optimiser state and ``[total, policy, value]``."""
        (total, (policy_loss, value_loss)), grads = jax.value_and_grad(self.loss, has_aux=True)(params, batch)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: -learning_rate * u, updates)
        return optax.apply_updates(params, updates), opt_state, jnp.stack([total, policy_loss, value_loss])

    def learn(self, state: AlphaZeroState, learning_rate: jax.Array) -> tuple[AlphaZeroState, jax.Array]:
        """``train_steps`` gradient steps on minibatches drawn from the buffer; losses ``[train_steps, 3]``.

        Until the buffer holds ``min_buffer_size`` samples the steps leave the parameters and
        optimiser state as they were (their losses are still reported).
        """
        cfg = self.config
        rng, key = jax.random.split(state.rng)
        ready = state.buffer.size >= cfg.min_buffer_size

        def step(carry, key):
            params, opt_state = carry
            batch = replay.sample(state.buffer, key, cfg.batch_size)
            new_params, new_opt_state, losses = self.gradient_step(params, opt_state, batch, learning_rate)
            keep = lambda new, old: jnp.where(ready, new, old)
            return (jax.tree.map(keep, new_params, params), jax.tree.map(keep, new_opt_state, opt_state)), losses

        (params, opt_state), losses = jax.lax.scan(
            step, (state.params, state.opt_state), jax.random.split(key, cfg.train_steps)
        )
        return state.replace(params=params, opt_state=opt_state, rng=rng), losses

    def update(self, state: AlphaZeroState) -> tuple[AlphaZeroState, dict[str, jax.Array]]:
        """One iteration: ``num_steps`` self-play moves of every game, then ``train_steps`` gradient steps."""
        learning_rate = self.learning_rate(state.update)
        state, moves = self.self_play(state)
        state, losses = self.learn(state, learning_rate)
        state = state.replace(update=state.update + 1)
        metrics = self._metrics(moves, losses.mean(axis=0), learning_rate, state.buffer.size)
        metrics["update"] = state.update
        return state, metrics

    def _metrics(self, moves: Move, losses: jax.Array, learning_rate, buffer_size) -> dict[str, jax.Array]:
        done = moves.episode_done
        count = done.sum()
        denom = jnp.maximum(count, 1)

        def finished_mean(x):
            return jnp.where(count > 0, (x * done).sum() / denom, jnp.nan)

        metrics = {
            "total_loss": losses[0], "policy_loss": losses[1], "value_loss": losses[2],
            "search_entropy": moves.search_entropy.mean(), "root_value": moves.root_value.mean(),
            "learning_rate": jnp.asarray(learning_rate, jnp.float32), "buffer_size": buffer_size,
            "episodes": count, "episode_length": finished_mean(moves.episode_length),
        }
        if self.num_players > 1:
            metrics.update(seats.outcome_metrics(done, moves.seat_reward))
        else:
            metrics["episode_return"] = finished_mean(moves.episode_return)
        for key, value in moves.episode_info.items():
            metrics[f"episode_{key}"] = finished_mean(value)
        return metrics

    # -- whole runs ----------------------------------------------------------------
    def train(self, key: jax.Array) -> tuple[AlphaZeroState, dict[str, jax.Array]]:
        """Every update in one `lax.scan`; metrics are ``[num_updates]`` scalars."""
        return self.train_from(self.init(key), self.config.num_updates)

    def train_from(
        self, state: AlphaZeroState, num_updates: int, num_active: jax.Array | None = None
    ) -> tuple[AlphaZeroState, dict[str, jax.Array]]:
        """``num_updates`` updates from ``state`` (the host loop's epoch); metrics are ``[num_updates]``.

        With ``num_active`` (a traced int), only the first ``num_active`` updates take effect
        and the rest pass the state through with NaN (float) or 0 (int) metrics, so one
        compiled program serves a shorter last epoch. As in PPO the inactive updates are
        computed and dropped with a select, not skipped with a `lax.cond` (whose predicate
        would sync with the host once per update on GPUs).
        """
        if num_active is None:
            return jax.lax.scan(lambda s, _: self.update(s), state, None, num_updates)

        def blank(m):
            return jnp.asarray(jnp.nan if jnp.issubdtype(m.dtype, jnp.floating) else 0, m.dtype)

        def step(s: AlphaZeroState, i: jax.Array):
            new, metrics = self.update(s)
            active = i < num_active
            new = jax.tree.map(lambda n, o: jnp.where(active, n, o), new, s)
            return new, jax.tree.map(lambda m: jnp.where(active, m, blank(m)), metrics)

        return jax.lax.scan(step, state, jnp.arange(num_updates))


def make(config: AlphaZeroConfig | None = None, **overrides: Any) -> AlphaZero:
    """Build AlphaZero for ``config`` (default: `AlphaZeroConfig`'s ConnectFour defaults) with field ``overrides``."""
    config = config or AlphaZeroConfig()
    return AlphaZero(config.replace(**overrides) if overrides else config)


__all__ = ["CHECKED_METRICS", "METRICS", "AlphaZero", "AlphaZeroState", "Move", "bare_state", "build_env", "make"]
