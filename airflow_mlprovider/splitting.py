"""Split a table into train / validation / test: by time (no leakage from the future) or by a stable hash of a key."""

from __future__ import annotations

import hashlib
from typing import Any

_BUCKETS = float(1 << 64)


def hash_bucket(key: Any) -> float:
    """A number in [0, 1) from sha256(str(key)): the same in every process, whatever PYTHONHASHSEED is."""
    return int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "big") / _BUCKETS


def split(df: Any, by: str, column: str, validation: float, test: float) -> tuple[Any, Any, Any]:
    """Return (train, validation, test) DataFrames; each keeps the input's row order and gets a fresh index.

    by='time': the latest `test` fraction of the distinct values of `column` is test, the `validation`
    fraction before it is validation, the rest train; all rows of one time land in the same part.
    by='hash': each row goes by hash_bucket(row[column]): below `test` is test, below test+validation validation.
    """
    if column not in df.columns:
        raise ValueError(f"split column {column!r} is not in the data; columns are: {', '.join(map(str, df.columns))}")
    missing = int(df[column].isna().sum())
    if missing:
        raise ValueError(f"split column {column!r} has {missing} missing values; every row needs one to be assigned")
    if by == "time":
        part = _time_parts(df[column], validation, test)
    elif by == "hash":
        buckets = df[column].map(hash_bucket)
        part = (buckets >= test).astype(int) + (buckets >= test + validation).astype(int)  # 0 test, 1 val, 2 train
    else:
        raise ValueError(f"unknown split {by!r}; allowed: 'time', 'hash'")
    return tuple(df[part == p].reset_index(drop=True) for p in (2, 1, 0))


def _time_parts(times: Any, validation: float, test: float) -> Any:
    """0 for test, 1 for validation, 2 for train, by the rank of each row's time among the distinct times."""
    distinct = sorted(times.unique())
    rank = times.map({time: i for i, time in enumerate(distinct)})
    test_from = len(distinct) - max(1, round(len(distinct) * test))
    validation_from = test_from - max(1, round(len(distinct) * validation))
    return 2 - (rank >= validation_from).astype(int) - (rank >= test_from).astype(int)
