"""The server's variants and weights on disk, written atomically so a restarted server serves what it served."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write `state` as JSON: a temp file in the same folder, fsync, then rename over the old one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The saved state, or an empty one when the file does not exist yet."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {"endpoints": {}}
