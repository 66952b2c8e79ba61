"""extract -> preprocess -> split on the seeded example warehouse: operators built with plain arguments,
each one's result handed to the next as a DAG would pass it as an XComArg, run through op.execute(context)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from airflow_mlprovider.examples.seed import seed_warehouse
from airflow_mlprovider.operators.base import run_key, utc_interval
from airflow_mlprovider.operators.data import ExtractOperator, PreprocessOperator, SplitOperator
from tests.registry.run_fixtures import FakeTaskInstance, make_context, utc

DAG_SPECS = Path(__file__).resolve().parents[2] / "dag_specs"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("warehouse") / "w.duckdb")
    seed_warehouse(path)
    return path


def example_doc(model: str, warehouse: str, artifacts: Path, **overrides: Any) -> dict[str, Any]:
    """The example spec as the loader hands it over: absolute paths, the defaults' warehouse and artifact root."""
    doc = yaml.safe_load((DAG_SPECS / f"{model}.model.yaml").read_text())
    for key in ("module", "request_schema", "response_schema"):
        doc["code"][key] = str(DAG_SPECS / doc["code"][key])
    doc.update(warehouse={"type": "duckdb", "path": warehouse}, artifact_root=f"file://{artifacts}", **overrides)
    # the dbt build task (not run here) makes `sales_features` from `sales`: the columns the spec selects are the same
    doc["data"].pop("dbt", None)
    doc["data"]["sql"] = doc["data"]["sql"].replace("FROM sales_features", "FROM sales")
    return doc


def run_folder(doc: dict[str, Any], context: dict[str, Any]) -> str:
    return f"{doc['artifact_root']}/{doc['model']}/runs/{run_key(context['run_id'])}/data"


def run(operator_class: type, doc: dict[str, Any], context: dict[str, Any]) -> Any:
    """Build the operator from the spec document's values and the upstream results, and execute it."""
    folder, results = run_folder(doc, context), context["ti"].xcoms
    if operator_class is ExtractOperator:
        op = ExtractOperator(task_id="extract", sql=doc["data"]["sql"], output_uri=f"{folder}/raw.parquet",
                             duckdb_path=doc["warehouse"]["path"], sql_params=doc["data"].get("params", {}),
                             model=doc["model"])
    elif operator_class is PreprocessOperator:
        op = PreprocessOperator(task_id="preprocess", model=doc["model"], model_module=doc["code"]["module"],
                                model_params=doc["code"].get("params"), input_uri=results["extract"]["uri"],
                                output_uri=f"{folder}/features.parquet")
    else:
        split = doc["data"]["split"]
        op = SplitOperator(task_id="split", input_uri=results["preprocess"]["uri"], output_prefix=folder,
                           by=split["by"], column=split["column"])
    result = op.execute(context)
    results[op.task_id] = result
    return result


