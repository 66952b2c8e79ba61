"""The SQL of large extracts: COPY INTO from RESULT_SCAN, REMOVE, SHOW STAGES (fakesnow cannot run the unload)."""

from __future__ import annotations

import pytest

from airflow_mlprovider.backends.snowflake import unload


QUERY_ID = "01b5c6d7-0000-4a1b-0000-00012345abcd"


def test_copy_into_unloads_the_query_result_as_parquet_with_headers() -> None:
    sql = unload.copy_into_sql(QUERY_ID, 'CAST("DAY" AS DATE) AS "day"', "analytics.features.ml_unload", "ml/raw/")

    assert sql == (
        "COPY INTO '@analytics.features.ml_unload/ml/raw/' FROM "
        f"""(SELECT CAST("DAY" AS DATE) AS "day" FROM TABLE(RESULT_SCAN('{QUERY_ID}'))) """
        "FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = TRUE MAX_FILE_SIZE = 268435456"
    )


@pytest.mark.parametrize("query_id", ["", "x'); DROP TABLE sales; --", "a b"])
def test_a_query_id_that_is_not_one_is_refused(query_id: str) -> None:
    with pytest.raises(ValueError, match="not a Snowflake query id"):
        unload.result_scan_sql(query_id, "*")


def test_a_retry_first_removes_the_previous_attempts_files() -> None:
    assert unload.remove_sql("@ml_unload", "ml/raw/") == "REMOVE '@ml_unload/ml/raw/'"


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
