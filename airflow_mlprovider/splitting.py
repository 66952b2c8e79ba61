"""Split a table into train / validation / test: by time (no leakage from the future) or by a stable hash of a key."""

from __future__ import annotations

import hashlib
from typing import Any

_BUCKETS = float(1 << 64)
TEST, VALIDATION, TRAIN = 0, 1, 2
PARTS = {"train": TRAIN, "validation": VALIDATION, "test": TEST}
#: rows per batch when a Parquet file is split as a stream
BATCH_ROWS = 100_000


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
    cuts = _cuts(df[column], by, validation, test)
    part = _parts(df[column], by, cuts, validation, test)
    return tuple(df[part == p].reset_index(drop=True) for p in (TRAIN, VALIDATION, TEST))


def _cuts(times: Any, by: str, validation: float, test: float) -> tuple[Any, Any] | None:
    """The first validation time and the first test time (by='time'), from the whole column; checks it."""
    missing = int(times.isna().sum())
    if missing:
        raise ValueError(f"split column {times.name!r} has {missing} missing values; every row needs one to be assigned")
    if by == "hash":
        return None
    if by != "time":
        raise ValueError(f"unknown split {by!r}; allowed: 'time', 'hash'")
    distinct = sorted(times.unique())
    test_from = len(distinct) - max(1, round(len(distinct) * test))
    validation_from = test_from - max(1, round(len(distinct) * validation))
    # a rank at or below 0 takes every time: the first distinct time is then the cut
    return distinct[max(validation_from, 0)], distinct[max(test_from, 0)]


def _parts(values: Any, by: str, cuts: tuple[Any, Any] | None, validation: float, test: float) -> Any:
    """0 for test, 1 for validation, 2 for train, per row."""
    if cuts is None:
        buckets = values.map(hash_bucket)
        return (buckets >= test).astype(int) + (buckets >= test + validation).astype(int)
    validation_from, test_from = cuts
    return 2 - (values >= validation_from).astype(int) - (values >= test_from).astype(int)


def split_parquet(
    source: str,
    destinations: dict[str, str],
    by: str,
    column: str,
    validation: float,
    test: float,
    batch_rows: int = BATCH_ROWS,
) -> tuple[dict[str, int], int]:
    """split() as a stream: Parquet `source` (a file, or a folder of them) -> one Parquet file per part.

    `destinations` maps train / validation / test to local paths. Memory holds the split column and one batch
    of rows, never the whole table; the rows each part gets, and their order, are split()'s. Returns (rows per
    part, distinct values of `column`).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    table = ds.dataset(source, format="parquet")
    names = table.schema.names
    if column not in names:
        raise ValueError(f"split column {column!r} is not in the data; columns are: {', '.join(names)}")
    values = table.to_table(columns=[column]).column(0).to_pandas().rename(column)
    cuts = _cuts(values, by, validation, test)
    distinct = int(values.nunique())
    del values
    rows = dict.fromkeys(destinations, 0)
    writers = {name: pq.ParquetWriter(path, table.schema) for name, path in destinations.items()}
    try:
        for batch in table.to_batches(batch_size=batch_rows):
            part = _parts(batch.column(column).to_pandas(), by, cuts, validation, test).to_numpy()
            for name, writer in writers.items():
                chosen = batch.filter(pa.array(part == PARTS[name]))
                writer.write_batch(chosen)
                rows[name] += chosen.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return rows, distinct
