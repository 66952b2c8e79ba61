from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from airflow_mlprovider.backends.local.duckdb_warehouse import DuckDBWarehouse
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.spec.model import Warehouse
from airflow_mlprovider.sql_template import render


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("CREATE TABLE events AS SELECT i AS id, DATE '2024-01-01' + i::INTEGER AS day, 'e' || i AS name FROM range(1000) t(i)")
    return path


def test_extract_streams_every_row_in_batches_to_parquet_in_the_store(db: str, tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(Warehouse(type="duckdb", path=db), batch_rows=64)
    dest = f"file://{tmp_path}/out/raw.parquet"
    result = warehouse.extract("SELECT * FROM events WHERE id < ?", [700], dest, FilesystemArtifactStore())
    assert (result.uri, result.rows, result.columns) == (dest, 700, ("id", "day", "name"))
    parquet = pq.ParquetFile(tmp_path / "out" / "raw.parquet")
    assert parquet.metadata.num_rows == 700
    assert parquet.metadata.num_row_groups > 1  # written batch by batch, not as one table


def test_rendered_interval_bounds_bind_as_utc_datetimes(db: str, tmp_path: Path) -> None:
    sql, params = render(
        "SELECT * FROM events WHERE day >= CAST({{ data_interval_start }} AS DATE) AND day < CAST({{ data_interval_end }} AS DATE)",
        {
            "data_interval_start": dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc),
            "data_interval_end": dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc),
        },
        DuckDBWarehouse.placeholder,
    )
    result = DuckDBWarehouse(Warehouse(type="duckdb", path=db)).extract(sql, params, f"file://{tmp_path}/r.parquet", FilesystemArtifactStore())
    assert result.rows == 29


def test_an_empty_result_is_a_valid_parquet_file_with_the_columns(db: str, tmp_path: Path) -> None:
    result = DuckDBWarehouse(Warehouse(type="duckdb", path=db)).extract(
        "SELECT id, name FROM events WHERE false", [], f"file://{tmp_path}/e.parquet", FilesystemArtifactStore()
    )
    assert result.rows == 0 and result.columns == ("id", "name")
    assert pq.read_table(tmp_path / "e.parquet").column_names == ["id", "name"]


def test_the_database_is_opened_read_only(db: str, tmp_path: Path) -> None:
    with pytest.raises(duckdb.Error, match="read-only"):
        DuckDBWarehouse(Warehouse(type="duckdb", path=db)).extract(
            "CREATE TABLE t AS SELECT 1", [], f"file://{tmp_path}/x.parquet", FilesystemArtifactStore()
        )


def test_a_missing_database_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="examples.seed"):
        DuckDBWarehouse(Warehouse(type="duckdb", path=str(tmp_path / "none.duckdb"))).extract(
            "SELECT 1", [], f"file://{tmp_path}/x.parquet", FilesystemArtifactStore()
        )
    with pytest.raises(ValueError, match="warehouse.path"):
        DuckDBWarehouse(Warehouse(type="duckdb"))
