"""``python -m tests.helpers.hang_save MARKER N -- TRAIN_ARGS``: jaxrl.train whose N-th checkpoint never commits.

orbax writes each step into ``<step>.orbax-checkpoint-tmp-*`` and renames it
on commit (`AtomicRenameTemporaryPath.finalize`). Here the N-th step-level
finalize touches ``MARKER`` (the arrays are written by then) and hangs, so a
test can SIGKILL the process in the middle of that save.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def main() -> int:
    marker, hang_on = Path(sys.argv[1]), int(sys.argv[2])
    train_args = sys.argv[sys.argv.index("--") + 1:]
    from orbax.checkpoint._src.path import atomicity

    original = atomicity.AtomicRenameTemporaryPath.finalize
    finalized = 0

    async def finalize(self):
        nonlocal finalized
        if self.get_final().name.isdigit():  # a step directory, not an item inside one
            finalized += 1
            if finalized == hang_on:
                marker.write_text(f"{self.get()}\n")
                await asyncio.sleep(3600)
        return await original(self)

    atomicity.AtomicRenameTemporaryPath.finalize = finalize
    from jaxrl.train import main as train_main

    return train_main(train_args)


if __name__ == "__main__":
    sys.exit(main())
