"""The evaluation reference: built from the test predictions and features, written once per version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.monitoring.monitor import Reference
from airflow_mlprovider.monitoring.reference import build_reference, read_reference, record_reference
from airflow_mlprovider.operators.register import candidate_version
from tests.operators.test_evaluate import evaluate
from tests.registry.run_fixtures import make_artifact, make_context, make_spec, make_test_set, utc


def test_reference_holds_prediction_moments_and_numeric_feature_bins():
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=500), "plan": ["a", "b"] * 250, "flag": [0, 1] * 250})
    doc = build_reference("v1", list(rng.normal(3, 2, 500)), features)
    assert doc["prediction"]["mean"] == pytest.approx(3, abs=0.3) and doc["prediction"]["sd"] == pytest.approx(2, abs=0.3)
    assert set(doc["features"]) == {"x", "flag"}  # strings have no bins
    reference = Reference.from_dict(json.loads(json.dumps(doc)))
    assert reference.prediction.count == 500 and len(reference.prediction_bins.fractions) == 10


def test_class_labels_give_no_prediction_reference():
    assert build_reference("v1", ["yes", "no", "yes"], pd.DataFrame({"x": [1.0, 2.0, 3.0]}))["prediction"] is None


def test_reference_is_written_once(tmp_path: Path):
    store, root = FilesystemArtifactStore(), (tmp_path / "m").as_uri()
    features = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    record_reference(store, root, "v1", [1.0, 2.0, 3.0], features)
    record_reference(store, root, "v1", [9.0, 9.5, 10.0], features)  # a retry keeps the first
    assert read_reference(store, root, "v1")["prediction"]["mean"] == 2.0
    assert read_reference(store, root, "v2") is None


def test_evaluate_records_the_candidates_reference(tmp_path: Path):
    spec = make_spec(tmp_path)
    artifact = make_artifact(tmp_path, "candidate")
    context = make_context({"split": {"test_uri": make_test_set(tmp_path)}, "train": {"artifact_uri": artifact}},
                           utc(2024, 1, 10))
    result = evaluate(spec, context)
    store = FilesystemArtifactStore()
    version = candidate_version(spec["model"], artifact, result, context, store)
    doc = read_reference(store, f"{spec['artifact_root']}/{spec['model']}", version.version_id)
    assert doc["prediction"]["count"] == 40 and doc["prediction"]["mean"] == pytest.approx(40.0)  # 2x + 1, x < 40
    assert "x" in doc["features"] and "y" not in doc["features"]  # the label is no feature
