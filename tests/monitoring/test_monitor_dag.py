"""The monitoring DAG the factory builds per serving spec, and the loader's isolation with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from airflow_mlprovider.factory import loader
from airflow_mlprovider.factory.monitor_dag import build_monitor_dags
from airflow_mlprovider.spec import load_spec_file
from tests.factory.conftest import dags_folder  # noqa: F401 - the examples folder fixture


def _spec(folder: Path, name: str, monitor: dict | None = None):
    path = folder / f"{name}.model.yaml"
    if monitor is not None:
        doc = yaml.safe_load(path.read_text())
        doc["monitor"] = monitor
        path.write_text(yaml.safe_dump(doc))
    return load_spec_file(path)


def test_a_serving_spec_gets_an_hourly_monitor_with_its_settings(dags_folder: Path) -> None:
    [dag] = build_monitor_dags(_spec(dags_folder, "demand_forecast"))
    assert dag.dag_id == "demand_forecast__monitor" and dag.schedule == "@hourly"
    task = dag.get_task("monitor")
    assert (task.window_s, task.baseline_s, task.thresholds) == (3600.0, 6 * 3600.0, {})
    assert task.endpoint and task.registry_uri.endswith("/demand_forecast")


def test_spec_monitor_section_reaches_the_operator(dags_folder: Path) -> None:
    monitor = {"schedule": "*/15 * * * *", "window": "15m", "baseline": "2h", "false_alarm_rate": 0.001,
               "features": ["temperature"]}
    [dag] = build_monitor_dags(_spec(dags_folder, "demand_forecast", monitor))
    task = dag.get_task("monitor")
    assert dag.schedule == "*/15 * * * *"
    assert (task.window_s, task.baseline_s, task.features) == (900.0, 7200.0, ("temperature",))
    assert task.thresholds["false_alarm_rate"] == 0.001


def test_no_monitor_without_serving_or_when_disabled(dags_folder: Path) -> None:
    assert build_monitor_dags(_spec(dags_folder, "tumor_classifier")) == []
    assert build_monitor_dags(_spec(dags_folder, "demand_forecast", {"enabled": False})) == []


def test_a_failing_monitor_build_leaves_only_the_specs_invalid_dag(dags_folder: Path, monkeypatch) -> None:
    def broken(spec):
        raise RuntimeError("boom")

    monkeypatch.setattr(loader, "build_monitor_dags", broken)
    dags = loader.load_dags(str(dags_folder / "x.py"), {})
    ids = {d.dag_id for d in dags}
    assert "demand_forecast" not in ids and any(i.startswith("invalid_spec__") for i in ids)
