"""The data stage: extract (SQL -> Parquet), preprocess (the model module's preprocess()), split.

Each reads and writes URIs given as arguments and returns small metadata; with `multiple_outputs` every key is
its own XCom, so the next operator takes e.g. `extract.output["uri"]`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from airflow_mlprovider.operators.base import LifecycleOperator, join_uri, run_key, utc_interval
from airflow_mlprovider.spec.model import Split
from airflow_mlprovider.spec.model import Warehouse as WarehouseConfig
from airflow_mlprovider.user_code import calling_user_code


def warehouse_config(
    duckdb_path: str | None, snowflake_conn_id: str | None, unload_stage: str | None = None,
    unload_threshold_rows: int | None = None,
) -> WarehouseConfig:
    """The warehouse an operator runs on: exactly one of a DuckDB file and a Snowflake connection id."""
    if bool(duckdb_path) == bool(snowflake_conn_id):
        raise ValueError(
            f"give exactly one of duckdb_path (the embedded DuckDB file) and snowflake_conn_id (an Airflow "
            f"Snowflake connection); got duckdb_path={duckdb_path!r}, snowflake_conn_id={snowflake_conn_id!r}"
        )
    if snowflake_conn_id:
        return WarehouseConfig("snowflake", conn_id=snowflake_conn_id, unload_stage=unload_stage,
                               unload_threshold_rows=unload_threshold_rows)
    return WarehouseConfig("duckdb", path=duckdb_path)


def model_context(model: str, params: dict[str, Any], context: Any, artifact_dir: str) -> Any:
    """The ModelContext a user's preprocess()/train() receives in this run."""
    from airflow_mlprovider.contract import ModelContext

    start, end = utc_interval(context)
    return ModelContext(
        model=model,
        artifact_dir=artifact_dir,
        params=dict(params),
        data_interval_start=start.isoformat(),
        data_interval_end=end.isoformat(),
        run_key=run_key(context["run_id"]),
    )


def fetch_parquet(store: Any, uri: str, workdir: str) -> str:
    """Download a Parquet file, or a folder of Parquet files (large warehouse unloads); returns the local path."""
    local = os.path.join(workdir, "input")
    if store.list(uri.rstrip("/") + "/"):
        store.get_dir(uri, local)
    else:
        store.get_file(uri, local)
    return local


def read_parquet(store: Any, uri: str, workdir: str) -> Any:
    """Load a Parquet file, or a folder of Parquet files, from the store as one DataFrame."""
    import pandas as pd

    return pd.read_parquet(fetch_parquet(store, uri, workdir))


def write_parquet(store: Any, frame: Any, uri: str, workdir: str) -> None:
    local = os.path.join(workdir, os.path.basename(uri))
    frame.to_parquet(local, index=False)
    store.put_file(local, uri)


