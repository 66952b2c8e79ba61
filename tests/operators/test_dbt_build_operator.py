"""DbtBuildOperator: the spec's data.dbt built into the spec's DuckDB warehouse, failures fail the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from airflow_mlprovider.operators.base import DBT_BUILD
from airflow_mlprovider.operators.dbt import DbtBuildOperator
from airflow_mlprovider.transforms.build_runner import DbtBuildError
from tests.transforms.seeded_warehouse import EXAMPLE_PROJECT, seeded_copy


def spec(warehouse_path: str, dbt: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"sql": "SELECT * FROM sales_features", "split": {"by": "time", "column": "day"}}
    if dbt is not None:
        data["dbt"] = dbt
    return {
        "model": "demand_forecast",
        "warehouse": {"type": "duckdb", "path": warehouse_path},
        "data": data,
        "code": {"module": "model.py", "request_schema": "request.json", "response_schema": "response.json"},
        "evaluate": {"metric": "rmse", "label": "units_sold"},
    }


def operator(doc: dict[str, Any]) -> DbtBuildOperator:
    return DbtBuildOperator(task_id=DBT_BUILD.split(".")[1], spec=doc, spec_source="/specs/demand_forecast.model.yaml")


def test_builds_the_spec_project_and_reports_node_counts(tmp_path: Path) -> None:
    warehouse = seeded_copy(tmp_path)

    summary = operator(spec(warehouse, {"project": EXAMPLE_PROJECT, "select": "+sales_features"})).execute({})

    assert summary["nodes"] == {"success": 2, "pass": 11}
    assert summary["node_seconds"] > 0
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sales_features").fetchone()[0] > 0


def test_a_failing_dbt_test_fails_the_task(tmp_path: Path) -> None:
    warehouse = seeded_copy(tmp_path)
    with duckdb.connect(warehouse) as con:
        con.execute("UPDATE sales SET price = -1 WHERE store = 'south' AND day = DATE '2025-06-01'")

    with pytest.raises(DbtBuildError, match="accepted_range_sales_features_price"):
        operator(spec(warehouse, {"project": EXAMPLE_PROJECT})).execute({})


def test_a_spec_without_dbt_has_no_dbt_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.dbt is not set"):
        operator(spec(str(tmp_path / "w.duckdb"), None)).execute({})
