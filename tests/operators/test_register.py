from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_mlprovider.artifacts import TamperedArtifactError, sha256_file, write_manifest
from airflow_mlprovider.backends.local.filesystem_store import path_of
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_mlprovider.operators.base import run_interval
from airflow_mlprovider.operators.champion_asset import champion_alias
from airflow_mlprovider.operators.register import RegisterOperator
from tests.registry.run_fixtures import make_artifact, make_context, make_spec, registry_of, utc

REASON = "candidate 0.5 vs champion 1"


def register_context(tmp_path: Path, day: int, *, rmse: float = 0.5, name: str | None = None) -> dict:
    """The upstream results (train, evaluate) a DAG would hand over, kept in the context's task instance."""
    xcoms = {
        "train": {"artifact_uri": make_artifact(tmp_path, name or f"candidate-{day}")},
        "evaluate": {"candidate": {"metric": "rmse", "value": rmse, "schema_violations": 0}, "champion": None},
    }
    return {**make_context(xcoms, utc(2024, 1, day)), "outlet_events": OutletEventAccessors()}


def register(spec: dict, context: dict) -> dict:
    results = context["ti"].xcoms
    return RegisterOperator(
        task_id="register", model=spec["model"], registry_uri=f"{spec['artifact_root']}/{spec['model']}",
        artifact_uri=results["train"]["artifact_uri"], evaluation=results["evaluate"],
        promote="serving" not in spec, reason=REASON, spec_digest="digest-of-the-spec",
    ).execute(context)


def champion_events(context: dict) -> list:
    return context["outlet_events"][champion_alias("linear")].asset_alias_events



def test_without_serving_the_version_becomes_champion(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    context = register_context(tmp_path, 10)
    result = register(spec, context)
    registry = registry_of(spec)
    version = registry.get(result["version_id"])
    assert result == {"version_id": version.version_id, "promoted": True}
    assert registry.champion() == version
    assert registry.champion_pointer()["reason"] == "candidate 0.5 vs champion 1"

    artifact = path_of(context["ti"].xcoms["train"]["artifact_uri"])
    manifest = json.loads((artifact / "MANIFEST.json").read_text())
    assert version.artifact_uri == f"file://{artifact}" and version.run_id == context["run_id"]
    assert version.manifest_digest == manifest["digest"]
    assert version.code_digest == sha256_file(artifact / "code" / "linear_model.py")
    assert version.spec_digest == "digest-of-the-spec"
    assert (version.data_interval_start, version.data_interval_end) == (
        "2024-01-09T00:00:00+00:00", "2024-01-10T00:00:00+00:00")
    assert (version.metric, version.metric_value) == ("rmse", 0.5)
    assert version.metrics == {"rmse": 0.5, "schema_violations": 0}
    [event] = champion_events(context)
    assert event.dest_asset_key.uri == "mlprovider://linear/champion"
    assert event.extra["version_id"] == version.version_id and event.extra["metric_value"] == 0.5
    assert event.extra["data_interval_end"] == "2024-01-10T00:00:00+00:00"


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
    context = register_context(tmp_path, 10)
    result = register(spec, context)
    registry = registry_of(spec)
    assert result["promoted"] is False and registry.get(result["version_id"]) is not None
    assert registry.champion() is None
    assert champion_events(context) == []


def test_a_newer_champion_appearing_after_decide_keeps_the_pointer(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    newer = register(spec, register_context(tmp_path, 20))
    context = register_context(tmp_path, 10)
    older = register(spec, context)
    assert older["promoted"] is False
    assert champion_events(context) == [], "no Asset event when the champion does not move"
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
    artifact = path_of(context["ti"].xcoms["train"]["artifact_uri"])
    (artifact / "code" / "helper.py").write_text("X = 1\n")
    write_manifest(artifact)
    with pytest.raises(TamperedArtifactError, match="lists 2 modules in code/, not one"):
        register(make_spec(tmp_path), context)
