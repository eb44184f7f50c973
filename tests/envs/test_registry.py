"""`envs.make`: names, suggestions for typos, parameter overrides."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import envs


def test_misspelt_name_suggests_the_closest():
    with pytest.raises(ValueError, match="CartPole-v1") as error:
        envs.make("CartPol-v1")
    assert "did you mean 'CartPole-v1'" in str(error.value)
    assert "\n" not in str(error.value)  # one line


def test_unknown_override_names_the_valid_ones():
    with pytest.raises(ValueError, match="gravityy") as error:
        envs.make("CartPole-v1", gravityy=3.0)
    message = str(error.value)
    for field in ("gravity", "masscart", "max_steps_in_episode"):
        assert field in message


def test_overrides_apply():
    env, params = envs.make("CartPole-v1", max_steps_in_episode=3, gravity=1.5)
    assert params.max_steps_in_episode == 3 and params.gravity == 1.5
    assert envs.make("CartPole-v1")[1].max_steps_in_episode == 500  # defaults untouched
    _, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    truncations = []
    for t in range(3):
        _, state, _, _, truncated, _ = step(jax.random.PRNGKey(t), state, jnp.int32(t % 2), params)
        truncations.append(bool(truncated))
    assert truncations == [False, False, True]


@pytest.mark.parametrize(
    "name, steps",
    [
        ("CartPole-v1", 500),
        ("Acrobot-v1", 500),
        ("MountainCar-v0", 200),
        ("MountainCarContinuous-v0", 999),
        ("Pendulum-v1", 200),
    ],
)
def test_default_time_limits_are_gymnasiums(name, steps):
    import gymnasium

    assert envs.make(name)[1].max_steps_in_episode == steps == gymnasium.spec(name).max_episode_steps


def test_register_refuses_a_second_entry_point():
    with pytest.raises(ValueError, match="already registered"):
        envs.register("CartPole-v1", "somewhere.else:CartPole")


def test_gymnax_names_route_to_the_adapter():
    env, params = envs.make("gymnax:CartPole-v1", max_steps_in_episode=7)
    assert env.name == "gymnax:CartPole-v1" and params.max_steps_in_episode == 7
    with pytest.raises(ValueError, match="NoSuchEnv"):
        envs.make("gymnax:NoSuchEnv-v0")
