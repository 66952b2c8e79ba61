"""For operator tests: a tiny linear model artifact, its spec, a test set and an Airflow-like task context."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_mlprovider.artifacts import write_manifest
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.registry.store import ModelRegistry

MODEL_MODULE = '''
import json
import os


def preprocess(raw, ctx):
    return raw


def train(train, validation, ctx):
    raise NotImplementedError("artifacts of these tests are written directly")


def load(model_dir):
    with open(os.path.join(model_dir, "params.json")) as fh:
        params = json.load(fh)

    def predict(request):
        # the serving contract: JSON values only, never the label
        assert isinstance(request["day"], str) and "y" not in request, request
        if params.get("broken"):
            return {"prediction": "not a number"}
        return {"prediction": params["slope"] * request["x"] + params["bias"]}

    return predict
'''

BATCH_FUNCTION = '''

def load_batch(model_dir):
    with open(os.path.join(model_dir, "params.json")) as fh:
        params = json.load(fh)

    def predict_batch(frame):
        assert "y" not in frame.columns
        return params["slope"] * frame["x"].to_numpy() + params["bias"]

    return predict_batch
'''

RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["prediction"],
    "properties": {"prediction": {"type": "number"}},
}

def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def make_artifact(
    root: Path, name: str, *, slope: float = 2.0, bias: float = 1.0, broken: bool = False, batch: bool = False
) -> str:
    """A trained artifact folder (model/, code/, MANIFEST.json) predicting slope * x + bias; returns its URI.

    batch: its module also defines load_batch (evaluate then scores every test row at once).
    """
    folder = root / "artifacts" / name
    (folder / "model").mkdir(parents=True)
    (folder / "code").mkdir()
    (folder / "model" / "params.json").write_text(json.dumps({"slope": slope, "bias": bias, "broken": broken}))
    (folder / "code" / "linear_model.py").write_text(MODEL_MODULE + (BATCH_FUNCTION if batch else ""))
    write_manifest(folder)
    return f"file://{folder}"


def make_test_set(root: Path, rows: int = 40) -> str:
    """y = 2x + 1 exactly, with a timestamp column that must reach predict() as an ISO string."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "x": [float(i) for i in range(rows)],
            "day": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "store": [i % 3 for i in range(rows)],
        }
    )
    frame["y"] = 2 * frame["x"] + 1
    path = root / "split" / "test.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return f"file://{path}"


def make_spec(root: Path, *, serving: bool = False, **sections: Any) -> dict[str, Any]:
    """A merged, valid spec document for the linear model, artifacts under `root`/store."""
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "response.json").write_text(json.dumps(RESPONSE_SCHEMA))
    (root / "schemas" / "request.json").write_text(json.dumps({"type": "object"}))
    (root / "linear_model.py").write_text(MODEL_MODULE)
    doc: dict[str, Any] = {
        "model": "linear",
        "artifact_root": f"file://{root}/store",
        "data": {"sql": "select 1", "split": {"by": "time", "column": "day"}},
        "code": {
            "module": str(root / "linear_model.py"),
            "request_schema": str(root / "schemas" / "request.json"),
            "response_schema": str(root / "schemas" / "response.json"),
        },
        "evaluate": {"metric": "rmse", "label": "y", "max_rows": 10_000},
        **sections,
    }
    if serving:
        doc["serving"] = {"endpoint": "linear"}
    return doc


def registry_of(spec: dict[str, Any]) -> ModelRegistry:
    """The registry the operators of `spec` (made by make_spec) use."""
    return ModelRegistry(FilesystemArtifactStore(), f"{spec['artifact_root']}/{spec['model']}")


class FakeTaskInstance:
    """The part of Airflow's RuntimeTaskInstance the operators use: XCom by task id, map_index."""

    map_index = -1

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = dict(xcoms)
        self.pushed: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        assert key == "return_value"
        return self.xcoms.get(task_ids)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def make_context(xcoms: dict[str, Any], end: datetime, run_id: str | None = None) -> dict[str, Any]:
    start = end - timedelta(days=1)
    return {
        "run_id": run_id or f"scheduled__{end.isoformat()}",
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
        "ti": FakeTaskInstance(xcoms),
    }
