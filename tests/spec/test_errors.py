"""Schema failures in words, and how errors print."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from airflow_mlprovider.spec import SpecError, SpecValidationError
from airflow_mlprovider.spec.loader import _schema_errors


def _located(path: tuple, message: str, *, at_key: bool = False) -> SpecError:
    return SpecError("f.yaml", None, None, ".".join(map(str, path)), message)


def test_one_of_reports_the_option_whose_shape_matched() -> None:
    schema = {"type": "object", "properties": {"source": {"oneOf": [
        {"type": "string"},
        {"type": "object", "properties": {"table": {"type": "string"}}, "required": ["table"]},
    ]}}}
    errors = _schema_errors({"source": {"table": 7}}, Draft202012Validator(schema), _located)
    assert [str(e) for e in errors] == ["f.yaml: source.table: expected a string, got the integer 7"]


def test_str_of_errors() -> None:
    error = SpecError("dag_specs/x.model.yaml", 12, 5, "rollout.steps[2]", "150 is above the maximum 100")
    assert str(error) == "dag_specs/x.model.yaml:12:5: rollout.steps[2]: 150 is above the maximum 100"
    assert str(SpecError("x.model.yaml", None, None, "", "cannot read")) == "x.model.yaml: cannot read"
    assert str(SpecValidationError([error, error])).splitlines() == [str(error)] * 2
