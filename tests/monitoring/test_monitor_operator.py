"""MonitorOperator without a champion, and the record it writes (the alarm path: tests/integration/test_monitoring.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlprovider.monitoring.checks import CheckResult
from airflow_mlprovider.monitoring.monitor import CHECKS, Thresholds, record
from airflow_mlprovider.operators.monitor import MonitorOperator
from tests.registry.run_fixtures import make_context, utc


def test_no_champion_skips(tmp_path: Path) -> None:
    operator = MonitorOperator(task_id="monitor", model="m", registry_uri=(tmp_path / "m").as_uri(), endpoint="m")
    with pytest.raises(AirflowSkipException, match="no champion"):
        operator.execute(make_context({}, utc(2025, 1, 1)))


def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MonitorOperator(task_id="monitor", model="m", registry_uri="file:///x", endpoint="m", window_s=0)


def test_record_keeps_the_contract_and_leaves_out_checks_without_evidence() -> None:
    results = [CheckResult("requests", 0.0, 5.0, True, "requests: 0"),
               CheckResult("prediction_mean", None, None, False, "no reference"),
               CheckResult("prediction_spread", float("inf"), 2.0, True, "constant")]
    doc = record("m", "v1", "2025-01-01T01:00:00+00:00", "2025-01-01T00:00:00+00:00", "2025-01-01T01:00:00+00:00",
                 results, {"requests": [["2025-01-01T01:00:00+00:00", 0]]})
    assert doc["status"] == "alarm" and [a["check"] for a in doc["alarms"]] == ["requests", "prediction_spread"]
    assert doc["figures"] == {"requests": {"value": 0.0, "limit": 5.0}}
    assert set(doc) == {"model", "checked_at", "window_start", "window_end", "champion", "status", "alarms",
                        "figures", "series"}


def test_budget_is_split_over_every_check() -> None:
    thresholds = Thresholds.from_dict({"false_alarm_rate": 0.001, "schedule": "@daily"})
    assert thresholds.alpha * len(CHECKS) == pytest.approx(0.001)


def test_checks_in_the_same_second_get_their_own_records(tmp_path: Path) -> None:
    from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore

    root = (tmp_path / "m").as_uri()
    operator = MonitorOperator(task_id="monitor", model="m", registry_uri=root, endpoint="m")
    store = FilesystemArtifactStore()
    results = [CheckResult("requests", 10.0, 1.0, False, "requests: 10")]
    uris = {operator._write_record(store, "v1", 0.0, 3600.0, results, {})[1] for _ in range(3)}
    assert len(uris) == 3 and len(store.list(f"{root}/monitoring/")) == 3
