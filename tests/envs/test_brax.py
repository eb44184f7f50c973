"""Brax envs through `envs.adapters.brax`: Brax's own dynamics and time limit, our contract, PPO on them.

brax is an optional extra outside the `test` one (mujoco, and a physics compile of seconds on a CPU):
tests that need it skip when it is not installed.
"""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.wrappers import AutoReset
from jaxrl import ppo
from jaxrl.errors import ConfigError
from jaxrl.run.evaluation import make_evaluator

INSTALL = 'pip install -e ".[brax]"'
NUM_STEPS = 12
NUM_EPISODES = 4
EPISODE_LENGTH = 8  # < NUM_STEPS, so that the comparison with Brax crosses its time limit


@pytest.fixture(scope="module")
def fast_compilation():
    """Skip XLA's expensive backend passes while this module compiles (same semantics, faster to compile)."""
    previous = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def brax():
    return pytest.importorskip("brax", reason=f"brax not installed ({INSTALL})")


@pytest.fixture(scope="module")
def ant(brax):
    """``(env, params, reset, step)``: brax:ant with its default params and its jitted `reset` and `step`.

    Jitted both: an op-by-op reset rounds differently in the last bit, and Ant's contacts amplify that
    within a few steps."""
    env, params = envs.make("brax:ant")
    return env, params, jax.jit(env.reset), jax.jit(env.step)


# -- making one ---------------------------------------------------------------------------------


