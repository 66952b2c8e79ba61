"""The data stage: EXTRACT (spec SQL -> raw.parquet), PREPROCESS (the module's preprocess -> features.parquet),
SPLIT (train / validation / test parquet). Each writes under the run's URI and returns small metadata (XCom).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

from airflow_mlprovider.operators.base import EXTRACT, PREPROCESS, ModelSpecOperator, run_key
from airflow_mlprovider.operators.register import run_interval


def utc_interval(context: Any) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval as plain tz-aware UTC datetimes (what SQL templates and bind parameters get)."""
    return tuple(dt.datetime.fromisoformat(bound.astimezone(dt.timezone.utc).isoformat()) for bound in run_interval(context))


def model_context(op: ModelSpecOperator, context: Any, artifact_dir: str) -> Any:
    """The ModelContext a user's preprocess()/train() receives in this run."""
    from airflow_mlprovider.contract import ModelContext

    start, end = utc_interval(context)
    spec = op.model_spec
    return ModelContext(
        model=spec.model,
        artifact_dir=artifact_dir,
        params=dict(spec.code.params),
        data_interval_start=start.isoformat(),
        data_interval_end=end.isoformat(),
        run_key=run_key(context),
    )


def read_parquet(store: Any, uri: str, workdir: str) -> Any:
    """Load a Parquet file, or a folder of Parquet files (large warehouse unloads), from the store."""
    import pandas as pd

    local = os.path.join(workdir, "input")
    if store.list(uri.rstrip("/") + "/"):
        store.get_dir(uri, local)
    else:
        store.get_file(uri, local)
    return pd.read_parquet(local)


def write_parquet(store: Any, frame: Any, uri: str, workdir: str) -> None:
    local = os.path.join(workdir, os.path.basename(uri))
    frame.to_parquet(local, index=False)
    store.put_file(local, uri)


class ExtractOperator(ModelSpecOperator):
    """Run the spec's SQL for this run's data interval; every template value is a bind parameter."""

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider import sql_template
        from airflow_mlprovider.backends import store_for, warehouse_for

        spec = self.model_spec
        start, end = utc_interval(context)
        variables = {
            "data_interval_start": start,
            "data_interval_end": end,
            "ds": start.date(),
            "params": spec.data.params,
            "model": spec.model,
        }
        warehouse = warehouse_for(spec)
        sql, params = sql_template.render(spec.data.sql, variables, warehouse.placeholder)
        self.log.info("extracting for %s .. %s with %d bind parameters:\n%s", start, end, len(params), sql)
        result = warehouse.extract(sql, params, self.run_uri(context, "data", "raw.parquet"), store_for(spec))
        if result.rows == 0:
            raise ValueError(
                f"{spec.source}: data.sql returned no rows for the interval {start.isoformat()} .. {end.isoformat()} "
                f"(bind parameters {params!r}):\n{sql}"
            )
        self.log.info("extracted %d rows, columns %s", result.rows, ", ".join(result.columns))
        return {"uri": result.uri, "rows": result.rows, "columns": list(result.columns)}


class PreprocessOperator(ModelSpecOperator):
    """Call the model module's preprocess(raw, ctx) on the extract; its DataFrame becomes features.parquet."""

    def execute(self, context: Any) -> dict[str, Any]:
        import pandas as pd

        from airflow_mlprovider.artifacts import import_module_from_path
        from airflow_mlprovider.backends import store_for

        spec = self.model_spec
        store = store_for(spec)
        extract = context["ti"].xcom_pull(task_ids=EXTRACT)
        module = import_module_from_path(spec.code.module)
        with tempfile.TemporaryDirectory(prefix="mlprovider-preprocess-") as tmp:
            raw = read_parquet(store, extract["uri"], tmp)
            scratch = os.path.join(tmp, "scratch")
            os.mkdir(scratch)
            features = module.preprocess(raw, model_context(self, context, scratch))
            if not isinstance(features, pd.DataFrame):
                raise TypeError(
                    f"preprocess() in {spec.code.module} returned {type(features).__name__}; it must return a pandas DataFrame"
                )
            uri = self.run_uri(context, "data", "features.parquet")
            write_parquet(store, features, uri, tmp)
        self.log.info("preprocess: %d rows in, %d rows out", len(raw), len(features))
        return {"uri": uri, "rows": len(features)}


class SplitOperator(ModelSpecOperator):
    """Split the features into train / validation / test as data.split says."""

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.splitting import split

        spec = self.model_spec
        how = spec.data.split
        store = store_for(spec)
        features_uri = context["ti"].xcom_pull(task_ids=PREPROCESS)["uri"]
        result: dict[str, Any] = {"rows": {}}
        with tempfile.TemporaryDirectory(prefix="mlprovider-split-") as tmp:
            features = read_parquet(store, features_uri, tmp)
            parts = dict(zip(("train", "validation", "test"), split(features, how.by, how.column, how.validation, how.test)))
            empty = [name for name, part in parts.items() if part.empty]
            if empty:
                raise ValueError(
                    f"{spec.source}: data.split by {how.by} on {how.column!r} left {' and '.join(empty)} empty "
                    f"({len(features)} rows, {features[how.column].nunique()} distinct {how.column!r} values); "
                    "extract more data or change data.split.validation / data.split.test"
                )
            for name, part in parts.items():
                uri = self.run_uri(context, "data", f"{name}.parquet")
                write_parquet(store, part, uri, tmp)
                result[f"{name}_uri"] = uri
                result["rows"][name] = len(part)
        self.log.info("split %s", result["rows"])
        return result
