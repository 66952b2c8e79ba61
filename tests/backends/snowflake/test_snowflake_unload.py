"""The SQL of large extracts: COUNT, COPY INTO unload, REMOVE, SHOW STAGES (fakesnow cannot run the unload itself)."""

from __future__ import annotations

import pytest

from airflow_mlprovider.backends.snowflake import unload


def test_copy_into_unloads_the_query_as_parquet_with_headers() -> None:
    sql = unload.copy_into_sql("SELECT * FROM sales WHERE day >= %s;\n", "analytics.features.ml_unload", "ml/raw/")

    assert sql == (
        "COPY INTO '@analytics.features.ml_unload/ml/raw/' FROM (SELECT * FROM sales WHERE day >= %s) "
        "FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = TRUE MAX_FILE_SIZE = 268435456"
    )


def test_a_retry_first_removes_the_previous_attempts_files() -> None:
    assert unload.remove_sql("@ml_unload", "ml/raw/") == "REMOVE '@ml_unload/ml/raw/'"


def test_count_and_columns_wrap_the_query_and_keep_its_placeholders() -> None:
    assert unload.count_sql(" SELECT a FROM t WHERE b = %s ; ") == (
        "SELECT COUNT(*) FROM (SELECT a FROM t WHERE b = %s) AS extract_query"
    )
    assert unload.columns_sql("SELECT a FROM t") == "SELECT * FROM (SELECT a FROM t) AS extract_query LIMIT 0"


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("ml_unload", ("SHOW STAGES LIKE %s IN SCHEMA", ["ml_unload"])),
        ("features.ml_unload", ("SHOW STAGES LIKE %s IN SCHEMA features", ["ml_unload"])),
        ("@analytics.features.ml_unload", ("SHOW STAGES LIKE %s IN SCHEMA analytics.features", ["ml_unload"])),
    ],
)
def test_the_stage_is_looked_up_in_its_schema(stage: str, expected: tuple[str, list[str]]) -> None:
    assert unload.show_stage_sql(stage) == expected


@pytest.mark.parametrize("stage", ["ml unload", "a.b.c.d", "x'; DROP TABLE sales; --", '"Quoted"', "1stage", ""])
def test_a_stage_name_that_is_not_a_plain_identifier_is_refused(stage: str) -> None:
    with pytest.raises(ValueError, match=r"\[database.\]\[schema.\]name"):
        unload.validate_stage(stage)


@pytest.mark.parametrize(
    ("dest_uri", "prefix"),
    [
        ("s3://bucket/ml/demand/runs/manual__2024-03-01T00_00_00+00_00/data/raw.parquet",
         "ml/demand/runs/manual__2024-03-01T00_00_00_00_00/data/raw/"),
        ("file:///tmp/art/demand/runs/r1/data/raw.parquet", "tmp/art/demand/runs/r1/data/raw/"),
        ("s3://bucket/ml/demand/runs/r1/data/raw", "ml/demand/runs/r1/data/raw/"),
    ],
)
def test_the_unload_prefix_follows_the_destination(dest_uri: str, prefix: str) -> None:
    assert unload.unload_prefix(dest_uri) == prefix
