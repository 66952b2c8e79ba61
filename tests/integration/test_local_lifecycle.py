"""A generated DAG run for real with dag.test() on the embedded default (DuckDB, local artifact store,
subprocess training): a first run makes a champion, a worse model is not promoted, and a backfill of
three past intervals never moves the champion backward."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tests.integration.conftest import build, edit_spec, states

MODEL = "demand_forecast"


def _registry(folder: Path):
    from airflow_mlprovider.backends import store_for
    from airflow_mlprovider.registry.store import ModelRegistry
    from airflow_mlprovider.spec import load_spec_file

    spec = load_spec_file(folder / f"{MODEL}.model.yaml")
    return ModelRegistry(store_for(spec), spec.model_root)


def _without_serving(doc: dict) -> None:
    doc.pop("serving", None)
    doc.pop("rollout", None)


def test_champion_then_worse_candidate_then_backfill(dags_folder: Path) -> None:
    edit_spec(dags_folder, MODEL, _without_serving)

    first = build(dags_folder, MODEL).test(logical_date=datetime(2025, 6, 1, tzinfo=timezone.utc))
    assert first.state == "success", states(first)
    registry = _registry(dags_folder)
    champion = registry.champion()
    assert champion is not None, "the first run registers the first champion"
    assert champion.data_interval_end.startswith("2025-06-01")

    # A deliberately worse model (a single boosting iteration) on a later interval: evaluated, not promoted.
    def worse(doc: dict) -> None:
        doc["code"]["params"] = {**doc["code"].get("params", {}), "max_iter": 1}

    edit_spec(dags_folder, MODEL, worse)
    second = build(dags_folder, MODEL).test(logical_date=datetime(2025, 6, 2, tzinfo=timezone.utc))
    second_states = states(second)
    assert second.state == "success", second_states
    assert second_states["evaluate.decide"] == "success"
    assert second_states["promote.register"] == "skipped"
    assert registry.champion().version_id == champion.version_id
    rejected = [v for v in registry.versions() if v.version_id != champion.version_id]
    assert len(rejected) == 1
    assert [e["event"] for e in registry.events(rejected[0].version_id)] == ["rejected"]

    # A backfill of three older intervals with the good model: registered, never champion.
    edit_spec(dags_folder, MODEL, lambda doc: doc["code"].pop("params", None))
    dag = build(dags_folder, MODEL)
    for day in (1, 2, 3):
        run = dag.test(logical_date=datetime(2025, 5, day, tzinfo=timezone.utc))
        assert run.state == "success", states(run)
        assert registry.champion().version_id == champion.version_id
    assert len(registry.versions()) == 5
