"""`[core] hostname_callable` of the test's workers: two workers on one machine share its hostname, so each
reports the name of its own working folder (worker-a, worker-b) as the task instances' hostname."""

from __future__ import annotations

from pathlib import Path


def hostname() -> str:
    return Path.cwd().name
