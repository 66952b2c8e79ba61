"""TRAIN through op.execute(context): the example model trains in a subprocess into the run's artifact folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from airflow_mlprovider.artifacts import load_predictor, manifest_digest, verify_manifest
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore, path_of
from airflow_mlprovider.backends.local.subprocess_compute import TrainingFailedError, TrainingTimeoutError
from airflow_mlprovider.examples.seed import sales_frame
from airflow_mlprovider.operators.base import SPLIT
from airflow_mlprovider.operators.train import TrainOperator
from tests.registry.run_fixtures import make_context, utc

DAG_SPECS = Path(__file__).resolve().parents[2] / "dag_specs"


def split_xcom(tmp_path: Path) -> dict:
    """Train / validation parquet of preprocessed sales rows, as SPLIT leaves them."""
    sales = sales_frame().assign(day=lambda f: pd.to_datetime(f["day"]).dt.strftime("%Y-%m-%d"))
    store, xcom = FilesystemArtifactStore(), {}
    for name, part in {"train": sales.iloc[:1500], "validation": sales.iloc[1500:]}.items():
        local = tmp_path / f"{name}.parquet"
        part.to_parquet(local)
        xcom[f"{name}_uri"] = f"file://{tmp_path}/split/{name}.parquet"
        store.put_file(str(local), xcom[f"{name}_uri"])
    return xcom


def spec_doc(tmp_path: Path, module: str, **train: object) -> dict:
    return {
        "model": "demand_forecast",
        "artifact_root": f"file://{tmp_path}/artifacts",
        "data": {"sql": "SELECT 1", "split": {"by": "time", "column": "day"}},
        "code": {
            "module": module,
            "request_schema": str(DAG_SPECS / "schemas/demand_forecast.request.json"),
            "response_schema": str(DAG_SPECS / "schemas/demand_forecast.response.json"),
            "params": {"max_iter": 20},
        },
        "train": train,
        "evaluate": {"metric": "rmse", "label": "units_sold"},
    }


def train(tmp_path: Path, doc: dict) -> dict:
    op = TrainOperator(task_id="train", spec=doc, spec_source="/dags/demand_forecast.model.yaml")
    return op.execute(make_context({SPLIT: split_xcom(tmp_path)}, utc(2026, 1, 1), run_id="manual__t1"))


def test_train_writes_a_verified_artifact_that_serves_predictions(tmp_path: Path) -> None:
    result = train(tmp_path, spec_doc(tmp_path, str(DAG_SPECS / "models/demand_forecast.py")))
    run = f"file://{tmp_path}/artifacts/demand_forecast/runs/manual__t1"
    assert result["artifact_uri"] == f"{run}/artifact/{result['manifest_digest'][:16]}"  # write-once, by content
    artifact = path_of(result["artifact_uri"])
    manifest = verify_manifest(artifact)
    assert result["manifest_digest"] == manifest["digest"] == manifest_digest(manifest["files"])
    assert sorted(manifest["files"]) == ["code/demand_forecast.py", "model/model.pkl"]
    assert result["duration_s"] > 0
    predict = load_predictor(artifact)
    assert predict({"day": "2025-12-01", "store": "center", "price": 9.5, "promo": False})["prediction"] > 0


def test_a_retry_replaces_the_artifact_of_the_same_run(tmp_path: Path) -> None:
    module = str(DAG_SPECS / "models/demand_forecast.py")
    first = train(tmp_path, spec_doc(tmp_path, module))
    second = train(tmp_path, spec_doc(tmp_path, module))
    assert first["artifact_uri"] == second["artifact_uri"]
    verify_manifest(path_of(second["artifact_uri"]))


def test_an_overrun_names_the_spec_field(tmp_path: Path) -> None:
    module = tmp_path / "slow_model.py"
    module.write_text(
        "import time\n"
        "def preprocess(raw, ctx):\n    return raw\n"
        "def train(train, validation, ctx):\n    time.sleep(120)\n"
        "def load(artifact_dir):\n    return lambda request: {}\n"
    )
    with pytest.raises(TrainingTimeoutError, match=r"training exceeded max_runtime of 5s \(train.max_runtime in /dags/demand_forecast.model.yaml\)"):
        train(tmp_path, spec_doc(tmp_path, str(module), max_runtime="5s"))


def test_a_failing_train_reports_the_model_error(tmp_path: Path) -> None:
    module = tmp_path / "bad_model.py"
    module.write_text(
        "def preprocess(raw, ctx):\n    return raw\n"
        "def train(train, validation, ctx):\n    return train['no_such_column']\n"
        "def load(artifact_dir):\n    return lambda request: {}\n"
    )
    with pytest.raises(TrainingFailedError, match="KeyError: 'no_such_column'"):
        train(tmp_path, spec_doc(tmp_path, str(module)))
