"""Loading a folder: defaults merged, paths resolved and confined, duplicates and bad defaults reported, no raising."""

from __future__ import annotations

import os

import shutil
from pathlib import Path

import pytest
import yaml

from airflow_mlprovider.spec import DEFAULTS_FILE, SpecValidationError, load_spec_file, load_specs

GOOD = Path(__file__).resolve().parents[1] / "specs" / "good"
SALES = (GOOD / "sales.model.yaml").read_text()


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    """A dags folder holding the good specs, their model files and their defaults file."""
    folder = tmp_path / "dags"
    shutil.copytree(GOOD, folder)
    return folder


def _write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _sales(**changes) -> dict:
    doc = yaml.safe_load(SALES)
    doc.update(changes)
    return doc


def test_defaults_merge_under_the_spec(dags: Path) -> None:
    spec = load_spec_file(_write(dags / "x.model.yaml", _sales(model="x", default_args={"retries": 5})))
    assert spec.default_args.retries == 5, "the spec wins"
    assert spec.default_args.retry_delay_s == 10.0, "mappings merge key by key: retry_delay still from the defaults"
    assert spec.notify.channel == "#ml-alerts"
    assert spec.platform == "local" and spec.rollout.steps == (5, 25, 50, 100), "schema defaults fill the rest"


def test_defaults_configure_serving_but_only_a_spec_enables_it(dags: Path) -> None:
    defaults = yaml.safe_load((dags / DEFAULTS_FILE).read_text())
    _write(dags / DEFAULTS_FILE, {**defaults, "serving": {"conn_id": "endpoint_prod"}, "rollout": {"min_requests": 50}})
    unserved = load_spec_file(_write(dags / "x.model.yaml", _sales(model="x")))
    assert unserved.serving is None, "a defaults file's serving section must not turn serving on for every model"
    served = load_spec_file(_write(dags / "y.model.yaml", _sales(model="y", serving={"endpoint": "y"})))
    assert served.serving.conn_id == "endpoint_prod" and served.rollout.min_requests == 50


def test_lists_are_replaced_not_merged(dags: Path) -> None:
    defaults = yaml.safe_load((dags / DEFAULTS_FILE).read_text())
    _write(dags / DEFAULTS_FILE, {**defaults, "tags": ["team-a", "nightly"]})
    spec = load_spec_file(_write(dags / "x.model.yaml", _sales(model="x", tags=["solo"])))
    assert spec.tags == ("solo",)


def test_paths_become_absolute(dags: Path) -> None:
    spec = load_spec_file(dags / "churn.model.yaml")
    assert spec.code.module == str(dags / "models" / "churn.py")
    assert spec.code.request_schema == str(dags / "schemas" / "churn.request.json")
    assert spec.data.dbt.project == str(dags / "dbt")
    assert spec.artifact_root == (dags / "artifacts").as_uri()
    assert spec.warehouse.path == str(dags / "warehouse.duckdb")
    assert spec.source == str(dags / "churn.model.yaml")


def test_deployment_paths_resolve_against_the_file_that_set_them(dags: Path) -> None:
    nested = _write(dags / "team" / "x.model.yaml", _sales(
        model="x", artifact_root="own_artifacts",
        code={"module": "../models/sales.py", "request_schema": "../schemas/sales.request.json",
              "response_schema": "../schemas/sales.response.json"},
    ))
    spec = load_specs(dags).specs[-1]
    assert spec.source == str(nested)
    assert spec.artifact_root == (dags / "team" / "own_artifacts").as_uri(), "set in the spec: its folder"
    assert spec.warehouse.path == str(dags / "warehouse.duckdb"), "set in the defaults: the defaults' folder"


@pytest.mark.parametrize("root", ["s3://bucket/models", "file:///srv/models"])
def test_uri_artifact_roots_are_kept(dags: Path, root: str) -> None:
    assert load_spec_file(_write(dags / "x.model.yaml", _sales(model="x", artifact_root=root))).artifact_root == root