def test_the_demand_forecast_data_stage_extracts_the_lookback_window_and_splits_by_time(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("demand_forecast", warehouse, tmp_path)
    doc["data"]["params"]["lookback_days"] = 100
    context = make_context({}, utc(2025, 6, 1))
    extract = run(ExtractOperator, doc, context)
    run_dir = tmp_path / "demand_forecast" / "runs" / context["run_id"].replace(":", "_").replace("+", "_")
    assert extract == {"uri": f"file://{run_dir}/data/raw.parquet", "rows": 300, "columns": ["day", "store", "price", "promo", "units_sold"]}
    raw = pd.read_parquet(run_dir / "data" / "raw.parquet")
    assert (str(raw["day"].min()), str(raw["day"].max())) == ("2025-02-21", "2025-05-31")
    assert run(PreprocessOperator, doc, context) == {"uri": f"file://{run_dir}/data/features.parquet", "rows": 300}
    split = run(SplitOperator, doc, context)
    assert split["rows"] == {"train": 210, "validation": 45, "test": 45}
    parts = {name: pd.read_parquet(run_dir / "data" / f"{name}.parquet") for name in ("train", "validation", "test")}
    assert parts["train"]["day"].max() < parts["validation"]["day"].min() <= parts["validation"]["day"].max() < parts["test"]["day"].min()
    assert split["test_uri"] == f"file://{run_dir}/data/test.parquet"


def test_the_tumor_classifier_data_stage_splits_by_hash_of_id(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("tumor_classifier", warehouse, tmp_path)
    context = make_context({}, utc(2026, 1, 1), run_id="manual__first")
    assert run(ExtractOperator, doc, context)["rows"] == 569
    run(PreprocessOperator, doc, context)
    split = run(SplitOperator, doc, context)
    assert sum(split["rows"].values()) == 569 and min(split["rows"].values()) > 80
    again = make_context({}, utc(2026, 1, 1), run_id="manual__second")
    for op in (ExtractOperator, PreprocessOperator):
        run(op, doc, again)
    assert run(SplitOperator, doc, again)["rows"] == split["rows"]  # the same ids in the same parts


def test_an_empty_extract_names_the_sql_and_the_interval(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("demand_forecast", warehouse, tmp_path)
    with pytest.raises(ValueError) as failure:
        run(ExtractOperator, doc, make_context({}, utc(2020, 1, 1)))
    message = str(failure.value)
    assert "the SQL returned no rows for the interval 2019-12-31T00:00:00+00:00 .. 2020-01-01T00:00:00+00:00" in message
    assert "FROM sales" in message and "CAST(? AS INTEGER)" in message


def test_template_values_are_bound_never_pasted_into_the_sql(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("tumor_classifier", warehouse, tmp_path)
    doc["data"]["sql"] = "SELECT * FROM tumors WHERE CAST(id AS VARCHAR) = {{ params.id }} OR {{ model }} = 'x'"
    doc["data"]["params"] = {"id": "1' OR '1'='1"}
    with pytest.raises(ValueError, match="returned no rows"):
        run(ExtractOperator, doc, make_context({}, utc(2025, 1, 1)))


def write_module(tmp_path: Path, preprocess_body: str) -> str:
    module = tmp_path / "odd_model.py"
    module.write_text(
        f"def preprocess(raw, ctx):\n{preprocess_body}\n"
        "def train(train, validation, ctx):\n    pass\n"
        "def load(artifact_dir):\n    return lambda request: {}\n"
    )
    return str(module)


def test_preprocess_must_return_a_dataframe(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("tumor_classifier", warehouse, tmp_path)
    doc["code"]["module"] = write_module(tmp_path, "    return raw.to_dict()")
    context = make_context({}, utc(2025, 1, 1))
    run(ExtractOperator, doc, context)
    # the model's own error: the task fails without its retries
    with pytest.raises(AirflowFailException, match=r"preprocess\(\) in .*odd_model.py raised TypeError: it returned dict; it must return a pandas DataFrame"):
        run(PreprocessOperator, doc, context)


@pytest.mark.parametrize("body, failure", [
    ("    raise KeyError('no_such_column')", AirflowFailException),  # deterministic: not retried
    ("    import json; json.loads('{')", AirflowFailException),
    ("    raise ConnectionResetError('feature store dropped the connection')", ConnectionResetError),  # retried
    ("    raise MemoryError()", MemoryError),
])
def test_only_deterministic_errors_of_preprocess_skip_the_retries(warehouse: str, tmp_path: Path, body: str, failure: type) -> None:
    doc = example_doc("tumor_classifier", warehouse, tmp_path)
    doc["code"]["module"] = write_module(tmp_path, body)
    context = make_context({}, utc(2025, 1, 1))
    run(ExtractOperator, doc, context)
    with pytest.raises(failure) as raised:
        run(PreprocessOperator, doc, context)
    assert type(raised.value) is failure


def test_preprocess_gets_the_run_as_context(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("tumor_classifier", warehouse, tmp_path)
    doc["code"]["module"] = write_module(
        tmp_path,
        "    return raw.head(1).assign(seen=f'{ctx.model} {ctx.params} {ctx.data_interval_end} {ctx.run_key}')",
    )
    context = make_context({}, utc(2025, 1, 1), run_id="manual__2025-01-01T00:00:00+00:00")
    run(ExtractOperator, doc, context)
    uri = run(PreprocessOperator, doc, context)["uri"]
    seen = pd.read_parquet(uri.removeprefix("file://"))["seen"][0]
    assert seen == "tumor_classifier {'C': 1.0} 2025-01-01T00:00:00+00:00 manual__2025-01-01T00_00_00_00_00"


def test_an_empty_split_part_is_a_clear_error(warehouse: str, tmp_path: Path) -> None:
    doc = example_doc("demand_forecast", warehouse, tmp_path)
    doc["data"]["params"]["lookback_days"] = 2  # two days: one for test, one for validation, none to train on
    context = make_context({}, utc(2025, 6, 1))
    run(ExtractOperator, doc, context)
    run(PreprocessOperator, doc, context)
    with pytest.raises(ValueError, match=r"split by time on 'day' left train empty \(6 rows, 2 distinct 'day' values\)"):
        run(SplitOperator, doc, context)


def test_warehouse_is_exactly_one_of_duckdb_and_snowflake(tmp_path: Path) -> None:
    for warehouse in ({}, {"duckdb_path": "w.duckdb", "snowflake_conn_id": "snowflake_default"}):
        with pytest.raises(ValueError, match="exactly one of duckdb_path"):
            ExtractOperator(task_id="extract", sql="SELECT 1", output_uri=str(tmp_path / "x.parquet"), **warehouse)


def test_a_run_without_a_data_interval_uses_its_logical_date() -> None:
    moment = dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    start, end = utc_interval({"data_interval_start": None, "data_interval_end": None, "logical_date": moment, "ti": FakeTaskInstance({})})
    assert start == end == dt.datetime(2025, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert type(end) is dt.datetime