class ExtractOperator(LifecycleOperator):
    """Run `sql` on the warehouse for the run's data interval and write the result to Parquet at `output_uri`.

    :param sql: the query. Jinja is rendered by the provider, not by Airflow: `{{ data_interval_start }}`,
        `{{ data_interval_end }}`, `{{ ds }}`, `{{ params.name }}` (from `sql_params`) and `{{ model }}` each
        become a bind parameter, never text in the SQL (so `sql` is deliberately not a template field).
    :param output_uri: where the Parquet goes (file://, a path, or s3://); templated.
    :param duckdb_path: the embedded warehouse's DuckDB file (a path, or s3://bucket/key read through aws_conn_id); or
    :param snowflake_conn_id: an Airflow Snowflake connection (exactly one of the two).
    :param sql_params: values for `{{ params.name }}` in the SQL; templated.
    :param unload_stage: Snowflake: an external S3 stage for COPY INTO unloads of large extracts.
    :param unload_threshold_rows: Snowflake: extracts above this many rows are unloaded.
    :param model: the model's name, available in the SQL as `{{ model }}`.
    :param aws_conn_id: the AWS connection for s3:// URIs.
    :return: `{"uri", "rows", "columns"}`. Zero rows fail the task with the SQL and interval.
    """

    template_fields: Sequence[str] = ("output_uri", "duckdb_path", "sql_params")

    def __init__(
        self, *, sql: str, output_uri: str, duckdb_path: str | None = None, snowflake_conn_id: str | None = None,
        sql_params: dict[str, Any] | None = None, unload_stage: str | None = None,
        unload_threshold_rows: int | None = None, model: str = "", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        warehouse_config(duckdb_path, snowflake_conn_id)  # fail at parse time, not at run time
        self.sql = sql
        self.output_uri = output_uri
        self.duckdb_path = duckdb_path
        self.snowflake_conn_id = snowflake_conn_id
        self.sql_params = sql_params or {}
        self.unload_stage = unload_stage
        self.unload_threshold_rows = unload_threshold_rows
        self.model = model

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider import sql_template
        from airflow_mlprovider.backends import warehouse_backend

        if self.duckdb_path and not self.duckdb_path.startswith("s3://"):
            from airflow_mlprovider.provider_config import require_shared_path

            require_shared_path(self.duckdb_path, "warehouse.path")
        start, end = utc_interval(context)
        variables = {"data_interval_start": start, "data_interval_end": end, "ds": start.date(),
                     "params": self.sql_params, "model": self.model}
        warehouse = warehouse_backend(warehouse_config(
            self.duckdb_path, self.snowflake_conn_id, self.unload_stage, self.unload_threshold_rows), self.aws_conn_id)
        sql, params = sql_template.render(self.sql, variables, warehouse.placeholder)
        self.log.info("extracting for %s .. %s with %d bind parameters:\n%s", start, end, len(params), sql)
        result = warehouse.extract(sql, params, self.output_uri, self.store(self.output_uri))
        if result.rows == 0:
            raise ValueError(
                f"the SQL returned no rows for the interval {start.isoformat()} .. {end.isoformat()} "
                f"(bind parameters {params!r}):\n{sql}"
            )
        self.log.info("extracted %d rows, columns %s", result.rows, ", ".join(result.columns))
        return {"uri": result.uri, "rows": result.rows, "columns": list(result.columns)}


class PreprocessOperator(LifecycleOperator):
    """Call the model module's `preprocess(raw, ctx)` on `input_uri`; its DataFrame is written to `output_uri`.

    :param model_module: path of the model module (a .py file with preprocess/train/load).
    :param input_uri: the raw Parquet (file or folder), e.g. `extract.output["uri"]`; templated.
    :param output_uri: where the features Parquet goes; templated.
    :param model: the model's name (`ctx.model`).
    :param model_params: hyper-parameters given as `ctx.params`; templated.
    :return: `{"uri", "rows"}`.
    """

    template_fields: Sequence[str] = ("input_uri", "output_uri", "model_params")

    def __init__(
        self, *, model_module: str, input_uri: str, output_uri: str, model: str,
        model_params: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_module = model_module
        self.input_uri = input_uri
        self.output_uri = output_uri
        self.model = model
        self.model_params = model_params or {}

    def execute(self, context: Any) -> dict[str, Any]:
        import pandas as pd

        from airflow_mlprovider.artifacts import import_module_from_path

        store = self.store(self.output_uri)
        with tempfile.TemporaryDirectory(prefix="mlprovider-preprocess-") as tmp:
            raw = read_parquet(self.store(self.input_uri), self.input_uri, tmp)
            scratch = os.path.join(tmp, "scratch")
            os.mkdir(scratch)
            with self.failing_without_retry_on_user_errors(), calling_user_code(f"preprocess() in {self.model_module}"):
                module = import_module_from_path(self.model_module)
                features = module.preprocess(raw, model_context(self.model, self.model_params, context, scratch))
                if not isinstance(features, pd.DataFrame):
                    raise TypeError(f"it returned {type(features).__name__}; it must return a pandas DataFrame")
            write_parquet(store, features, self.output_uri, tmp)
        self.log.info("preprocess: %d rows in, %d rows out", len(raw), len(features))
        return {"uri": self.output_uri, "rows": len(features)}


class SplitOperator(LifecycleOperator):
    """Split `input_uri` into train / validation / test Parquet files under `output_prefix`.

    :param input_uri: the features Parquet, e.g. `preprocess.output["uri"]`; templated.
    :param output_prefix: folder URI receiving train.parquet, validation.parquet, test.parquet; templated.
    :param by: "time" (the latest `column` values are the test set: no leakage from the future) or "hash"
        (a stable sha256 hash of the key `column`).
    :param column: the time or key column.
    :param validation_fraction: share of rows for validation (0..1).
    :param test_fraction: share of rows for test (0..1).
    :return: `{"train_uri", "validation_uri", "test_uri", "rows": {part: count}}`.
    """

    template_fields: Sequence[str] = ("input_uri", "output_prefix")

    def __init__(
        self, *, input_uri: str, output_prefix: str, by: str, column: str,
        validation_fraction: float = Split.validation, test_fraction: float = Split.test, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if by not in ("time", "hash"):
            raise ValueError(f"by must be 'time' or 'hash', got {by!r}")
        if not (0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
            raise ValueError(f"validation_fraction ({validation_fraction}) and test_fraction ({test_fraction}) "
                             "must be fractions summing below 1")
        self.input_uri = input_uri
        self.output_prefix = output_prefix
        self.by = by
        self.column = column
        self.validation_fraction = validation_fraction
        self.test_fraction = test_fraction

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.splitting import split_parquet

        store = self.store(self.output_prefix)
        result: dict[str, Any] = {"rows": {}}
        with tempfile.TemporaryDirectory(prefix="mlprovider-split-") as tmp:
            source = fetch_parquet(self.store(self.input_uri), self.input_uri, tmp)
            local = {name: os.path.join(tmp, f"{name}.parquet") for name in ("train", "validation", "test")}
            # streamed: memory holds the split column and one batch, whatever the table's size
            rows, distinct = split_parquet(source, local, self.by, self.column, self.validation_fraction,
                                           self.test_fraction)
            empty = [name for name, count in rows.items() if count == 0]
            if empty:
                raise ValueError(
                    f"split by {self.by} on {self.column!r} left {' and '.join(empty)} empty "
                    f"({sum(rows.values())} rows, {distinct} distinct {self.column!r} values); "
                    "extract more data or change the validation / test fractions"
                )
            for name, path in local.items():
                uri = join_uri(self.output_prefix, f"{name}.parquet")
                store.put_file(path, uri)
                result[f"{name}_uri"] = uri
                result["rows"][name] = rows[name]
        self.log.info("split %s", result["rows"])
        return result