def test_brax_is_imported_only_when_used(brax):
    code = (
        "import sys, envs, jaxrl; envs.make('CartPole-v1'); "
        "assert 'brax' not in sys.modules and 'envs.adapters.brax' not in sys.modules, 'imported too early'; "
        "envs.make('brax:fast'); assert 'brax' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "brax", None)  # `import brax` now fails as if it were not installed
    with pytest.raises(ImportError) as error:
        envs.make("brax:ant")
    message = str(error.value)
    assert INSTALL in message and "'brax'" in message and "\n" not in message
    with pytest.raises(ConfigError, match=r"pip install -e \"\.\[brax\]\""):
        ppo.validate(ppo.PPOConfig(env="brax:ant"))


def test_the_unknown_env_message_names_the_prefix():
    with pytest.raises(ValueError, match=r"'brax:<name>'"):
        envs.make("Ant-v5")


def test_unknown_names_are_one_line(brax):
    with pytest.raises(ValueError, match="did you mean 'brax:ant'") as error:
        envs.make("brax:antt")
    message = str(error.value)
    assert "\n" not in message
    for name in ("ant", "halfcheetah", "humanoid", "hopper"):
        assert name in message
    with pytest.raises(ConfigError, match="unknown brax environment 'antt'"):
        ppo.validate(ppo.PPOConfig(env="brax:antt"))


def test_spaces_params_and_names(ant):
    env, params, reset, _ = ant
    assert env.name == "brax:ant" and env.version >= 1 and env.num_players == 1
    assert params.max_steps_in_episode == 1000
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == (27,) and obs_space.dtype == jnp.float32
    assert action_space.shape == (8,)
    np.testing.assert_array_equal(action_space.low, -1.0)
    np.testing.assert_array_equal(action_space.high, 1.0)
    obs, _ = reset(jax.random.PRNGKey(0), params)
    assert obs.shape == obs_space.shape and obs.dtype == jnp.float32
    _, shorter = envs.make("brax:ant", max_steps_in_episode=5)
    assert shorter.max_steps_in_episode == 5


# -- Brax's own dynamics ----------------------------------------------------------------------


def test_steps_equal_braxs_own_on_random_actions(ant):
    """Our step against Brax's raw env under its `EpisodeWrapper` (the time limit its training applies)."""
    from brax.envs.wrappers.training import EpisodeWrapper

    env, params, _, _ = ant
    params = params.replace(max_steps_in_episode=EPISODE_LENGTH)
    theirs = EpisodeWrapper(env.brax_env, EPISODE_LENGTH, action_repeat=1)

    @jax.jit
    @jax.vmap
    def both(key, lift):
        """``NUM_STEPS`` steps of ours and of Brax's from one reset key, on the same random actions; with
        ``lift`` from a torso 2 m up, which ends the episode (Ant's healthy height is 0.2 to 1 m)."""
        _, state = env.reset(key, params)
        physics = state.brax_state.pipeline_state
        physics = physics.replace(q=physics.q.at[2].set(jnp.where(lift, 2.0, physics.q[2])))
        state = state.replace(brax_state=state.brax_state.replace(pipeline_state=physics))
        their_state = theirs.reset(key).replace(pipeline_state=physics)

        def one(carry, action):
            state, their_state = carry
            obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
            their_state = theirs.step(their_state, action)
            ours = (obs, reward, terminated, truncated)
            return (state, their_state), (
                ours,
                (their_state.obs, their_state.reward, their_state.done, their_state.info["truncation"]),
            )

        actions = jax.random.uniform(key, (NUM_STEPS, 8), minval=-1.0, maxval=1.0)
        return jax.lax.scan(one, (state, their_state), actions)[1]

    (obs, reward, terminated, truncated), (their_obs, their_reward, done, truncation) = jax.device_get(
        both(jax.random.split(jax.random.PRNGKey(3), NUM_EPISODES), jnp.arange(NUM_EPISODES) % 2 == 1)
    )
    assert obs.shape == (NUM_EPISODES, NUM_STEPS, 27)
    np.testing.assert_allclose(obs, their_obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reward, their_reward, rtol=1e-5, atol=1e-5)
    # Brax's done folds its time limit in; its `truncation` is the time limit alone (never with a true end).
    np.testing.assert_array_equal(truncated, truncation == 1)
    np.testing.assert_array_equal(terminated, (done == 1) & (truncation == 0))
    assert truncated[::2, EPISODE_LENGTH - 1 :].all()  # the time limit was crossed
    assert terminated[1::2, 0].all()  # and lifted torsos ended their episodes
    assert not (terminated & truncated).any()


def test_truncation_and_termination_apart(ant):
    _, params, reset, step = ant
    params = params.replace(max_steps_in_episode=3)
    zero = jnp.zeros(8)
    _, start = reset(jax.random.PRNGKey(0), params)
    state, flags = start, []
    for _ in range(3):  # standing still: healthy, so only the time limit ends the episode
        _, state, _, terminated, truncated, _ = step(jax.random.PRNGKey(0), state, zero, params)
        flags.append((bool(terminated), bool(truncated)))
    assert flags == [(False, False), (False, False), (False, True)]

    def lifted(state):
        """The torso put 2 m up: above Ant's healthy height range (0.2, 1.0), so the next step terminates."""
        physics = state.brax_state.pipeline_state
        return state.replace(
            brax_state=state.brax_state.replace(pipeline_state=physics.replace(q=physics.q.at[2].set(2.0)))
        )

    _, _, _, terminated, truncated, _ = step(jax.random.PRNGKey(0), lifted(start), zero, params)
    assert (bool(terminated), bool(truncated)) == (True, False)
    # Terminated on the last allowed step: a true end, not a truncation (Brax's `truncation` rule).
    last = lifted(start).replace(steps=jnp.asarray(2, jnp.int32))
    _, _, _, terminated, truncated, _ = step(jax.random.PRNGKey(0), last, zero, params)
    assert (bool(terminated), bool(truncated)) == (True, False)


def test_auto_reset_keeps_the_final_observation(brax):
    """Brax's `fast` env (no physics: observation [position, velocity]) ends by our time limit alone."""
    env, params = envs.make("brax:fast", max_steps_in_episode=3)
    wrapped = AutoReset(env)
    step = jax.jit(wrapped.step)
    obs, state = wrapped.reset(jax.random.PRNGKey(0), params)
    np.testing.assert_array_equal(obs, 0.0)
    for i in range(3):
        obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(i), state, jnp.ones(1), params
        )
    assert bool(truncated) and not bool(terminated)
    np.testing.assert_array_equal(obs, 0.0)  # the next episode's first observation
    assert float(info["final_observation"][1]) > 0  # the finished episode's last velocity
    assert float(reward) == pytest.approx(float(info["final_observation"][0]))  # fast's reward: the position
    assert int(state.steps) == 0


# -- learning on one ------------------------------------------------------------------------------


def short_run(env: str, **overrides):
    config = ppo.PPOConfig(
        env=env,
        num_envs=4,
        num_steps=8,
        total_timesteps=64,
        update_epochs=1,
        num_minibatches=2,
        hidden_sizes=(8,),
        normalize_observations=True,
        reward_scale=10.0,
        **overrides,
    )
    algo = ppo.make(config)
    state, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0))
    return algo, state, metrics


def test_ppo_trains_on_a_brax_env(brax):
    algo, state, metrics = short_run("brax:fast")
    assert algo.network.continuous and algo.env_steps(state) == 64
    for name in ppo.CHECKED_METRICS:
        assert metrics[name].shape == (2,) and np.all(np.isfinite(metrics[name])), name


@pytest.mark.slow
def test_ppo_trains_and_evaluates_on_ant(brax):
    algo, state, metrics = short_run("brax:ant", env_kwargs=(("max_steps_in_episode", 16),))
    for name in ppo.CHECKED_METRICS:
        assert np.all(np.isfinite(metrics[name])), name
    result = make_evaluator(algo, num_episodes=2)(algo.agent(state), jax.random.PRNGKey(1))
    assert np.all(np.isfinite(result["return"])) and np.all(
        (result["length"] >= 1) & (result["length"] <= 16)
    )
