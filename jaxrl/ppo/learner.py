"""PPO as pure functions: ``init(key) -> state``, ``update(state)``, ``train(key)``.

Read top to bottom: the training state, building the env stack and network,
acting, the rollout (actor only, `lax.scan` over ``num_steps``), advantages
(critic evaluated on the whole batch at once), and the minibatch epochs.
Nothing here touches the host, so every function can be jitted, vmapped over
seeds or hyperparameters, and sharded. `PPO` implements `jaxrl.algorithm.Algorithm`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from envs import spaces, wrappers
from jaxrl import backend, seats
from jaxrl.errors import ConfigError
from jaxrl.games.match import Policy
from jaxrl.networks import ActorCritic, make_distribution
from jaxrl.ppo import fused
from jaxrl.ppo.config import PPOConfig, validate
from jaxrl.ppo.gae import gae
from jaxrl.ppo.losses import LossInfo, ppo_loss, standardize
from jaxrl.sharding import ENV_AXIS, split_over_devices

# What `update` reports, per update (scalars reduced on device); games add `jaxrl.seats`'s outcome
# counts and rates, single-agent envs `episode_return`.
METRICS = (
    "update", "total_loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
    "explained_variance", "learning_rate", "episodes", "episode_length",
)
# A non-finite value of one of these stops a run.
CHECKED_METRICS = ("total_loss", "policy_loss", "value_loss", "entropy", "approx_kl")


@struct.dataclass
class PPOState:
    """Everything needed to continue training bit-exactly.

    Fields (``B`` = num_envs): ``params`` network parameters; ``opt_state``
    optax state (Adam moments and step count); ``env_state`` the wrapped env
    states ``[B, ...]``; ``obs`` the current observations ``[B, *obs_shape]``;
    ``rng`` the PRNG key; ``update`` int32 count of completed updates. The
    number of env steps taken is ``update * num_envs * num_steps`` (kept
    implicit so it cannot overflow int32 on long runs; see `env_steps`).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    rng: jax.Array
    update: jax.Array


class Transition(NamedTuple):
    """One rollout step for every env; stacked by the scan to ``[T, B, ...]``."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array  # reward of the player who acted
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # observation after the step, before any auto-reset
    next_sign: jax.Array  # -1 where the player to move changes (zero-sum games), else 1
    mask: jax.Array | None  # legal-action mask at acting time, games only
    episode_done: jax.Array
    episode_return: jax.Array  # per seat for games: [T, B, num_players]
    episode_length: jax.Array
    seat_reward: jax.Array  # full per-seat reward (games), else same as reward
    episode_info: dict  # the env's `episode_metrics` keys of info, [T, B]


class Batch(NamedTuple):
    """What the minibatch updates read: ``[T, B, ...]``, flattened and shuffled per epoch."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    mask: jax.Array | None
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def build_env(config: PPOConfig, *, training: bool = True) -> tuple[envs.Environment, Any]:
    """The environment and params: with ``training``, the learner's wrapper stack (episode
    statistics, auto-reset, the normalisers the config asks for); without, the env as played
    in evaluation (whole episodes, no auto-reset, raw rewards). Continuous actions are clipped
    to the action space in both.
    """
    env, params = envs.make(config.env, **dict(config.env_kwargs))
    if isinstance(env.action_space(params), spaces.Box):
        env = wrappers.ClipAction(env)
    if not training:
        return env, params
    if config.material_reward:
        env = wrappers.MaterialReward(env, config.material_reward)
    env = wrappers.AutoReset(wrappers.EpisodeStatistics(env))
    if config.normalize_observations:
        env = wrappers.NormalizeObservation(env)
    if config.normalize_rewards:
        env = wrappers.NormalizeReward(env, gamma=config.gamma)
    return env, params


def resolve_torso(network: str, obs_shape: tuple[int, ...], board_torso: str = "conv") -> str:
    """The torso ``network`` names: 'auto' is ``board_torso`` for board planes (rank-3 observations), else 'mlp'."""
    if network != "auto":
        return network
    return board_torso if len(obs_shape) == 3 else "mlp"


