"""Strict JSON in and out of the server: what a request body may be, and an answer's bytes.

Python's json module accepts NaN and Infinity (not JSON) and raises RecursionError on deep nesting; both
become a 400 here, so a malformed body always gets an answer.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_mlprovider.serving.errors import ServingError


def _refuse_constant(name: str) -> Any:
    raise ServingError(400, f"body is not valid JSON: {name} is not a JSON number")


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body (an empty body is null); ServingError(400) when it is not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ServingError(400, "body is not accepted: JSON nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise ServingError(400, f"body is not valid JSON: {exc}") from None


def encode(value: Any) -> bytes:
    """Compact JSON; ValueError for NaN/Infinity, TypeError for what JSON cannot hold."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
