"""Arrow types for a Snowflake cursor's result, so every fetched batch lands in one fixed Parquet schema.

The schema comes from the cursor's description (not from the values): a batch whose first rows are NULL
still gets the column's real type, and all batches of one extract agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from snowflake.connector.constants import FIELD_ID_TO_NAME


def column_name(snowflake_name: str) -> str:
    """Snowflake folds unquoted identifiers to upper case; fold them back so DuckDB and Snowflake agree."""
    return snowflake_name.lower() if snowflake_name.isupper() else snowflake_name


def arrow_type(type_name: str, scale: int | None) -> pa.DataType:
    """The Arrow type a column of this Snowflake type is written as.

    NUMBER with a scale becomes float64 (models want floats, not Decimal objects); NUMBER(p, 0) int64;
    semi-structured values (VARIANT, OBJECT, ARRAY) arrive as JSON text.
    """
    if type_name == "FIXED":
        return pa.int64() if not scale else pa.float64()
    simple = {
        "REAL": pa.float64(),
        "TEXT": pa.string(),
        "DATE": pa.date32(),
        "TIME": pa.time64("us"),
        "BOOLEAN": pa.bool_(),
        "BINARY": pa.binary(),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP": pa.timestamp("us"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "VARIANT": pa.string(),
        "OBJECT": pa.string(),
        "ARRAY": pa.string(),
    }
    if type_name not in simple:
        raise ValueError(
            f"Snowflake type {type_name} cannot be extracted; cast it in the SQL to one of "
            f"NUMBER, FLOAT, VARCHAR, DATE, TIME, TIMESTAMP_*, BOOLEAN, BINARY, VARIANT/OBJECT/ARRAY"
        )
    return simple[type_name]


def result_schema(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema of a cursor result, from `cursor.description` (ResultMetadata entries)."""
    fields = [
        pa.field(column_name(col.name), arrow_type(FIELD_ID_TO_NAME[col.type_code], col.scale))
        for col in description
    ]
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"the extract SQL returns duplicate column names {duplicates}; alias them apart")
    return pa.schema(fields)


def record_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows as the connector returns them (tuples) -> one RecordBatch of `schema`."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.record_batch(
        [_to_array(values, field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _to_array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    if pa.types.is_floating(type_):
        # NUMBER(p, s>0) arrives as Decimal: converting per value to float keeps NULLs as nulls
        return pa.array([None if v is None else float(v) for v in values], type=type_)
    return pa.array(values, type=type_)
