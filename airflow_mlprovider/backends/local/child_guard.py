"""Whatever a training task starts dies with it, even when the task itself is killed with SIGKILL.

The task starts this guard (`python -m airflow_mlprovider.backends.local.child_guard WORK_DIR`) in its own
session, with the read end of a pipe as stdin, and tells it the process groups it starts ("group <pgid>").
The task alone holds the write end, so the kernel closes it when the task dies, however it dies: the guard
reads EOF, kills every group it was told about and removes the task's work folder. A task that finishes says
"done" first, and the guard exits without touching anything.

A watchdog process rather than prctl(PR_SET_PDEATHSIG) on the child: the parent-death signal reaches only the
direct child, not what train() starts (joblib workers, a helper binary), and it cannot remove a folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType


def _watch(work_dir: str) -> None:
    groups: list[int] = []
    for line in sys.stdin:
        word, _, value = line.strip().partition(" ")
        if word == "done":
            return
        if word == "group":
            groups.append(int(value))
    for group in groups:  # EOF without "done": the task is gone
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(work_dir, ignore_errors=True)


class ChildGuard:
    """Kill the groups `adopt()`ed and remove `work_dir` when this process dies or the block ends."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        read_end, self._write_end = os.pipe()  # both non-inheritable: no other child keeps the pipe open
        try:
            self._guard = subprocess.Popen(
                [sys.executable, "-m", __name__, str(work_dir)],
                stdin=read_end,
                start_new_session=True,  # a kill of the task's process group must not take the guard with it
                env={"PATH": os.environ.get("PATH", "")},
            )
        finally:
            os.close(read_end)

    def adopt(self, process_group: int) -> None:
        os.write(self._write_end, f"group {process_group}\n".encode())

    def __enter__(self) -> ChildGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
        os.write(self._write_end, b"done\n")
        os.close(self._write_end)
        self._guard.wait()


if __name__ == "__main__":
    _watch(sys.argv[1])
