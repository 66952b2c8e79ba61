"""Telling an error in the model's own code from an infrastructure failure, for the retry policy.

An exception raised by the model module (importing it, or its preprocess()/train()) is deterministic: the same
code on the same data raises again, so a retry only delays the failure. Those fail the task at once. OS-level
errors (OSError: files, network, timeouts; MemoryError) are infrastructure even when raised inside the model's
code — a full disk, a dropped connection or a busy machine pass — so they keep the task's retries, as does a
training process killed by a signal (the OOM killer) or stopped at max_runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: raised inside the model's code, still retried
TRANSIENT = (OSError, MemoryError)
#: the training subprocess's exit code when the model's code raised a deterministic error
USER_CODE_EXIT_CODE = 65


class UserCodeError(Exception):
    """The model's own code raised a deterministic error: retrying cannot help."""


@contextmanager
def calling_user_code(what: str) -> Iterator[None]:
    """Turn a deterministic exception raised in the block into UserCodeError naming `what` (transient ones pass)."""
    try:
        yield
    except TRANSIENT:
        raise
    except Exception as exc:
        raise UserCodeError(f"{what} raised {type(exc).__name__}: {exc}") from exc
