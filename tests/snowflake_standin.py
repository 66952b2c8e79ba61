"""What fakesnow lacks of the Snowflake connector, added to fakesnow (never to our code).

- `cursor.fetch_arrow_batches()`: the result in chunks (CHUNK_ROWS here; Snowflake chooses its own) as pyarrow
  Tables with the result's own Arrow types, integers at the narrowest width (the connector's Arrow result uses
  the smallest integer type that holds a chunk), so the caller must cast to its schema itself.
- A record of every statement executed (`EXECUTED`), so tests can count how often a query ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

CHUNK_ROWS = 1500
EXECUTED: list[str] = []


def _narrowest(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_integer(column.type):
        return column
    low, high = pc.min_max(column).values()
    for kind in (pa.int8(), pa.int16(), pa.int32(), pa.int64()):
        bits = kind.bit_width - 1
        if low.as_py() is None or (-(2**bits) <= low.as_py() and high.as_py() < 2**bits):
            return column.cast(kind)
    return column


def _fetch_arrow_batches(self: Any) -> Iterator[Any]:
    import pyarrow as pa

    if self._arrow_table is None:
        raise TypeError("No open result set")
    for offset in range(0, self._arrow_table.num_rows, CHUNK_ROWS):
        chunk = self._arrow_table.slice(offset, CHUNK_ROWS)
        yield pa.Table.from_arrays([_narrowest(c) for c in chunk.columns], names=chunk.column_names)


def extend_fakesnow(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Add the connector's Arrow batches to fakesnow's cursor and record its statements; returns the record."""
    from fakesnow.cursor import FakeSnowflakeCursor

    monkeypatch.setattr(FakeSnowflakeCursor, "fetch_arrow_batches", _fetch_arrow_batches, raising=False)
    execute = FakeSnowflakeCursor.execute

    def recording_execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        EXECUTED.append(command)
        return execute(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeSnowflakeCursor, "execute", recording_execute)
    EXECUTED.clear()
    return EXECUTED