def build_network(
    config: PPOConfig, env: envs.Environment, env_params: Any, narrow_matmuls: bool = False,
    conv_as_matmul: bool = False,
) -> ActorCritic:
    action_space = env.action_space(env_params)
    continuous = isinstance(action_space, spaces.Box)
    obs_shape = env.observation_space(env_params).shape
    torso = resolve_torso(config.network, obs_shape)
    return ActorCritic(
        action_dim=int(action_space.shape[0]) if continuous else int(action_space.n),
        continuous=continuous,
        obs_ndim=len(obs_shape),
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        torso=torso,
        log_std_init=config.log_std_init,
        narrow_matmuls=narrow_matmuls,
        conv_as_matmul=conv_as_matmul,
        channels=config.channels,
        num_blocks=config.num_blocks,
    )


class PPO:
    """The algorithm for one config: pure ``init``, ``update``, ``train`` and helpers.

    Numeric hyperparameters (lr, gamma, clip_eps, coefficients, ...) may be
    JAX tracers, so ``jax.vmap(lambda lr, k: make(cfg.replace(lr=lr)).train(k))``
    trains one agent per learning rate in a single program.
    """

    name = "ppo"
    checked_metrics = CHECKED_METRICS
    env_batch_fields = ("env_state", "obs")  # leaves with the env batch axis [B, ...]

    def __init__(self, config: PPOConfig):
        validate(config)
        self.config = config
        self.env, self.env_params = build_env(config)
        self.num_players = self.env.num_players
        self.has_mask = (
            jax.eval_shape(
                lambda key: self.env.action_mask(self.env.reset(key, self.env_params)[1], self.env_params),
                jax.random.PRNGKey(0),
            )
            is not None
        )
        self.backend = self._resolve_backend()
        # 'auto' becomes the torso this backend picks, so the config (saved with the run) says what ran.
        obs_shape = self.env.observation_space(self.env_params).shape
        torso = resolve_torso(config.network, obs_shape, self.backend.board_torso)
        self._small_by_default = config.network == "auto" and torso != resolve_torso("auto", obs_shape)
        self.config = config = config.replace(network=torso)
        # What `update` reports: the common metrics, then games' outcome counts and rates or episode return.
        outcomes = ("games", *seats.OUTCOMES, *seats.OUTCOME_RATES)
        self.metric_names = (
            METRICS + (outcomes if self.num_players > 1 else ("episode_return",))
            + tuple(f"episode_{key}" for key in self.env.episode_metrics)
        )
        self.network = build_network(
            config, self.env, self.env_params, self.backend.narrow_matmuls, self.backend.conv_as_matmul
        )
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optax.adam(self._learning_rate_schedule, eps=config.adam_eps),
        )

    def _resolve_backend(self) -> backend.Backend:
        """The device-dependent choices for this config (`jaxrl.backend`), the fused gradient's support included."""
        cfg = self.config
        unsupported = None
        if cfg.fused_gradient != "off":
            obs_shape = self.env.observation_space(self.env_params).shape
            unsupported = fused.supports(build_network(cfg, self.env, self.env_params), self.has_mask, obs_shape)
        if cfg.fused_gradient == "on" and unsupported is not None:
            raise ConfigError(f"--fused-gradient on does not support {unsupported}; use --fused-gradient auto or off")
        return backend.resolve(
            rollout_unroll=cfg.rollout_unroll, narrow_matmuls=cfg.narrow_matmuls,
            fused_gradient=cfg.fused_gradient, fused_unsupported=unsupported,
        )

    @property
    def fused_gradient(self) -> bool:
        """Whether the minibatch gradient runs as `jaxrl.ppo.fused`'s kernels (see `PPOConfig.fused_gradient`)."""
        return self.backend.fused_gradient

    # -- counters and schedules ----------------------------------------------------
    def _learning_rate(self, update: jax.Array) -> jax.Array:
        if not self.config.anneal_lr:
            return jnp.asarray(self.config.lr, jnp.float32)
        return self.config.lr * (1.0 - update / self.config.num_updates)

    def _learning_rate_schedule(self, count: jax.Array) -> jax.Array:
        steps_per_update = self.config.update_epochs * self.config.num_minibatches
        return self._learning_rate(count // steps_per_update)

    @property
    def num_updates(self) -> int:
        """Updates in a whole run (``total_timesteps`` rounded down to whole updates)."""
        return self.config.num_updates

    @property
    def steps_per_update(self) -> int:
        """Env steps one update takes, per seed: ``num_envs * num_steps``."""
        return self.config.batch_size

    def env_steps(self, state: PPOState) -> int:
        """Env steps taken so far by one seed, as an exact Python int (host side)."""
        return int(jax.device_get(state.update).max()) * self.config.batch_size

    def describe(self) -> str:
        """One line on what an update does, for the run's start-up summary."""
        cfg = self.config
        line = (f"batch: {cfg.num_envs} envs x {cfg.num_steps} steps = {cfg.batch_size} per update, "
                f"{cfg.num_minibatches} minibatches of {cfg.minibatch_size}, {cfg.update_epochs} epochs")
        if self._small_by_default:
            line += (f"\nnetwork auto: {cfg.network} (one 16-channel convolution) on this {self.backend.platform}, where "
                     "the two-convolution torso trains ~10x slower; --network conv to use it anyway")
        return line

    # -- init ----------------------------------------------------------------------
    def init(self, key: jax.Array) -> PPOState:
        key, key_net, key_env = jax.random.split(key, 3)
        env_keys = jax.random.split(key_env, self.config.num_envs)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(env_keys, self.env_params)
        params = self.network.init(key_net, obs)
        return PPOState(
            params=params,
            opt_state=self.optimizer.init(params),
            env_state=env_state,
            obs=obs,
            rng=key,
            update=jnp.zeros((), jnp.int32),
        )

    # -- acting --------------------------------------------------------------------
    def action_mask(self, env_state: Any) -> jax.Array | None:
        if not self.has_mask:
            return None
        return jax.vmap(self.env.action_mask, in_axes=(0, None))(env_state, self.env_params)

    def observation_statistics(self, env_state: Any) -> wrappers.RunningMeanStd | None:
        """Observation normaliser statistics averaged over the envs ``[B]`` (None if not normalising).

        Each training env keeps its own running statistics; a policy acting
        outside training (evaluation, `load_policy`) uses their mean.
        """
        env, state = self.env, env_state
        while isinstance(env, wrappers.Wrapper):
            if isinstance(env, wrappers.NormalizeObservation):
                rms = state.extra
                batch_axes = tuple(range(rms.count.ndim))
                return jax.tree.map(lambda x: x.mean(axis=batch_axes), rms)
            state, env = env.inner_state(state), env.env
        return None

    def normalize_obs(self, obs: jax.Array, stats: wrappers.RunningMeanStd | None) -> jax.Array:
        """Apply `observation_statistics` to raw observations (identity when None)."""
        return obs if stats is None else stats.normalize(obs)

    def policy(self, params: Any, obs: jax.Array, mask: jax.Array | None = None):
        """The action distribution for a batch of observations."""
        return make_distribution(self.network.apply(params, obs, method=ActorCritic.actor), mask)

    def eval_env(self) -> tuple[envs.Environment, Any]:
        """The env as evaluation plays it: whole episodes, no auto-reset, raw rewards."""
        return build_env(self.config, training=False)

    def agent(self, state: PPOState) -> dict[str, Any]:
        """What acting needs from a training state (one seed): the parameters and observation statistics."""
        return {"params": state.params, "obs_stats": self.observation_statistics(state.env_state)}

    def display_state(self, state: PPOState) -> Any:
        """Game 0's own env state (under the wrappers) of one seed's ``state``, for the live display's board."""
        env, env_state = self.env, state.env_state
        while isinstance(env, wrappers.Wrapper):
            env_state, env = env.inner_state(env_state), env.env
        return jax.tree.map(lambda x: x[0], env_state)

    def agent_policy(self, agent: dict[str, Any], *, greedy: bool = True) -> Policy:
        """The actor as a `jaxrl.games.Policy` for one game or episode (``state`` unused).

        ``greedy`` takes the mode of the (masked) action distribution, else samples
        from it. Build it inside the jitted function so that ``agent`` is traced, not baked in.
        """

        def act(key: jax.Array, state: Any, obs: jax.Array, mask: jax.Array | None) -> jax.Array:
            dist = self.policy(agent["params"], self.normalize_obs(obs, agent["obs_stats"]), mask)
            return dist.mode() if greedy else dist.sample(key)

        return act

    # -- rollout -------------------------------------------------------------------
    def _env_step(self, state: PPOState, keys: tuple[jax.Array, jax.Array]) -> tuple[PPOState, Transition]:
        """One step of every env; ``keys``: the action sampling key and one key per env ``[B]``."""
        key_act, env_keys = keys
        mask = self.action_mask(state.env_state)
        head = self.network.apply(state.params, state.obs, method=ActorCritic.actor)
        action = make_distribution(head, mask).sample(key_act)
        player = jax.vmap(self.env.current_player, in_axes=(0, None))(state.env_state, self.env_params)

        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(0, 0, 0, None)
        )(env_keys, state.env_state, action, self.env_params)

        if self.num_players > 1:
            mover_reward = seats.mover_reward(reward, player)
            next_sign = seats.next_sign(player, info["final_player"])
        else:
            mover_reward, next_sign = reward, jnp.ones_like(reward)
        transition = Transition(
            obs=state.obs,
            action=action,
            log_prob=head[0],  # the head output for now: `rollout` turns it into log-probabilities
            reward=mover_reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=info["final_observation"],
            next_sign=next_sign,
            mask=mask,
            episode_done=info["returned_episode"],
            episode_return=info["returned_episode_returns"],
            episode_length=info["returned_episode_lengths"],
            seat_reward=reward,
            episode_info={key: info[key] for key in self.env.episode_metrics},
        )
        return state.replace(env_state=env_state, obs=obs), transition

    def rollout(self, state: PPOState) -> tuple[PPOState, Transition]:
        """``num_steps`` steps of every env; transitions are ``[T, B, ...]``.

        Every key of the rollout is split off at once, before the scan, and the log-probabilities
        are computed after it: on a GPU the rollout is bound by the number of small kernels per
        step, not by their work.
        """
        cfg = self.config
        rng, key_act, key_env = jax.random.split(state.rng, 3)
        keys = (
            jax.random.split(key_act, cfg.num_steps),
            split_over_devices(jax.random.split(key_env, (cfg.num_steps, cfg.num_envs)), axis=1),
        )
        unroll = min(self.backend.rollout_unroll, cfg.num_steps)
        state, traj = jax.lax.scan(self._env_step, state, keys, unroll=unroll)
        # Log-probabilities of the actions taken, for the whole [T, B] batch at once (the
        # parameters do not change during the rollout): one kernel instead of one per step.
        head = (traj.log_prob, state.params["params"]["log_std"] if self.network.continuous else None)
        traj = traj._replace(log_prob=make_distribution(head, traj.mask).log_prob(traj.action))
        return state.replace(rng=rng), traj

    # -- learning ------------------------------------------------------------------
    def _loss(self, params: Any, batch: Batch) -> tuple[jax.Array, LossInfo]:
        head, values = self.network.apply(params, batch.obs)
        dist = make_distribution(head, batch.mask)
        cfg = self.config
        return ppo_loss(
            dist, values, batch.action, batch.log_prob, batch.value, batch.advantage, batch.target,
            clip_eps=cfg.clip_eps, vf_coef=cfg.vf_coef, ent_coef=cfg.ent_coef,
            clip_value_loss=cfg.clip_value_loss, normalize_advantages=False,  # done per epoch in _deal
        )

    def _grad(self, params: Any, minibatch: Batch) -> tuple[Any, LossInfo]:
        """Gradient of the loss over one minibatch (advantages already standardised), fused where it applies."""
        cfg = self.config
        mesh = jax.sharding.get_abstract_mesh()
        devices = 1 if mesh.empty or ENV_AXIS not in mesh.axis_names else mesh.shape[ENV_AXIS]
        if not (self.backend.fused_gradient and fused.rows_fit(cfg.minibatch_size // devices)):
            return jax.grad(self._loss, has_aux=True)(params, minibatch)
        return fused.loss_and_grad(
            params, minibatch.obs, minibatch.action, minibatch.log_prob, minibatch.value,
            minibatch.advantage, minibatch.target,
            clip_eps=cfg.clip_eps, vf_coef=cfg.vf_coef, ent_coef=cfg.ent_coef,
            activation=cfg.activation, clip_value_loss=cfg.clip_value_loss,
            interpret=self.backend.interpret_kernels,
        )

    def _minibatch_step(self, carry: tuple, minibatch: Batch) -> tuple[tuple, LossInfo]:
        params, opt_state = carry
        grads, info = self._grad(params, minibatch)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), info

    def _deal(self, key: jax.Array, batch: Batch) -> Batch:
        """The epoch's minibatches: each ``[T, B, ...]`` leaf becomes ``[M, T * B / M, ...]``.

        Per env (see `PPOConfig.shuffle`): every env's T steps are put in their own random
        order and minibatch j takes the j-th T/M of them from every env, rows ordered env by
        env; nothing crosses the env axis, so a device mesh splitting it needs no data
        exchange and the minibatches do not depend on the device count. Global: one
        permutation of all T*B rows.
        """
        cfg = self.config
        num_minibatches, num_envs, num_steps = cfg.num_minibatches, cfg.num_envs, cfg.num_steps
        if cfg.per_env_shuffle:
            order = jnp.argsort(jax.random.bits(key, (num_envs, num_steps)), axis=-1)  # [B, T]

            def deal(x):
                x = jnp.swapaxes(x, 0, 1)  # [B, T, ...]
                index = jnp.broadcast_to(order.reshape(order.shape + (1,) * (x.ndim - 2)), x.shape)
                x = jnp.take_along_axis(x, index, axis=1)
                x = jnp.swapaxes(x.reshape((num_envs, num_minibatches, -1) + x.shape[2:]), 0, 1)
                # Flat rows (the network is fastest on [rows, features]), env-major so that each
                # device's rows stay a contiguous block of every minibatch.
                x = x.reshape((num_minibatches, cfg.minibatch_size) + x.shape[3:])
                return split_over_devices(x, axis=1)
        else:
            permutation = jax.random.permutation(key, cfg.batch_size)

            def deal(x):
                x = jnp.take(x.reshape((cfg.batch_size,) + x.shape[2:]), permutation, axis=0)
                # Under a device mesh each device takes a slice of every minibatch (gradients then averaged).
                return split_over_devices(x.reshape((num_minibatches, cfg.minibatch_size) + x.shape[1:]), axis=1)

        minibatches = jax.tree.map(deal, batch)
        if cfg.normalize_advantages:
            # Every minibatch's advantage statistics at once, before the gradient steps (one
            # cross-device reduction per epoch instead of two per step); the loss then uses them as is.
            minibatches = minibatches._replace(advantage=standardize(minibatches.advantage, batch_axes=1))
        return minibatches

    def _epoch(self, carry: tuple, key: jax.Array, batch: Batch) -> tuple[tuple, LossInfo]:
        unroll = min(self.config.minibatch_unroll, self.config.num_minibatches)
        return jax.lax.scan(self._minibatch_step, carry, self._deal(key, batch), unroll=unroll)

    def batch(self, params: Any, traj: Transition) -> Batch:
        """What the epochs learn from: the rollout with values, GAE advantages and targets ``[T, B]``.

        The critic is evaluated on the whole batch at once, for the observations and for the
        post-step (pre-reset) observations.
        """
        cfg = self.config
        values = self.network.apply(params, traj.obs, method=ActorCritic.value)
        next_values = self.network.apply(params, traj.final_obs, method=ActorCritic.value)
        advantages, targets = gae(
            traj.reward * cfg.reward_scale, values, next_values, traj.terminated, traj.truncated,
            cfg.gamma, cfg.gae_lambda, traj.next_sign, method=self.backend.gae_method,
        )
        return Batch(traj.obs, traj.action, traj.log_prob, traj.mask, values, advantages, targets)

    def update(self, state: PPOState) -> tuple[PPOState, dict[str, jax.Array]]:
        """One PPO iteration: rollout, GAE, ``update_epochs`` x ``num_minibatches`` steps."""
        cfg = self.config
        learning_rate = self._learning_rate(state.update)
        state, traj = self.rollout(state)
        batch = self.batch(state.params, traj)
        rng, key_epochs = jax.random.split(state.rng)
        (params, opt_state), losses = jax.lax.scan(
            lambda carry, key: self._epoch(carry, key, batch),
            (state.params, state.opt_state),
            jax.random.split(key_epochs, cfg.update_epochs),
        )
        state = state.replace(params=params, opt_state=opt_state, rng=rng, update=state.update + 1)
        metrics = self._metrics(traj, batch.value, batch.target, losses, learning_rate)
        metrics["update"] = state.update
        return state, metrics

    def _metrics(self, traj: Transition, values, targets, losses: LossInfo, learning_rate) -> dict:
        done = traj.episode_done
        count = done.sum()
        denom = jnp.maximum(count, 1)
        metrics = {name: value.mean() for name, value in losses._asdict().items()}
        target_var = jnp.var(targets)
        metrics["explained_variance"] = jnp.where(
            target_var > 0, 1.0 - jnp.var(targets - values) / target_var, jnp.nan
        )
        metrics["learning_rate"] = jnp.asarray(learning_rate, jnp.float32)
        metrics["episodes"] = count
        metrics["episode_length"] = jnp.where(count > 0, (traj.episode_length * done).sum() / denom, jnp.nan)
        if self.num_players > 1:
            metrics.update(seats.outcome_metrics(done, traj.seat_reward))
        else:
            metrics["episode_return"] = jnp.where(count > 0, (traj.episode_return * done).sum() / denom, jnp.nan)
        for key, value in traj.episode_info.items():
            metrics[f"episode_{key}"] = jnp.where(count > 0, (value * done).sum() / denom, jnp.nan)
        return metrics

    # -- whole runs ----------------------------------------------------------------
    def train(self, key: jax.Array) -> tuple[PPOState, dict[str, jax.Array]]:
        """Every update in one `lax.scan`; metrics are ``[num_updates]`` scalars."""
        return self.train_from(self.init(key), self.config.num_updates)

    def train_from(
        self, state: PPOState, num_updates: int, num_active: jax.Array | None = None
    ) -> tuple[PPOState, dict[str, jax.Array]]:
        """``num_updates`` updates from ``state`` (the host loop's epoch); metrics are ``[num_updates]``.

        With ``num_active`` (a traced int, not batched), only the first
        ``num_active`` updates take effect and the rest pass the state through with
        NaN metrics: one compiled program then serves a shorter last epoch. Every
        update is computed and the inactive ones are dropped with a select, not a
        `lax.cond`: XLA's GPU runtime copies a conditional's predicate to the host and
        waits for it, once per update, which stalls the host loop's pipelining
        (BENCHMARKS.md). The price is at most ``num_updates - 1`` wasted updates, in
        the last epoch of a run.
        """
        if num_active is None:
            return jax.lax.scan(lambda s, _: self.update(s), state, None, num_updates)

        def blank(m):
            return jnp.asarray(jnp.nan if jnp.issubdtype(m.dtype, jnp.floating) else 0, m.dtype)

        def step(s: PPOState, i: jax.Array):
            new, metrics = self.update(s)
            active = i < num_active
            new = jax.tree.map(lambda n, o: jnp.where(active, n, o), new, s)
            return new, jax.tree.map(lambda m: jnp.where(active, m, blank(m)), metrics)

        return jax.lax.scan(step, state, jnp.arange(num_updates))


def make(config: PPOConfig | None = None, **overrides: Any) -> PPO:
    """Build PPO for ``config`` (default: CartPole-v1 defaults) with field ``overrides``."""
    config = (config or PPOConfig()).replace(**overrides) if overrides else (config or PPOConfig())
    return PPO(config)
