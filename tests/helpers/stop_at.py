"""``python -m tests.helpers.stop_at N -- TRAIN_ARGS``: jaxrl.train that sends itself SIGINT after update N.

The signal goes through the real stop path (finish the epoch, save, exit 130)
but at a known update, so a test can compare an interrupted-and-resumed run
with an uninterrupted one. N must fall on an epoch boundary.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    stop_at = int(sys.argv[1])
    train_args = sys.argv[sys.argv.index("--") + 1:]
    from jaxrl.run import loop

    original = loop.Trainer._run_callbacks

    def run_callbacks(self, record):
        if self.update >= stop_at and self._stop_reason is None:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, record)

    loop.Trainer._run_callbacks = run_callbacks
    from jaxrl.train import main as train_main

    return train_main(train_args)


if __name__ == "__main__":
    sys.exit(main())
