"""The preset benchmark's per-seed summary: greedy means per seed, min/max, seeds at the target."""

from __future__ import annotations

import numpy as np

from benchmarks import presets


def test_summary_counts_the_seeds_whose_mean_greedy_return_reaches_the_target():
    greedy = np.array([[480.0, 490.0], [500.0, 500.0], [100.0, 900.0], [470.0, 470.0]])  # [seeds, episodes]
    train_returns = np.array([[10.0, 20.0]] * 4)
    train_counts = np.array([[1.0, 1.0]] * 4)
    row = presets.summarize("CartPole-v1", {"lr": 1e-3}, greedy, train_returns, train_counts, 1.0, 2.0, 512)
    assert row["greedy_per_seed"] == [485.0, 500.0, 500.0, 470.0]
    assert (row["greedy_min"], row["greedy_max"]) == (470.0, 500.0)
    assert row["greedy_mean"] == np.mean([485.0, 500.0, 500.0, 470.0])
    assert row["target"] == 475.0 and row["seeds_at_target"] == 3 and row["solved_every_seed"] is False
    assert row["train_final_return_per_seed"] == [20.0] * 4  # the last update's episodes


def test_every_classic_control_env_has_a_target():
    import envs

    classic = {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"}
    assert set(presets.TARGETS) == classic and classic <= set(envs.registered_names())
