"""One schema for an extract, whichever way it leaves Snowflake: streamed through the worker or unloaded by COPY INTO.

The schema comes from the cursor's description (not from the values): a batch whose first rows are NULL still
gets the column's real type, and all batches of one extract agree. Each Snowflake type has one Arrow type and one
SQL cast that makes Snowflake's own Parquet writer produce that type, so both paths give the same column names
(folded to lower case, as DuckDB's are) and the same types for the same query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from snowflake.connector.constants import FIELD_ID_TO_NAME


@dataclass(frozen=True)
class ColumnType:
    arrow: pa.DataType
    sql_cast: str  # applied in the unload's SELECT ('{}' is the quoted source column)


# NUMBER with a scale becomes float64 (models want floats, not Decimal); NUMBER(p, 0) int64 (the connector's Arrow
# batches use the smallest integer width per chunk, and Snowflake's Parquet writer a DECIMAL, without these casts);
# semi-structured values (VARIANT, OBJECT, ARRAY) travel as JSON text; timestamps at microseconds.
_TYPES = {
    "FIXED_INTEGER": ColumnType(pa.int64(), "CAST({} AS BIGINT)"),
    "FIXED_SCALED": ColumnType(pa.float64(), "CAST({} AS DOUBLE)"),
    "REAL": ColumnType(pa.float64(), "CAST({} AS DOUBLE)"),
    "TEXT": ColumnType(pa.string(), "CAST({} AS VARCHAR)"),
    "DATE": ColumnType(pa.date32(), "CAST({} AS DATE)"),
    "TIME": ColumnType(pa.time64("us"), "CAST({} AS TIME(6))"),
    "BOOLEAN": ColumnType(pa.bool_(), "CAST({} AS BOOLEAN)"),
    "BINARY": ColumnType(pa.binary(), "CAST({} AS BINARY)"),
    "TIMESTAMP_NTZ": ColumnType(pa.timestamp("us"), "CAST({} AS TIMESTAMP_NTZ(6))"),
    "TIMESTAMP": ColumnType(pa.timestamp("us"), "CAST({} AS TIMESTAMP_NTZ(6))"),
    "TIMESTAMP_LTZ": ColumnType(pa.timestamp("us", tz="UTC"), "CAST(CONVERT_TIMEZONE('UTC', {}) AS TIMESTAMP_TZ(6))"),
    "TIMESTAMP_TZ": ColumnType(pa.timestamp("us", tz="UTC"), "CAST(CONVERT_TIMEZONE('UTC', {}) AS TIMESTAMP_TZ(6))"),
    "VARIANT": ColumnType(pa.string(), "TO_JSON({})"),
    "OBJECT": ColumnType(pa.string(), "TO_JSON({})"),
    "ARRAY": ColumnType(pa.string(), "TO_JSON({})"),
}


def column_name(snowflake_name: str) -> str:
    """Snowflake folds unquoted identifiers to upper case; fold them back so DuckDB and Snowflake agree."""
    return snowflake_name.lower() if snowflake_name.isupper() else snowflake_name


def column_type(type_name: str, scale: int | None) -> ColumnType:
    """The Arrow type (and the unload's cast) of a column of this Snowflake type."""
    if type_name == "FIXED":
        type_name = "FIXED_SCALED" if scale else "FIXED_INTEGER"
    if type_name not in _TYPES:
        raise ValueError(
            f"Snowflake type {type_name} cannot be extracted; cast it in the SQL to one of "
            f"NUMBER, FLOAT, VARCHAR, DATE, TIME, TIMESTAMP_*, BOOLEAN, BINARY, VARIANT/OBJECT/ARRAY"
        )
    return _TYPES[type_name]


def _columns(description: Sequence[Any]) -> list[tuple[str, str, ColumnType]]:
    """(source name, extract name, type) of each column; duplicate extract names are refused."""
    columns = [(col.name, column_name(col.name), column_type(FIELD_ID_TO_NAME[col.type_code], col.scale)) for col in description]
    names = [name for _, name, _ in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"the extract SQL returns duplicate column names {duplicates}; alias them apart")
    return columns


def result_schema(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema of a cursor result, from `cursor.description` (ResultMetadata entries)."""
    return pa.schema([pa.field(name, kind.arrow) for _, name, kind in _columns(description)])


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def normalized_select(description: Sequence[Any]) -> str:
    """The SELECT list that gives Snowflake's Parquet writer the extract schema: each column cast and renamed."""
    return ", ".join(
        f"{kind.sql_cast.format(_quoted(source))} AS {_quoted(name)}" for source, name, kind in _columns(description)
    )


def conform(batches: Iterable[pa.Table], schema: pa.Schema) -> Iterable[pa.Table]:
    """The connector's Arrow batches renamed and cast to `schema` (NUMBER scale > 0 arrives as decimal128,
    integers in the smallest width that holds a chunk's values, timestamps at up to nanoseconds)."""
    for batch in batches:
        columns = [
            # timestamps are truncated to microseconds on purpose; every other cast must be exact
            column.cast(field.type, safe=not pa.types.is_timestamp(field.type))
            for column, field in zip(batch.columns, schema, strict=True)
        ]
        yield pa.Table.from_arrays(columns, schema=schema)
