"""SnowflakeWarehouse through the real SnowflakeHook and connector, against fakesnow."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from airflow_mlprovider.backends.local.filesystem_store import path_of
from airflow_mlprovider.backends.snowflake.warehouse import SnowflakeWarehouse
from airflow_mlprovider.spec.model import Warehouse

S3_DEST = "s3://bucket/ml/demand/runs/manual__2024-03-01/data/raw.parquet"


def create_sales(cursor, rows: int) -> None:
    cursor.execute(
        "CREATE TABLE sales (day DATE, store VARCHAR, units_sold INTEGER, price NUMBER(10, 2), promo BOOLEAN)"
    )
    cursor.execute(
        "INSERT INTO sales SELECT DATEADD(day, MOD(seq4(), 60), '2024-01-01'::DATE), 'store_' || MOD(seq4(), 3), "
        "seq4(), MOD(seq4(), 100) / 4, MOD(seq4(), 2) = 0 FROM TABLE(GENERATOR(ROWCOUNT => %s))",
        (rows,),
    )


def test_extract_binds_parameters_and_writes_the_typed_result(fake_snowflake, snowflake_conn_id, store, dest, executed_sql) -> None:
    create_sales(fake_snowflake, 600)
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id))
    sql = (
        f"SELECT day, store, units_sold, price, promo FROM sales "
        f"WHERE day >= {warehouse.placeholder} AND store = {warehouse.placeholder} ORDER BY units_sold"
    )

    result = warehouse.extract(sql, [dt.date(2024, 2, 1), "store_1"], dest, store)

    assert executed_sql.count(sql) == 1  # the query ran once, nothing else was run to extract it
    table = pq.read_table(path_of(dest))
    fake_snowflake.execute(
        "SELECT day, store, units_sold, price, promo FROM sales WHERE day >= '2024-02-01' AND store = 'store_1' "
        "ORDER BY units_sold"
    )
    expected = fake_snowflake.fetchall()
    assert result.uri == dest
    assert result.rows == len(expected) == table.num_rows > 0
    assert result.columns == ("day", "store", "units_sold", "price", "promo")
    assert [str(t) for t in table.schema.types] == ["date32[day]", "string", "int64", "double", "bool"]
    assert [tuple(r.values()) for r in table.to_pylist()] == [
        (day, store_, units, float(price), promo) for day, store_, units, price, promo in expected
    ]


def test_a_bound_value_is_never_sql(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    create_sales(fake_snowflake, 30)
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id))

    result = warehouse.extract("SELECT store FROM sales WHERE store = %s", ["x' OR '1'='1"], dest, store)

    assert result.rows == 0
    assert pq.read_table(path_of(dest)).schema.names == ["store"]


def test_many_rows_stream_in_bounded_batches(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    create_sales(fake_snowflake, 5000)
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id), batch_rows=1000)

    result = warehouse.extract("SELECT units_sold, price FROM sales ORDER BY units_sold", [], dest, store)

    parquet = pq.ParquetFile(path_of(dest))
    assert result.rows == parquet.metadata.num_rows == 5000
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert max(groups) <= 1000 and len(groups) >= 5  # the connector's chunks, written in bounded row groups
    assert parquet.read().column("units_sold").to_pylist() == list(range(5000))


def test_nulls_keep_the_column_type_from_the_description(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    fake_snowflake.execute("CREATE TABLE readings (read_at TIMESTAMP_NTZ, value NUMBER(8, 3), note VARCHAR)")
    fake_snowflake.execute("INSERT INTO readings VALUES (NULL, NULL, NULL), ('2024-01-01 10:00:00', 1.5, 'ok')")
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id), batch_rows=1)

    warehouse.extract("SELECT read_at, value, note FROM readings ORDER BY read_at NULLS FIRST", [], dest, store)

    table = pq.read_table(path_of(dest))
    assert [str(t) for t in table.schema.types] == ["timestamp[us]", "double", "string"]
    assert table.to_pylist() == [
        {"read_at": None, "value": None, "note": None},
        {"read_at": dt.datetime(2024, 1, 1, 10, 0), "value": 1.5, "note": "ok"},
    ]


def test_small_extract_stays_local_even_with_an_unload_stage(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    create_sales(fake_snowflake, 100)
    fake_snowflake.execute("CREATE STAGE ml_unload URL = 's3://ml-unload/snowflake/'")
    warehouse = SnowflakeWarehouse(
        Warehouse(type="snowflake", conn_id=snowflake_conn_id, unload_stage="ml_unload", unload_threshold_rows=100)
    )

    result = warehouse.extract("SELECT * FROM sales", [], dest, store)

    assert result.uri == dest and result.rows == 100


def test_large_extract_is_unloaded_to_the_stage_s3_prefix(fake_snowflake, snowflake_conn_id, store, executed_sql) -> None:
    create_sales(fake_snowflake, 500)
    fake_snowflake.execute("CREATE STAGE ml_unload URL = 's3://ml-unload/snowflake/'")
    warehouse = SnowflakeWarehouse(
        Warehouse(type="snowflake", conn_id=snowflake_conn_id, unload_stage="ml_unload", unload_threshold_rows=100)
    )

    query = "SELECT day, units_sold FROM sales WHERE units_sold >= %s"
    result = warehouse.extract(query, [50], S3_DEST, store)

    # fakesnow acknowledges COPY INTO <stage> without writing files: the Parquet files are real Snowflake's part
    assert result.uri == "s3://ml-unload/snowflake/ml/demand/runs/manual__2024-03-01/data/raw/"
    assert result.rows == 450
    assert result.columns == ("day", "units_sold")
    assert executed_sql.count(query) == 1  # the query ran once: no COUNT, no second run for the unload
    (copy,) = [sql for sql in executed_sql if sql.startswith("COPY INTO")]
    assert "FROM TABLE(RESULT_SCAN('" in copy and "sales" not in copy


def test_streamed_and_unloaded_paths_give_one_schema(fake_snowflake, snowflake_conn_id, store, dest, executed_sql) -> None:
    """The unload's SELECT list (casts and lower-case names) gives what the streamed path writes. fakesnow runs
    the SELECT list over the query (its RESULT_SCAN ignores a SELECT list); Snowflake's Parquet writer then
    keeps the cast types."""
    from airflow_mlprovider.backends.snowflake.result_schema import normalized_select, result_schema

    create_sales(fake_snowflake, 300)
    query = "SELECT day, store, units_sold, price, promo, price * 2 AS double_price FROM sales ORDER BY units_sold"
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id))
    warehouse.extract(query, [], dest, store)
    streamed = pq.read_table(path_of(dest))

    fake_snowflake.execute(query)
    select_list = normalized_select(fake_snowflake.description)
    assert select_list.startswith('CAST("DAY" AS DATE) AS "day", CAST("STORE" AS VARCHAR) AS "store"')
    fake_snowflake.execute(f"SELECT {select_list} FROM ({query}) AS extract_query")
    unloaded = fake_snowflake._arrow_table  # the result as fakesnow's DuckDB typed it (no public Arrow fetch)

    assert unloaded.schema.names == streamed.schema.names == ["day", "store", "units_sold", "price", "promo", "double_price"]
    assert [str(t) for t in unloaded.schema.types] == [str(t) for t in streamed.schema.types] == [
        "date32[day]", "string", "int64", "double", "bool", "double",
    ]
    assert unloaded.to_pylist() == streamed.to_pylist()
    assert result_schema(fake_snowflake.description) == streamed.schema


def test_an_internal_or_missing_stage_is_a_clear_error(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    create_sales(fake_snowflake, 10)
    fake_snowflake.execute("CREATE STAGE internal_stage")
    for stage, message in [("internal_stage", "not an external S3 stage"), ("nowhere", "was not found")]:
        warehouse = SnowflakeWarehouse(
            Warehouse(type="snowflake", conn_id=snowflake_conn_id, unload_stage=stage, unload_threshold_rows=1)
        )
        with pytest.raises(ValueError, match=message):
            warehouse.extract("SELECT * FROM sales", [], dest, store)


def test_a_connection_id_is_required() -> None:
    with pytest.raises(ValueError, match="warehouse.conn_id is required"):
        SnowflakeWarehouse(Warehouse(type="snowflake"))


def test_a_rendered_spec_template_with_utc_interval_bounds(fake_snowflake, snowflake_conn_id, store, dest) -> None:
    from airflow_mlprovider.sql_template import render

    create_sales(fake_snowflake, 600)
    warehouse = SnowflakeWarehouse(Warehouse(type="snowflake", conn_id=snowflake_conn_id))
    utc = dt.UTC
    sql, params = render(
        "SELECT day, units_sold FROM sales WHERE day >= {{ data_interval_start }} AND day < {{ data_interval_end }} "
        "AND store LIKE {{ params.store }}",
        {
            "data_interval_start": dt.datetime(2024, 1, 10, tzinfo=utc),
            "data_interval_end": dt.datetime(2024, 1, 20, tzinfo=utc),
            "params": {"store": "store_%"},
        },
        warehouse.placeholder,
    )

    result = warehouse.extract(sql, params, dest, store)

    days = pq.read_table(path_of(dest)).column("day").to_pylist()
    assert result.rows == len(days) == 100  # 10 of the 60 days, 10 rows each
    assert min(days) == dt.date(2024, 1, 10) and max(days) == dt.date(2024, 1, 19)
