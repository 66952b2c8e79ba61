"""The embedded default warehouse: a DuckDB file, opened read-only, results streamed to Parquet in batches.

The file is a local path, or an s3:// object: a read-only snapshot that every worker of a distributed
deployment can reach without a shared disk; each extract reads its own copy.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from airflow_mlprovider.backends.base import ArtifactStore, ExtractResult
from airflow_mlprovider.backends.local.duckdb_lock import waiting_for_lock
from airflow_mlprovider.spec.model import Warehouse as WarehouseSpec

BATCH_ROWS = 100_000  # rows held in memory at once while streaming an extract


class DuckDBWarehouse:
    """backends.base.Warehouse over `warehouse.path`."""

    placeholder = "?"

    def __init__(self, warehouse: WarehouseSpec, batch_rows: int = BATCH_ROWS, aws_conn_id: str = "aws_default") -> None:
        if not warehouse.path:
            raise ValueError("a duckdb warehouse needs `warehouse.path` (the database file)")
        self.path = warehouse.path
        self.batch_rows = batch_rows
        self.aws_conn_id = aws_conn_id  # reads an s3:// snapshot

    def extract(self, sql: str, params: list[Any], dest_uri: str, store: ArtifactStore) -> ExtractResult:
        import duckdb
        import pyarrow.parquet as pq

        on_s3 = self.path.startswith("s3://")
        if not on_s3 and not Path(self.path).is_file():
            raise FileNotFoundError(
                f"DuckDB warehouse {self.path} does not exist on this worker; create it (for the demo data: "
                f"python -m airflow_mlprovider.examples.seed {self.path}). Under a distributed executor every "
                "worker needs it: set warehouse.path to s3://bucket/key (a snapshot) or use a Snowflake warehouse "
                "(docs/deploy.md)"
            )
        with tempfile.TemporaryDirectory(prefix="mlprovider-extract-") as tmp:
            local = os.path.join(tmp, "extract.parquet")
            database = self.path
            if on_s3:
                from airflow_mlprovider.backends import artifact_store

                database = os.path.join(tmp, "warehouse.duckdb")
                artifact_store(self.path, self.aws_conn_id).get_file(self.path, database)

            def write_parquet() -> tuple[int, tuple[str, ...]]:
                rows = 0
                # read-only: training never writes to the warehouse, and readers may run side by side
                with duckdb.connect(database, read_only=True) as con:
                    con.execute("SET TimeZone = 'UTC'")  # interval bounds are UTC datetimes
                    reader = con.sql(sql, params=params).to_arrow_reader(self.batch_rows)
                    with pq.ParquetWriter(local, reader.schema) as writer:
                        for batch in reader:
                            writer.write_batch(batch)
                            rows += batch.num_rows
                    return rows, tuple(reader.schema.names)

            rows, columns = waiting_for_lock(write_parquet, f"extract from {self.path}")
            store.put_file(local, dest_uri)
        return ExtractResult(uri=dest_uri, rows=rows, columns=columns)