def test_paths_may_not_escape_the_dags_root(dags: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    shutil.copy(dags / "models" / "sales.py", outside)
    doc = _sales(model="x")
    doc["code"]["module"] = "../elsewhere.py"
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(_write(dags / "x.model.yaml", doc))
    (error,) = raised.value.errors
    assert error.path == "code.module" and "outside the dags folder" in error.message
    # the same file is fine when the dags root is wider; the defaults file is still found beside the spec
    assert load_spec_file(dags / "x.model.yaml", dags_root=tmp_path).code.module == str(outside)


def test_a_single_spec_finds_the_nearest_defaults_file_up_to_the_dags_root(dags: Path) -> None:
    doc = _sales(model="x")
    doc["code"] = {key: f"../../{value}" for key, value in doc["code"].items()}
    spec = load_spec_file(_write(dags / "team" / "a" / "x.model.yaml", doc), dags_root=dags)
    assert spec.artifact_root == (dags / "artifacts").as_uri()


def test_symlink_out_of_the_dags_root_is_rejected(dags: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text("def preprocess(raw, ctx): ...\n")
    (dags / "models" / "link.py").symlink_to(tmp_path / "secret.py")
    doc = _sales(model="x")
    doc["code"]["module"] = "models/link.py"
    with pytest.raises(SpecValidationError, match="outside the dags folder"):
        load_spec_file(_write(dags / "x.model.yaml", doc))


def test_one_bad_spec_does_not_hide_the_others(dags: Path) -> None:
    (dags / "broken.model.yaml").write_text("model: [\n")
    result = load_specs(dags)
    assert [spec.model for spec in result.specs] == ["churn", "sales"]
    assert list(result.errors) == [str(dags / "broken.model.yaml")]


def test_only_model_yaml_files_are_specs(dags: Path) -> None:
    (dags / "profiles.yml").write_text("not: a spec\n")
    (dags / "notes.yaml").write_text("- nor\n- this\n")
    assert load_specs(dags).errors == {}


def test_a_duplicate_model_name_keeps_the_older_spec_and_fails_the_newcomer(dags: Path) -> None:
    copy = _write(dags / "sub" / "sales_again.model.yaml", _sales(code={
        "module": "../models/sales.py", "request_schema": "../schemas/sales.request.json",
        "response_schema": "../schemas/sales.response.json"}))
    original = dags / "sales.model.yaml"
    os.utime(copy, ns=(original.stat().st_mtime_ns + 10**9,) * 2)  # dropped in a second after the original
    result = load_specs(dags)
    assert sorted(spec.source for spec in result.specs) == sorted([str(dags / "churn.model.yaml"), str(original)])
    [error] = result.errors[str(copy)]
    assert str(original) in error.message and "whose DAG stays" in error.message
    assert (error.file, error.line, error.path) == (str(copy), 1, "model")
    assert str(original) not in result.errors
    # the rule is the files' age, not their names: an older copy would be the one kept
    os.utime(copy, ns=(original.stat().st_mtime_ns - 10**9,) * 2)
    assert str(original) in load_specs(dags).errors


def test_a_bad_defaults_file_is_an_error_of_every_spec(dags: Path) -> None:
    (dags / DEFAULTS_FILE).write_text("platform: local\nmodel: shared\nretries: 3\n")
    result = load_specs(dags)
    assert result.specs == []
    assert set(result.errors) == {str(dags / "churn.model.yaml"), str(dags / "sales.model.yaml")}
    messages = [str(e) for e in result.errors[str(dags / "sales.model.yaml")]]
    assert messages == [
        f"{dags / DEFAULTS_FILE}:2:1: model: 'model' describes one model: set it in each spec, not in the defaults file",
        f"{dags / DEFAULTS_FILE}:3:1: retries: unknown key 'retries' (allowed: owner, schedule, start_date, catchup, "
        "tags, max_active_runs, platform, aws_conn_id, artifact_root, default_args, warehouse, train, promote, "
        "serving, rollout, shadow, contract_test, notify, monitor, cost)",
    ]


def test_defaults_file_values_are_checked_and_located(dags: Path) -> None:
    (dags / DEFAULTS_FILE).write_text("artifact_root: artifacts\nwarehouse:\n  type: duckdb\n  path: 3\n")
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(dags / "sales.model.yaml")
    assert str(raised.value) == f"{dags / DEFAULTS_FILE}:4:9: warehouse.path: expected a string, got the integer 3"


def test_an_invalid_merged_value_from_the_defaults_names_the_defaults_file(dags: Path) -> None:
    (dags / DEFAULTS_FILE).write_text("artifact_root: artifacts\nwarehouse: {type: snowflake}\n")
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(dags / "sales.model.yaml")
    (error,) = raised.value.errors
    assert (error.file, error.line, error.path) == (str(dags / DEFAULTS_FILE), 2, "warehouse")
    assert "needs conn_id" in error.message


def test_a_defaults_file_elsewhere(dags: Path, tmp_path: Path) -> None:
    elsewhere = _write(tmp_path / "conf" / "shared.yaml", {"artifact_root": "s3://models/prod",
                                                            "warehouse": {"type": "snowflake", "conn_id": "sf"}})
    spec = load_specs(dags, defaults_file=elsewhere).specs[0]
    assert spec.artifact_root == "s3://models/prod" and spec.warehouse.conn_id == "sf"


def test_defaults_as_a_mapping(dags: Path) -> None:
    spec = load_spec_file(dags / "sales.model.yaml", defaults={"artifact_root": "out", "warehouse": {"type": "duckdb", "path": "w.db"}})
    assert spec.artifact_root == (dags / "out").as_uri() and spec.warehouse.path == str(dags / "w.db")
    with pytest.raises(SpecValidationError, match="describes one model"):
        load_spec_file(dags / "sales.model.yaml", defaults={"evaluate": {}})


def test_without_any_artifact_root(dags: Path) -> None:
    (dags / DEFAULTS_FILE).unlink()
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(dags / "sales.model.yaml")
    assert [e.path for e in raised.value.errors] == ["warehouse", "artifact_root"]


def test_many_specs_load_and_shared_files_are_read_once(dags: Path) -> None:
    doc = yaml.safe_load(SALES)
    for i in range(500):
        _write(dags / "many" / f"m{i:03d}.model.yaml", {**doc, "model": f"m{i:03d}", "code": {
            key: f"../{value}" for key, value in doc["code"].items()}})
    result = load_specs(dags)
    assert result.errors == {}
    assert len(result.specs) == 502
    assert len({spec.model for spec in result.specs}) == 502


def test_all_errors_of_a_spec_are_reported_best_first(dags: Path) -> None:
    path = dags / "x.model.yaml"
    path.write_text(SALES.replace("model: sales", "model: X") + "trian: {}\nrollout: {steps: [5, 500]}\n")
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(path)
    assert [(e.line, e.path) for e in raised.value.errors] == [(11, "trian"), (2, "model"), (12, "rollout.steps[1]")]
    assert str(raised.value).count("\n") == 2
