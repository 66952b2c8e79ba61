"""Snowflake warehouse: the spec's SQL through the Snowflake provider's hook, streamed to Parquet or unloaded.

Everything about the account (user, key, role, database, warehouse) comes from the Airflow connection
`warehouse.conn_id`; the spec holds no credential. Parameters are bound by the connector in its default
`pyformat` paramstyle, so the spec SQL is rendered with `%s` placeholders.

The query runs once. Its row count (known when it returns) picks the path: the connector's Arrow batches,
cast to the extract schema and written to one Parquet file; or, above the threshold with an unload stage,
COPY INTO from RESULT_SCAN(query id) with the same schema (result_schema.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import closing
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.backends.base import ArtifactStore, ExtractResult
from airflow_mlprovider.backends.snowflake import unload

if TYPE_CHECKING:
    from snowflake.connector.cursor import SnowflakeCursor

    from airflow_mlprovider.spec.model import Warehouse as WarehouseSpec

log = logging.getLogger(__name__)

#: rows per Parquet row group: with the connector's result chunks, bounds the worker's memory
DEFAULT_BATCH_ROWS = 50_000


class SnowflakeWarehouse:
    """Runs an extract on Snowflake; large extracts are unloaded by Snowflake itself to an S3 stage."""

    placeholder = "%s"

    def __init__(self, warehouse: WarehouseSpec, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        if not warehouse.conn_id:
            raise ValueError("warehouse.conn_id is required for warehouse type 'snowflake' (an Airflow connection id)")
        self.conn_id = warehouse.conn_id
        self.unload_stage = unload.validate_stage(warehouse.unload_stage) if warehouse.unload_stage else None
        self.unload_threshold_rows = warehouse.unload_threshold_rows or unload.DEFAULT_UNLOAD_THRESHOLD_ROWS
        self.batch_rows = batch_rows

    def extract(self, sql: str, params: list[Any], dest_uri: str, store: ArtifactStore) -> ExtractResult:
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        # None, not []: with no parameters the connector must leave a literal '%' in the SQL alone
        bound = list(params) or None
        hook = SnowflakeHook(snowflake_conn_id=self.conn_id)
        with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            cursor.execute(sql, bound)
            rows = cursor.rowcount
            if self.unload_stage and rows is not None and rows > self.unload_threshold_rows:
                log.info("extract has %d rows (> %d): unloading with COPY INTO", rows, self.unload_threshold_rows)
                return self._unload(cursor, dest_uri, rows)
            return self._stream_to_parquet(cursor, dest_uri, store)

    def _stream_to_parquet(self, cursor: SnowflakeCursor, dest_uri: str, store: ArtifactStore) -> ExtractResult:
        import pyarrow.parquet as pq

        from airflow_mlprovider.backends.snowflake.result_schema import conform, result_schema

        schema = result_schema(cursor.description)
        rows = 0
        with tempfile.TemporaryDirectory(prefix="mlprovider-extract-") as tmp:
            local = os.path.join(tmp, "extract.parquet")
            with pq.ParquetWriter(local, schema) as writer:
                for table in conform(cursor.fetch_arrow_batches(), schema):
                    writer.write_table(table, row_group_size=self.batch_rows)
                    rows += table.num_rows
                if rows == 0:
                    writer.write_table(schema.empty_table())
            store.put_file(local, dest_uri)
        log.info("extracted %d rows, %d columns to %s", rows, len(schema), dest_uri)
        return ExtractResult(uri=dest_uri, rows=rows, columns=tuple(schema.names))

    def _unload(self, cursor: SnowflakeCursor, dest_uri: str, rows: int) -> ExtractResult:
        from airflow_mlprovider.backends.snowflake.result_schema import normalized_select, result_schema

        assert self.unload_stage is not None
        query_id, description = cursor.sfqid, cursor.description
        columns = tuple(result_schema(description).names)
        stage_url = self._stage_url(cursor)
        prefix = unload.unload_prefix(dest_uri)
        cursor.execute(unload.remove_sql(self.unload_stage, prefix))
        cursor.execute(unload.copy_into_sql(query_id, normalized_select(description), self.unload_stage, prefix))
        uri = stage_url.rstrip("/") + "/" + prefix
        log.info("unloaded %d rows to %s (stage %s)", rows, uri, self.unload_stage)
        return ExtractResult(uri=uri, rows=rows, columns=columns)

    def _stage_url(self, cursor: SnowflakeCursor) -> str:
        """The S3 URL behind the external stage: where the unloaded files can be read from."""
        assert self.unload_stage is not None
        show_sql, show_params = unload.show_stage_sql(self.unload_stage)
        cursor.execute(show_sql, show_params)
        names = [col.name.lower() for col in cursor.description]
        name = show_params[0].upper()
        for row in cursor.fetchall():
            stage = dict(zip(names, row, strict=True))
            if stage["name"].upper() == name:
                if not str(stage.get("url") or "").startswith("s3://"):
                    raise ValueError(
                        f"warehouse.unload_stage {self.unload_stage!r} is not an external S3 stage "
                        f"(url {stage.get('url')!r}); create it with URL = 's3://bucket/prefix/'"
                    )
                return str(stage["url"])
        raise ValueError(
            f"warehouse.unload_stage {self.unload_stage!r} was not found by connection {self.conn_id!r}; "
            f"create the stage or grant USAGE on it to the connection's role"
        )
