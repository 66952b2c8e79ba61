"""Scoring a model on a test set: batch and per-row paths, their agreement, and paired rows."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from airflow_mlprovider.artifacts import write_manifest
from airflow_mlprovider.evaluation.compare import ContractViolation, EvaluationSettings, evaluate
from airflow_mlprovider.evaluation.predictions import LoadedModel, agree, load_model, sample_positions, score_model
from airflow_mlprovider.scoring import metric_function

SCHEMA = {"type": "object", "required": ["prediction"], "properties": {"prediction": {"type": "number"}}}
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def linear(slope: float, *, batch_offset: float = 0.0, batch: bool = True) -> LoadedModel:
    def predict(request):
        assert isinstance(request["day"], str), "requests carry JSON values"
        return {"prediction": slope * request["x"]}

    def predict_batch(frame):
        return slope * frame["x"].to_numpy() + batch_offset

    return LoadedModel(predict, predict_batch if batch else None)


def frame_of(rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({"x": np.arange(rows, dtype=float), "day": pd.date_range("2024-01-01", periods=rows, freq="min")})
    return frame.assign(y=2 * frame["x"] + np.random.default_rng(0).normal(0, 1, rows))


def settings(**overrides) -> EvaluationSettings:
    values = dict(label="y", metric="rmse", direction="minimize", prediction_field="prediction",
                  max_rows=50, request_check_rows=10, confidence=None)
    return EvaluationSettings(**(values | overrides))


def test_batch_models_are_scored_on_every_row_and_checked_on_a_sample() -> None:
    calls = []
    model = linear(2.0)
    counted = LoadedModel(lambda request: calls.append(request) or model.predict(request), model.predict_batch)
    result, y_true, predictions = evaluate(frame_of(1000), counted, linear(2.1), VALIDATOR, settings(), metric_function("rmse"))
    assert len(calls) == 10 and len(y_true) == len(predictions) == 1000  # every row under PLOT_ROWS is plotted
    assert result["rows"] == 1000 and result["candidate"]["path"] == result["champion"]["path"] == "batch"
    comparison = result["comparison"]
    assert comparison["rows"] == 1000 and comparison["gain"] > 0 and comparison["low"] > 0


def test_a_batch_path_that_disagrees_with_predict_is_a_contract_violation() -> None:
    with pytest.raises(ContractViolation, match=r"predict\(\) answered .* but predict_batch\(\)"):
        evaluate(frame_of(100), linear(2.0, batch_offset=1e-3), None, VALIDATOR, settings(), metric_function("rmse"))


def test_agreement_tolerance_is_relative_and_exact_for_labels() -> None:
    assert agree(1e6, 1e6 * (1 + 5e-7)) and not agree(1e6, 1e6 * (1 + 5e-6))
    assert agree(0.0, 1e-10) and not agree(0.0, 1e-8)
    assert agree([0.2, 0.8], [0.2 + 1e-12, 0.8]) and not agree("cat", "dog") and agree("cat", "cat")


def test_without_batch_both_models_answer_the_same_requested_sample() -> None:
    result, y_true, _ = evaluate(frame_of(400), linear(2.0), linear(2.1, batch=False), VALIDATOR, settings(),
                                 metric_function("rmse"))
    assert result["rows"] == len(y_true) == 50  # max_rows: the per-row sample, paired
    assert result["champion"]["path"] == "per-row" and result["candidate"]["path"] == "batch"
    assert result["comparison"]["rows"] == 50


def test_schema_violations_in_the_sample_fail_the_candidate() -> None:
    broken = LoadedModel(lambda request: {"prediction": "many"}, lambda frame: np.zeros(len(frame)))
    with pytest.raises(ContractViolation, match=r"\$.prediction: 'many' is not of type 'number'"):
        evaluate(frame_of(100), broken, None, VALIDATOR, settings(), metric_function("rmse"))


def test_a_broken_champion_is_replaceable_without_a_comparison() -> None:
    broken = LoadedModel(lambda request: {"no": 1}, None)
    result, _, _ = evaluate(frame_of(100), linear(2.0), broken, VALIDATOR, settings(), metric_function("rmse"))
    assert result["champion"]["value"] is None and result["champion"]["schema_violations"] > 0
    assert result["comparison"] is None


def test_predict_batch_of_the_wrong_length_is_reported() -> None:
    model = LoadedModel(linear(2.0).predict, lambda frame: [1.0])
    answers = score_model(model, frame_of(20).drop(columns="y"), VALIDATOR, "prediction", [0, 1])
    assert answers.violations == 1 and "1 predictions for 20 rows" in answers.messages[0]


def test_samples_are_deterministic_sorted_and_bounded() -> None:
    assert sample_positions(5, 10) == [0, 1, 2, 3, 4]
    first = sample_positions(10_000, 100)
    assert first == sample_positions(10_000, 100) and first == sorted(first) and len(set(first)) == 100


def test_load_model_finds_the_optional_batch_function(tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    (folder / "model").mkdir(parents=True)
    (folder / "code").mkdir()
    (folder / "model" / "slope.json").write_text(json.dumps(3.0))
    (folder / "code" / "m.py").write_text(
        "import json, os\n"
        "def load(d):\n    s = json.load(open(os.path.join(d, 'slope.json')))\n    return lambda r: {'prediction': s * r['x']}\n"
        "def load_batch(d):\n    s = json.load(open(os.path.join(d, 'slope.json')))\n    return lambda f: s * f['x']\n"
    )
    write_manifest(folder)
    model = load_model(folder)
    assert model.predict({"x": 2}) == {"prediction": 6.0}
    assert model.predict_batch(pd.DataFrame({"x": [1.0, 2.0]})).tolist() == [3.0, 6.0]


def test_load_model_refuses_an_artifact_that_is_not_the_registered_one(tmp_path: Path) -> None:
    from airflow_mlprovider.artifacts import TamperedArtifactError

    folder = tmp_path / "artifact"
    (folder / "model").mkdir(parents=True)
    (folder / "code").mkdir()
    (folder / "code" / "m.py").write_text("def load(d):\n    return lambda r: {'prediction': 1}\n")
    registered = write_manifest(folder)["digest"]
    assert load_model(folder, registered).predict({}) == {"prediction": 1}
    (folder / "code" / "m.py").write_text("def load(d):\n    return lambda r: {'prediction': 2}\n")
    write_manifest(folder)  # tampered code with a recomputed manifest
    with pytest.raises(TamperedArtifactError, match="not the registered digest"):
        load_model(folder, registered)
