from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_mlprovider.artifacts import TamperedArtifactError, sha256_file, write_manifest
from airflow_mlprovider.backends.local.filesystem_store import path_of
from airflow_mlprovider.operators.base import DECIDE, EVALUATE, TRAIN
from airflow_mlprovider.operators.register import RegisterOperator, run_interval
from tests.registry.run_fixtures import make_artifact, make_context, make_spec, registry_of, utc


def register_context(tmp_path: Path, day: int, *, rmse: float = 0.5, name: str | None = None) -> dict:
    xcoms = {
        TRAIN: {"artifact_uri": make_artifact(tmp_path, name or f"candidate-{day}")},
        EVALUATE: {"candidate": {"metric": "rmse", "value": rmse, "schema_violations": 0}},
        DECIDE: {"promote": True, "reason": "candidate 0.5 vs champion 1", "version_id": "ignored"},
    }
    return make_context(xcoms, utc(2024, 1, day))


def register(spec: dict, context: dict) -> dict:
    return RegisterOperator(task_id="register", spec=spec, spec_source="/specs/linear.model.yaml").execute(context)



def test_without_serving_the_version_becomes_champion(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    context = register_context(tmp_path, 10)
    result = register(spec, context)
    registry = registry_of(spec)
    version = registry.get(result["version_id"])
    assert result == {"version_id": version.version_id, "promoted": True}
    assert registry.champion() == version
    assert registry.champion_pointer()["reason"] == "candidate 0.5 vs champion 1"

    artifact = path_of(context["ti"].xcoms[TRAIN]["artifact_uri"])
    manifest = json.loads((artifact / "MANIFEST.json").read_text())
    assert version.artifact_uri == f"file://{artifact}" and version.run_id == context["run_id"]
    assert version.manifest_digest == manifest["digest"]
    assert version.code_digest == sha256_file(artifact / "code" / "linear_model.py")
    assert version.spec_digest == hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    assert (version.data_interval_start, version.data_interval_end) == (
        "2024-01-09T00:00:00+00:00", "2024-01-10T00:00:00+00:00")
    assert (version.metric, version.metric_value) == ("rmse", 0.5)
    assert version.metrics == {"rmse": 0.5, "schema_violations": 0}


def test_retrying_register_changes_nothing(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    context = register_context(tmp_path, 10)
    first = register(spec, context)
    registry = registry_of(spec)
    record, pointer = registry.get(first["version_id"]), registry.champion_pointer()
    assert register(spec, context) == first
    assert registry.get(first["version_id"]) == record and registry.champion_pointer() == pointer
    assert [e["event"] for e in registry.events(first["version_id"])] == ["promoted"]


def test_with_serving_the_pointer_waits_for_the_rollout(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, serving=True)
    result = register(spec, register_context(tmp_path, 10))
    registry = registry_of(spec)
    assert result["promoted"] is False and registry.get(result["version_id"]) is not None
    assert registry.champion() is None


def test_a_newer_champion_appearing_after_decide_keeps_the_pointer(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    newer = register(spec, register_context(tmp_path, 20))
    older = register(spec, register_context(tmp_path, 10))
    assert older["promoted"] is False
    registry = registry_of(spec)
    assert registry.champion().version_id == newer["version_id"]
    assert [e["event"] for e in registry.events(older["version_id"])] == ["not_promoted_backfill"]


def test_run_interval_of_a_manual_run_without_one() -> None:
    run_after = utc(2024, 2, 1)
    context = {"data_interval_start": None, "data_interval_end": None, "logical_date": None,
               "dag_run": SimpleNamespace(run_after=run_after)}
    assert run_interval(context) == (run_after, run_after)
    start, end = utc(2024, 1, 1), utc(2024, 1, 2)
    assert run_interval({"data_interval_start": start, "data_interval_end": end}) == (start, end)


def test_an_artifact_without_exactly_one_code_module_is_refused(tmp_path: Path) -> None:
    context = register_context(tmp_path, 10)
    artifact = path_of(context["ti"].xcoms[TRAIN]["artifact_uri"])
    (artifact / "code" / "helper.py").write_text("X = 1\n")
    write_manifest(artifact)
    with pytest.raises(TamperedArtifactError, match="lists 2 modules in code/, not one"):
        register(make_spec(tmp_path), context)
