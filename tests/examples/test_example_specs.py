"""The example specs in dag_specs/ are valid, short, and their modules and schemas work on the seeded data."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_mlprovider.artifacts import import_module_from_path
from airflow_mlprovider.contract import ModelContext

DAG_SPECS = Path(__file__).resolve().parents[2] / "dag_specs"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "airflow_mlprovider/spec/spec.schema.json").read_text())
EXAMPLES = ["demand_forecast", "tumor_classifier"]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("model", EXAMPLES)
def test_example_spec_with_the_defaults_is_valid_and_short(model: str) -> None:
    path = DAG_SPECS / f"{model}.model.yaml"
    spec = _yaml(path)
    jsonschema.Draft202012Validator(SCHEMA).validate({**_yaml(DAG_SPECS / "mlprovider.defaults.yaml"), **spec})
    assert spec["model"] == model
    assert len(path.read_text().splitlines()) <= 40
    for key in ("module", "request_schema", "response_schema"):
        assert (DAG_SPECS / spec["code"][key]).is_file()
    for key in ("request_schema", "response_schema"):
        jsonschema.Draft202012Validator.check_schema(json.loads((DAG_SPECS / spec["code"][key]).read_text()))


def test_defaults_file_holds_only_deployment_wide_keys() -> None:
    defaults = _yaml(DAG_SPECS / "mlprovider.defaults.yaml")
    assert not defaults.keys() & set(SCHEMA["required"])
    jsonschema.Draft202012Validator({**SCHEMA, "required": []}).validate(defaults)
    assert defaults["warehouse"]["type"] == "duckdb"


def _run_module(model: str, frame, params: dict, tmp_path: Path):
    """preprocess -> split as the spec says -> train -> load -> predict each test row; returns (test, responses)."""
    from airflow_mlprovider.splitting import split

    spec = _yaml(DAG_SPECS / f"{model}.model.yaml")
    module = import_module_from_path(DAG_SPECS / spec["code"]["module"])
    artifact_dir = tmp_path / model
    artifact_dir.mkdir(parents=True)
    ctx = ModelContext(model=model, artifact_dir=str(artifact_dir), params=params)
    features = module.preprocess(frame, ctx)
    s = spec["data"]["split"]
    train, validation, test = split(features, s["by"], s["column"], s["validation"], s["test"])
    module.train(train, validation, ctx)
    predict = module.load(str(artifact_dir))
    label = spec["evaluate"]["label"]
    requests = [{k: v.item() if hasattr(v, "item") else v for k, v in row.items()} for row in test.drop(columns=[label]).to_dict("records")]
    request_schema = json.loads((DAG_SPECS / spec["code"]["request_schema"]).read_text())
    response_schema = json.loads((DAG_SPECS / spec["code"]["response_schema"]).read_text())
    responses = []
    for request in requests:
        jsonschema.validate(request, request_schema, format_checker=jsonschema.FormatChecker())
        responses.append(predict(request))
        jsonschema.validate(responses[-1], response_schema)
    return test, responses


def test_demand_forecast_learns_and_its_deliberately_worse_params_are_worse(tmp_path: Path) -> None:
    from sklearn.metrics import root_mean_squared_error

    from airflow_mlprovider.examples.seed import sales_frame

    sales = sales_frame()
    rmse = {}
    for name, params in {"good": {"max_iter": 200, "learning_rate": 0.05}, "bad": {"features": ["store"], "max_iter": 1}}.items():
        test, responses = _run_module("demand_forecast", sales, params, tmp_path / name)
        rmse[name] = root_mean_squared_error(test["units_sold"], [r["prediction"] for r in responses])
    assert rmse["good"] < 0.5 * sales["units_sold"].std()
    assert rmse["bad"] > 1.5 * rmse["good"]


def test_tumor_classifier_separates_malignant_from_benign(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from airflow_mlprovider.examples.seed import tumors_frame

    test, responses = _run_module("tumor_classifier", tumors_frame(), {"C": 1.0}, tmp_path)
    assert roc_auc_score(test["malignant"], [r["probability"] for r in responses]) > 0.95


def test_the_project_loader_accepts_the_examples_with_the_defaults_applied() -> None:
    from airflow_mlprovider.spec import load_specs

    loaded = load_specs(DAG_SPECS)
    assert loaded.errors == {}
    assert sorted(s.model for s in loaded.specs) == EXAMPLES
    for spec in loaded.specs:
        assert spec.warehouse.path == str(DAG_SPECS.parent / ".demo" / "warehouse.duckdb")
        assert spec.artifact_root == f"file://{DAG_SPECS.parent / '.demo' / 'artifacts'}"
        assert spec.default_args.retries == 1
