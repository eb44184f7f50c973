"""``python -m tests.helpers.sharded_trainer OUT_DIR N [N ...] [--num-seeds S]``: the host loop on N devices.

Runs the same tiny CartPole training once per device count N (a mesh of the
first N devices; start the process with ``XLA_FLAGS=--xla_force_host_platform_device_count``)
and writes, per N, the final parameters (``params_<N>.npz``) and a JSON summary
(``summary.json``: epoch-function traces, XLA compilations during the epochs,
the state's shardings, every logged record).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from jaxrl import sharding
from jaxrl.config import PPOConfig, TrainConfig
from jaxrl.run.build import build_trainer
from jaxrl.run.loop import Trainer

# 8 envs x 16 steps = 128 per update, 4 minibatches of 32: divisible by 1, 2 and 4 devices.
CONFIG = PPOConfig(total_timesteps=12 * 128, num_envs=8, num_steps=16, num_minibatches=4, update_epochs=2)
UPDATES_PER_EPOCH = 3

_compiles = 0


def _count_compiles(event: str, duration: float, **kwargs) -> None:
    global _compiles
    if event == "/jax/core/compile/backend_compile_duration":
        _compiles += 1


class Recorder:
    def __init__(self):
        self.records = []

    def log(self, record):
        self.records.append(dict(record))

    def close(self):
        pass


def train(num_devices: int, num_seeds: int) -> tuple[dict, Trainer]:
    recorder = Recorder()
    config = TrainConfig(ppo=CONFIG, num_seeds=num_seeds, updates_per_epoch=UPDATES_PER_EPOCH, eval_every=0, plot=False)
    trainer = build_trainer(config, loggers=[recorder], mesh=sharding.make_mesh(num_devices))
    compiled_at = {}
    epoch_fn = trainer._epoch_fn

    def counting_epoch_fn(k):
        compiled = epoch_fn(k)
        compiled_at["compiles"] = _compiles
        return compiled

    trainer._epoch_fn = counting_epoch_fn
    code = trainer.run()
    summary = {
        "exit_code": code,
        "traces": trainer.traces,
        "compiles_during_epochs": _compiles - compiled_at["compiles"],
        "compiles_total": _compiles,
        "epochs": trainer.epoch,
        "obs_sharding": str(trainer.state.obs.sharding.spec),
        "obs_devices": len(trainer.state.obs.sharding.device_set),
        "params_sharding": str(jax.tree.leaves(trainer.state.params)[0].sharding.spec),
        "records": recorder.records,
    }
    return summary, trainer


def main(argv: list[str]) -> int:
    num_seeds = 1
    if "--num-seeds" in argv:
        i = argv.index("--num-seeds")
        num_seeds = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    out, counts = Path(argv[0]), [int(n) for n in argv[1:]]
    out.mkdir(parents=True, exist_ok=True)
    jax.monitoring.register_event_duration_secs_listener(_count_compiles)
    summaries = {}
    for n in counts:
        summary, trainer = train(n, num_seeds)
        summaries[n] = summary
        leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(trainer.state.params))
        np.savez(out / f"params_{n}.npz", **{jax.tree_util.keystr(path): np.asarray(x) for path, x in leaves})
    (out / "summary.json").write_text(json.dumps({"device_count": jax.device_count(), "runs": summaries}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
