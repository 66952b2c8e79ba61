"""`mlprovider validate`'s static contract checks: the prediction field, and a sample's rows against the request schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main
from airflow_mlprovider.spec.contract_check import prediction_field_problem

GOOD = Path(__file__).resolve().parents[1] / "specs" / "good"


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(GOOD, folder)
    return folder


def test_a_sample_whose_rows_the_request_schema_rejects_is_named_by_file_line_and_path(dags: Path, capsys) -> None:
    spec = dags / "churn.model.yaml"
    # the issue's case: the rows carry `customer_id`, the schema says additionalProperties: false
    (dags / "churn_sample.csv").write_text(
        "customer_id,tenure_months,monthly_spend,churned\n1,3,20.5,0\n2,14,31.0,1\n3,-1,5.0,0\n")
    spec.write_text(spec.read_text() + "contract_test: {sample: churn_sample.csv}\n")
    assert main(["validate", str(spec)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{dags / 'churn_sample.csv'}:2: contract_test.sample: row 0: the request schema ")
    assert "rejects it at $: Additional properties are not allowed ('customer_id' was unexpected)" in lines[0]
    assert lines[2].startswith(f"{dags / 'churn_sample.csv'}:4: ")  # the third row, whatever it breaks first
    # rows that fit (as a model sending its rows unchanged would need) pass
    (dags / "churn_sample.csv").write_text("tenure_months,monthly_spend,churned\n3,20.5,0\n14,31.0,1\n")
    assert main(["validate", str(dags)]) == 0


def test_a_response_schema_without_the_prediction_field_fails_validate(dags: Path, capsys) -> None:
    (dags / "schemas" / "churn.response.json").write_text(json.dumps(
        {"type": "object", "required": ["score"], "properties": {"score": {"type": "number"}}}))
    assert main(["validate", str(dags / "churn.model.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"{dags / 'churn.model.yaml'}:21:" in out  # the line of `evaluate: {..., prediction_field: probability}`
    assert "evaluate.prediction_field: 'probability' is not a property of the response schema" in out
    assert "(properties: score)" in out


@pytest.mark.parametrize(("schema", "problem"), [
    ({"type": "object", "required": ["p"], "properties": {"p": {"type": "number"}}}, None),
    ({"type": "object", "properties": {"p": {"type": "number"}}}, "is not required"),
    ({"type": "object", "required": ["p"]}, "is not a property"),
    ({"$ref": "#/$defs/r", "$defs": {"r": {"required": ["p"], "properties": {"p": {}}}}}, None),
    ({"allOf": [{"properties": {"p": {}}}, {"required": ["p"]}]}, None),
    ({"anyOf": [{"required": ["p"], "properties": {"p": {}}}, {}]}, "is not a property"),  # not promised
])
def test_the_prediction_field_must_be_a_required_property(schema: dict, problem: str | None) -> None:
    found = prediction_field_problem(schema, "p", "r.json")
    assert found is None if problem is None else problem in found
