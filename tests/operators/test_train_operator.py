"""TrainOperator through op.execute(context): the example model trains in a subprocess into the artifact folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from airflow_mlprovider.artifacts import load_predictor, manifest_digest, verify_manifest
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore, path_of
from airflow_mlprovider.backends.local.subprocess_compute import TrainingFailedError, TrainingTimeoutError
from airflow_mlprovider.examples.seed import sales_frame
import threading
import time

from airflow.sdk.exceptions import AirflowFailException

from airflow_mlprovider.operators.train import TrainOperator
from tests.registry.run_fixtures import make_context, utc

DAG_SPECS = Path(__file__).resolve().parents[2] / "dag_specs"


def split_xcom(tmp_path: Path) -> dict:
    """Train / validation parquet of preprocessed sales rows, as the split task leaves them."""
    sales = sales_frame().assign(day=lambda f: pd.to_datetime(f["day"]).dt.strftime("%Y-%m-%d"))
    store, xcom = FilesystemArtifactStore(), {}
    for name, part in {"train": sales.iloc[:1500], "validation": sales.iloc[1500:]}.items():
        local = tmp_path / f"{name}.parquet"
        part.to_parquet(local)
        xcom[f"{name}_uri"] = f"file://{tmp_path}/split/{name}.parquet"
        store.put_file(str(local), xcom[f"{name}_uri"])
    return xcom


def operator(tmp_path: Path, module: str, **arguments: object) -> TrainOperator:
    split = split_xcom(tmp_path)
    return TrainOperator(
        task_id="train", model="demand_forecast", model_module=module, model_params={"max_iter": 20},
        train_uri=split["train_uri"], validation_uri=split["validation_uri"],
        artifact_uri=f"file://{tmp_path}/artifacts/demand_forecast/runs/manual__t1/artifact", **arguments,
    )


def train(tmp_path: Path, module: str, **arguments: object) -> dict:
    return operator(tmp_path, module, **arguments).execute(make_context({}, utc(2026, 1, 1), run_id="manual__t1"))


def slow_module(tmp_path: Path) -> str:
    module = tmp_path / "slow_model.py"
    module.write_text(
        "import time\n"
        "def preprocess(raw, ctx):\n    return raw\n"
        "def train(train, validation, ctx):\n    time.sleep(120)\n"
        "def load(artifact_dir):\n    return lambda request: {}\n"
    )
    return str(module)


def test_train_writes_a_verified_artifact_that_serves_predictions(tmp_path: Path) -> None:
    result = train(tmp_path, str(DAG_SPECS / "models/demand_forecast.py"))
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
    first = train(tmp_path, module)
    second = train(tmp_path, module)
    assert first["artifact_uri"] == second["artifact_uri"]
    verify_manifest(path_of(second["artifact_uri"]))


def test_an_overrun_is_killed_at_max_runtime(tmp_path: Path) -> None:
    with pytest.raises(TrainingTimeoutError, match=r"training exceeded max_runtime of 5s"):
        train(tmp_path, slow_module(tmp_path), max_runtime_s=5)


def test_on_kill_kills_the_training_process_group(tmp_path: Path) -> None:
    op = operator(tmp_path, slow_module(tmp_path), max_runtime_s=600)
    failure: list[BaseException] = []

    def execute() -> None:
        try:
            op.execute(make_context({}, utc(2026, 1, 1), run_id="manual__t1"))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            failure.append(exc)

    worker = threading.Thread(target=execute)
    worker.start()
    deadline = time.monotonic() + 60
    while op._compute is None or op._compute.child is None:  # wait until the training process runs
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)
    started = time.monotonic()
    op.on_kill()
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - started < 30
    assert isinstance(failure[0], TrainingFailedError) and "exit code -9" in str(failure[0])
    assert not isinstance(failure[0], AirflowFailException)  # a killed process is infrastructure: retried


def test_compute_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compute must be one of local, sagemaker"):
        operator(tmp_path, "m.py", compute="kubernetes")


def test_deferrable_follows_airflow_default_deferrable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert operator(tmp_path, "m.py").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert operator(tmp_path, "m.py").deferrable is False
    assert operator(tmp_path, "m.py", deferrable=True).deferrable is True


def test_a_failing_train_reports_the_model_error(tmp_path: Path) -> None:
    module = tmp_path / "bad_model.py"
    module.write_text(
        "def preprocess(raw, ctx):\n    return raw\n"
        "def train(train, validation, ctx):\n    return train['no_such_column']\n"
        "def load(artifact_dir):\n    return lambda request: {}\n"
    )
    with pytest.raises(AirflowFailException, match="(?s)train\\(\\) in .*bad_model.py raised.*KeyError: 'no_such_column'.*not retried"):
        train(tmp_path, str(module))
