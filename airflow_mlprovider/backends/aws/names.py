"""SageMaker resource names: [a-zA-Z0-9-], at most 63 characters, unique per input. Pure."""

from __future__ import annotations

import hashlib
import re

_INVALID = re.compile(r"[^a-zA-Z0-9-]+")
MAX_LENGTH = 63


def resource_name(readable: str, unique: str) -> str:
    """`readable` made valid and cut to fit, then '-' and 10 hex digits of sha1(`unique`)."""
    digest = hashlib.sha1(unique.encode()).hexdigest()[:10]
    head = _INVALID.sub("-", readable).strip("-")[: MAX_LENGTH - len(digest) - 1].strip("-")
    return f"{head}-{digest}" if head else digest
