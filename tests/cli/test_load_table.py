"""`mlprovider load-table` puts a CSV or Parquet file into the DuckDB warehouse, types inferred."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from airflow_mlprovider.cli import main


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    path = tmp_path / "wine.csv"
    pd.DataFrame({"id": [1, 2, 3], "alcohol": [13.2, 12.1, 14.0], "cultivar": ["a", "b", "a"],
                  "harvested": ["2024-01-02", "2024-01-03", "2024-01-04"]}).to_csv(path, index=False)
    return path


def test_csv_replaces_then_appends_with_inferred_types(tmp_path: Path, wine_csv: Path, capsys) -> None:
    warehouse = tmp_path / "w" / "warehouse.duckdb"
    assert main(["load-table", "wine", str(wine_csv), "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "loaded 3 rows into wine" in out and "(3 rows, 4 columns)" in out
    assert "alcohol: DOUBLE" in out and "harvested: DATE" in out and "cultivar: VARCHAR" in out
    assert main(["load-table", "wine", str(wine_csv), "--warehouse", str(warehouse), "--append"]) == 0
    assert "appended 3 rows into wine" in capsys.readouterr().out
    assert main(["load-table", "wine", str(wine_csv), "--warehouse", str(warehouse)]) == 0  # replace is the default
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*), sum(id) FROM wine").fetchone() == (3, 6)


def test_parquet_into_a_schema_and_the_defaults_warehouse(tmp_path: Path, wine_csv: Path, capsys) -> None:
    parquet = tmp_path / "wine.parquet"
    pd.read_csv(wine_csv).to_parquet(parquet)
    specs = tmp_path / "dag_specs"
    specs.mkdir()
    (specs / "mlprovider.defaults.yaml").write_text("warehouse: {type: duckdb, path: ../.demo/warehouse.duckdb}\n")
    assert main(["load-table", "raw.wine", str(parquet), "--specs", str(specs)]) == 0
    with duckdb.connect(str(tmp_path / ".demo" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.wine").fetchone() == (3,)


@pytest.mark.parametrize("name, file, message", [
    ("wine; DROP TABLE x", "wine.csv", "not a plain table name"),
    ("wine", "wine.xlsx", "unknown file type"),
    ("wine", "missing.csv", "no such file"),
])
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, wine_csv: Path, capsys, name: str, file: str, message: str) -> None:
    (tmp_path / "wine.xlsx").write_text("x")
    assert main(["load-table", name, str(tmp_path / file), "--warehouse", str(tmp_path / "w.duckdb")]) == 1
    assert message in capsys.readouterr().err


def test_the_warehouse_of_a_spec(tmp_path: Path, wine_csv: Path, capsys) -> None:
    import shutil

    specs = tmp_path / "dag_specs"
    shutil.copytree(Path(__file__).resolve().parents[2] / "dag_specs", specs, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    (specs / "mlprovider.defaults.yaml").write_text(
        (specs / "mlprovider.defaults.yaml").read_text().replace("../.demo/warehouse.duckdb", "spec-warehouse.duckdb"))
    assert main(["load-table", "wine", str(wine_csv), "--spec", str(specs / "tumor_classifier.model.yaml")]) == 0
    assert f"into wine in {specs / 'spec-warehouse.duckdb'}" in capsys.readouterr().out
    assert main(["load-table", "wine", str(wine_csv), "--spec", str(specs / "missing.model.yaml")]) == 1
