"""Command-line conveniences that need no training: --list-envs, other codebases' flag names,
--env-kwargs as a flag, the persistent compilation cache."""

from __future__ import annotations

import pytest

from envs.registry import registered_names
from jaxrl.config import ConfigError
from jaxrl.train import _enable_compile_cache, main, parse_args


def test_list_envs_names_every_env_and_its_kind(capsys):
    assert main(["--list-envs"]) == 0
    out = capsys.readouterr().out
    for name in registered_names():
        assert name in out
    line = {row.split()[0]: row for row in out.splitlines()}
    assert "two-player game" in line["ConnectFour-v0"] and "puzzle" in line["Triangles-v0"]
    assert "single-agent" in line["CartPole-v1"] and "gymnax:<name>" in out
    assert "pgx:<id>" in out and "brax:<name>" in out


@pytest.mark.parametrize(("flag", "ours"), [("--learning-rate", "--lr"), ("--env-id", "--env"),
                                            ("--clip-coef", "--clip-eps"), ("--n-epochs", "--update-epochs")])
def test_other_codebases_flag_names_get_ours(flag, ours, capsys):
    assert main([flag, "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: unknown flag {flag}; did you mean {ours}?"


def test_env_kwargs_as_a_flag():
    config = parse_args(["--env", "Pendulum-v1", "--env-kwargs", "max_steps_in_episode=50", "max_speed=4.5",
                         "--num-envs", "8"])
    assert dict(config.ppo.env_kwargs) == {"max_steps_in_episode": 50, "max_speed": 4.5}
    assert config.ppo.num_envs == 8
    config = parse_args(["--algo", "alphazero", "--env-kwargs=max_steps_in_episode=30"])
    assert dict(config.alphazero.env_kwargs) == {"max_steps_in_episode": 30}


def test_env_kwargs_flag_merges_over_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("env: Pendulum-v1\nenv_kwargs: {max_speed: 2.0, max_torque: 1.5}\n")
    config = parse_args(["--config", str(path), "--env-kwargs", "max_speed=3"])
    assert dict(config.ppo.env_kwargs) == {"max_speed": 3, "max_torque": 1.5}


def test_env_kwargs_errors_are_one_line(capsys):
    assert main(["--env-kwargs", "oops"]) == 2
    assert "--env-kwargs takes NAME=VALUE pairs" in capsys.readouterr().err
    assert main(["--env", "Pendulum-v1", "--env-kwargs", "no_such_param=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no_such_param" in err, err


def test_compile_cache_goes_to_the_user_cache_dir(tmp_path, monkeypatch):
    import jax

    previous = jax.config.values["jax_compilation_cache_dir"]
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    try:
        _enable_compile_cache(parse_args(["--no-compile-cache"]))
        assert jax.config.values["jax_compilation_cache_dir"] == previous
        _enable_compile_cache(parse_args([]))
        assert jax.config.values["jax_compilation_cache_dir"] == str(tmp_path / "jaxrl" / "xla")
        with pytest.raises(ConfigError):
            parse_args(["--compile-cach"])
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def test_summary_line_has_an_eta_and_no_self_play_return():
    from jaxrl.run.display import format_duration, summary_line

    line = summary_line({"update": 1, "env_steps": 1000, "sps": 100.0, "episode_return": 5.0}, 7000)
    assert "eta 1m00s" in line and "return 5" in line
    games = summary_line({"update": 1, "env_steps": 1000, "sps": 100.0, "episode_return": 0.0,
                          "black_wins_rate": 0.5, "white_wins_rate": 0.4, "draws_rate": 0.1}, 1000)
    assert "return" not in games and "black 0.5" in games and "eta" not in games  # done: no eta
    assert [format_duration(s) for s in (5, 65, 7260)] == ["5s", "1m05s", "2h01m"]


def test_a_resume_that_changes_a_decaying_schedule_warns():
    from jaxrl.config import preset_config
    from jaxrl.train import _schedule_change

    saved = preset_config("ppo", "CartPole-v1")
    longer = saved.with_algo("ppo", saved.ppo.replace(total_timesteps=2 * saved.ppo.total_timesteps))
    assert "changes the learning-rate schedule" in _schedule_change(saved, longer)
    flat = saved.with_algo("ppo", saved.ppo.replace(anneal_lr=False))
    assert _schedule_change(flat, flat.with_algo("ppo", flat.ppo.replace(total_timesteps=10**7))) is None
    az = preset_config("alphazero", "ConnectFour-v0")  # a constant rate: nothing to warn about
    assert _schedule_change(az, az.with_algo("alphazero", az.alphazero.replace(total_timesteps=10**8))) is None


def test_a_minimax_opponent_too_big_for_the_game_is_a_config_error(tmp_path, capsys):
    """Shogi's legal-only search fits at the default depth 2 but not at depth 3 (~0.8 TB); that is refused
    before anything is written."""
    import envs
    from jaxrl.games.opponents import check_minimax

    env, params = envs.make("Shogi-v0")
    check_minimax(env, params, 2, 256)  # the default: 2 * --eval-games 128
    with pytest.raises(ValueError, match=r"--minimax-depth 3 searches up to 160\^3 positions .* use --minimax-depth 2 or 0"):
        check_minimax(env, params, 3, 256)
    c4, c4_params = envs.make("ConnectFour-v0")
    check_minimax(c4, c4_params, 6, 256)  # Connect Four's depth 6 fits
    run_dir = tmp_path / "shogi"
    args = ["--env", "Shogi-v0", "--num-envs", "64", "--num-steps", "8", "--total-timesteps", "20000", "--eval-every", "1",
            "--minimax-depth", "3"]
    assert main([*args, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --minimax-depth 3 searches up to 160^3"), err
    assert not run_dir.exists()


def test_the_command_line_fills_the_compile_cache(tmp_path):
    from tests.helpers import runs

    env = runs.subprocess_env(None, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    result = runs.train([*runs.TINY, "--total-timesteps", "512", "--run-dir", tmp_path / "run"], env)
    assert result.returncode == 0, runs.describe(result)
    assert any((tmp_path / "cache" / "jaxrl" / "xla").iterdir())
    off = runs.train([*runs.TINY, "--total-timesteps", "512", "--no-compile-cache", "--run-dir", tmp_path / "run2"],
                     {**env, "XDG_CACHE_HOME": str(tmp_path / "other")})
    assert off.returncode == 0, runs.describe(off)
    assert not (tmp_path / "other" / "jaxrl").exists()


def test_main_called_in_process_leaves_jax_settings_alone(tmp_path, monkeypatch):
    import jax

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = jax.config.values["jax_compilation_cache_dir"]
    # Reaches run() (where the CLI turns the cache on) and stops there on a config error.
    assert main(["--env", "Shogi-v0", "--eval-every", "1", "--minimax-depth", "3", "--run-dir", str(tmp_path / "r")]) == 2
    assert jax.config.values["jax_compilation_cache_dir"] == before
