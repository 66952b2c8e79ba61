"""dbt build of the example project on a copy of the seeded DuckDB warehouse, through dbt's programmatic runner."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from airflow_mlprovider.transforms.build_runner import DbtBuildError, run_dbt_build
from airflow_mlprovider.transforms.profiles import duckdb_profile
from tests.transforms.seeded_warehouse import EXAMPLE_PROJECT, seeded_copy


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    return seeded_copy(tmp_path)


def run_sql(path: str, sql: str) -> None:
    with duckdb.connect(path) as con:
        con.execute(sql)


def test_build_creates_the_models_runs_the_tests_and_releases_the_database(warehouse: str) -> None:
    results = run_dbt_build(EXAMPLE_PROJECT, None, None, duckdb_profile(warehouse))

    by_id = {node.unique_id: node for node in results}
    assert by_id["model.mlprovider_demo.stg_sales"].status == "success"
    assert by_id["model.mlprovider_demo.sales_features"].status == "success"
    tests = [node for node in results if node.resource_type == "test"]
    assert len(tests) == 11 and all(node.status == "pass" for node in tests)
    # the build closed the file: the extract opens it read-only right after, in the same process
    with duckdb.connect(warehouse, read_only=True) as con:
        (sales,) = con.execute("SELECT count(*) FROM sales").fetchone()
        rows = con.execute(
            "SELECT units_sold, units_lag_1 FROM sales_features WHERE store = 'north' ORDER BY day LIMIT 3"
        ).fetchall()
        (features,) = con.execute("SELECT count(*) FROM sales_features").fetchone()
    assert features == sales
    assert rows[0][1] is None and rows[1][1] == rows[0][0] and rows[2][1] == rows[1][0]


def test_a_failing_dbt_test_fails_the_build_and_names_the_test(warehouse: str) -> None:
    run_sql(warehouse, "UPDATE sales SET units_sold = -5 WHERE store = 'north' AND day = DATE '2024-03-01'")

    with pytest.raises(DbtBuildError, match="accepted_range_sales_features_units_sold") as failure:
        run_dbt_build(EXAMPLE_PROJECT, None, None, duckdb_profile(warehouse))

    assert [node.unique_id.split(".")[2] for node in failure.value.failed] == [
        "accepted_range_sales_features_units_sold__0"
    ]
    assert failure.value.failed[0].status == "fail"
    duckdb.connect(warehouse, read_only=True).close()  # released after a failure too


def test_a_failing_model_fails_the_build_and_names_the_model(warehouse: str) -> None:
    run_sql(warehouse, "ALTER TABLE sales RENAME TO sales_old")

    with pytest.raises(DbtBuildError, match=r"model\.mlprovider_demo\.stg_sales \(error") as failure:
        run_dbt_build(EXAMPLE_PROJECT, None, None, duckdb_profile(warehouse))

    assert [node.unique_id for node in failure.value.failed] == ["model.mlprovider_demo.stg_sales"]


def test_select_and_target_limit_the_build(warehouse: str) -> None:
    results = run_dbt_build(EXAMPLE_PROJECT, "stg_sales", "ci", duckdb_profile(warehouse, "ci"))

    assert {node.unique_id.split(".")[2] for node in results} == {
        "stg_sales", "not_null_stg_sales_day", "not_null_stg_sales_store", "not_null_stg_sales_units_sold"
    }  # fmt: skip


def test_the_project_folder_is_left_untouched(warehouse: str) -> None:
    before = sorted(p.relative_to(EXAMPLE_PROJECT) for p in Path(EXAMPLE_PROJECT).rglob("*"))

    run_dbt_build(EXAMPLE_PROJECT, "stg_sales", None, duckdb_profile(warehouse))

    assert sorted(p.relative_to(EXAMPLE_PROJECT) for p in Path(EXAMPLE_PROJECT).rglob("*")) == before


def test_a_project_without_a_profile_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: nameless\nconfig-version: 2\n")

    with pytest.raises(DbtBuildError, match="sets no `profile:`"):
        run_dbt_build(str(tmp_path), None, None, duckdb_profile(str(tmp_path / "w.duckdb")))
    with pytest.raises(DbtBuildError, match="has no dbt_project.yml"):
        run_dbt_build(str(tmp_path / "missing"), None, None, duckdb_profile(str(tmp_path / "w.duckdb")))
