"""Waiting for the embedded warehouse's file lock.

DuckDB lets one process write a database file, and no other process read it meanwhile: two models' tasks
(one's dbt build, another's extract) can meet on the one demo warehouse. Instead of failing at once, the
loser waits — bounded, and saying so in the task log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_MESSAGE = "Could not set lock on file"


def is_lock_conflict(exc: BaseException) -> bool:
    return any(LOCK_MESSAGE in str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None)


def waiting_for_lock(action: Callable[[], T], what: str, *, timeout_s: float = 600.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `action`; while it fails on another process's lock of the DuckDB file, retry with backoff."""
    deadline, delay = time.monotonic() + timeout_s, 0.5
    while True:
        try:
            return action()
        except Exception as exc:
            if not is_lock_conflict(exc) or time.monotonic() + delay > deadline:
                raise
            log.info("%s: the DuckDB warehouse is locked by another task; retrying in %.1fs", what, delay)
            sleep(delay)
            delay = min(delay * 2, 15.0)
