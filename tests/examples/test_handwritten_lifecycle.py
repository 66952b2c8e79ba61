"""examples/handwritten_lifecycle.py end to end with dag.test() on the embedded default, and the champion Asset
event it produces, seen through Airflow's own asset machinery (the metadata DB's events and the consumer's queue)."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from airflow_mlprovider.examples.seed import seed_warehouse
from tests.dag_runs import record_dag

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "handwritten_lifecycle.py"
CHAMPION_URI = "mlprovider://demand_handwritten/champion"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("handwritten_lifecycle", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def champion_events() -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == CHAMPION_URI)
        return [(event.extra, event.source_dag_id, event.source_task_id) for event in session.scalars(query)]


def queued_for(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id))


def test_the_handwritten_dag_runs_and_its_champion_schedules_the_consumer(airflow_db: str, tmp_path: Path) -> None:
    from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
    from airflow_mlprovider.registry.store import ModelRegistry

    warehouse = tmp_path / "warehouse.duckdb"
    seed_warehouse(str(warehouse))
    example = load_example()
    record_dag(example.batch_scoring)
    lifecycle = record_dag(example.lifecycle)
    assert champion_events() == []

    artifacts = (tmp_path / "artifacts").as_uri()
    run = lifecycle.test(
        logical_date=datetime(2025, 6, 1, tzinfo=timezone.utc),
        run_conf={"warehouse": str(warehouse), "artifact_root": artifacts, "lookback_days": 120},
    )
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    assert states["data.quality_gate"] == "success" and states["promote.register"] == "success"

    champion = ModelRegistry(FilesystemArtifactStore(), f"{artifacts}/demand_handwritten").champion()
    assert champion is not None and champion.data_interval_end.startswith("2025-06-01")
    assert Path(champion.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path), "the run's params were used"

    [(extra, dag_id, task_id)] = champion_events()
    assert (dag_id, task_id) == ("demand_handwritten", "promote.register")
    assert extra["version_id"] == champion.version_id and extra["metric"] == "rmse"
    assert extra["metric_value"] == champion.metric_value > 0
    assert (extra["data_interval_start"], extra["data_interval_end"]) == (
        champion.data_interval_start, champion.data_interval_end)
    assert queued_for("batch_scoring") == 1, "the new champion schedules the DAG that consumes its Asset"
