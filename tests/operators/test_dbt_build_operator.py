"""DbtBuildOperator: the spec's data.dbt built into the spec's DuckDB warehouse, failures fail the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from airflow_mlprovider.operators.dbt import DbtBuildOperator
from airflow_mlprovider.transforms.build_runner import DbtBuildError
from tests.transforms.seeded_warehouse import EXAMPLE_PROJECT, seeded_copy


def operator(warehouse_path: str, **arguments: Any) -> DbtBuildOperator:
    return DbtBuildOperator(task_id="dbt_build", duckdb_path=warehouse_path, **arguments)


def test_builds_the_spec_project_and_reports_node_counts(tmp_path: Path) -> None:
    warehouse = seeded_copy(tmp_path)

    summary = operator(warehouse, project_dir=EXAMPLE_PROJECT, select="+sales_features").execute({})

    assert summary["nodes"] == {"success": 2, "pass": 11}
    assert summary["node_seconds"] > 0
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sales_features").fetchone()[0] > 0


def test_a_failing_dbt_test_fails_the_task(tmp_path: Path) -> None:
    warehouse = seeded_copy(tmp_path)
    with duckdb.connect(warehouse) as con:
        con.execute("UPDATE sales SET price = -1 WHERE store = 'south' AND day = DATE '2025-06-01'")

    with pytest.raises(DbtBuildError, match="accepted_range_sales_features_price"):
        operator(warehouse, project_dir=EXAMPLE_PROJECT).execute({})


def test_the_warehouse_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one of duckdb_path"):
        DbtBuildOperator(task_id="dbt_build", project_dir=EXAMPLE_PROJECT)
