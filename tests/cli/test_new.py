"""`mlprovider new` scaffolds a model whose spec validates and becomes a DAG at once."""

from __future__ import annotations

import shutil
from pathlib import Path

from airflow_mlprovider.cli import main
from airflow_mlprovider.factory.builder import build_dag
from airflow_mlprovider.spec import load_specs

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


def test_new_model_validates_and_builds(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(EXAMPLES / "mlprovider.defaults.yaml", folder)
    assert main(["new", "weekly_sales", "--specs", str(folder), "--table", "sales", "--label", "units_sold"]) == 0
    assert main(["validate", str(folder)]) == 0
    result = load_specs(folder)
    assert result.errors == {}
    (spec,) = result.specs
    assert spec.evaluate.label == "units_sold" and "FROM sales" in spec.data.sql
    assert build_dag(spec).dag_id == "weekly_sales"


def test_new_refuses_to_overwrite_and_bad_names(tmp_path: Path, capsys) -> None:
    assert main(["new", "m1", "--specs", str(tmp_path)]) == 0
    assert main(["new", "m1", "--specs", str(tmp_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["new", "Bad-Name", "--specs", str(tmp_path)]) == 2


def test_the_scaffolded_model_trains_and_predicts(tmp_path: Path) -> None:
    import pandas as pd

    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.contract import ModelContext

    assert main(["new", "m2", "--specs", str(tmp_path), "--label", "y"]) == 0
    module = import_module_from_path(tmp_path / "models" / "m2.py")
    raw = pd.DataFrame({"day": ["2025-01-01", "2025-01-02", "2025-01-03"], "y": [1.0, None, 3.0]})
    rows = module.preprocess(raw, ModelContext(model="m2", artifact_dir=str(tmp_path)))
    assert len(rows) == 2
    (tmp_path / "artifact").mkdir()
    module.train(rows, rows, ModelContext(model="m2", artifact_dir=str(tmp_path / "artifact")))
    assert module.load(str(tmp_path / "artifact"))({"day": "2025-01-04"}) == {"prediction": 2.0}
