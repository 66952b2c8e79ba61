"""The generated monitoring DAG against a served champion on the local endpoint server: quiet on healthy
traffic, an alarm (Slack post, failed task, record) within one interval of a silent failure.

The server records traffic at the times of a test clock: a week's worth of hours is not waited for, the
hours before each run's data interval are filled with requests stamped at those times.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.monitoring.reference import record_reference
from airflow_mlprovider.operators.register import candidate_version
from airflow_mlprovider.operators.serving import variant_name
from tests.integration.conftest import build, states
from tests.notifications.test_lifecycle import SlackStandIn
from tests.registry.run_fixtures import make_artifact, make_context, make_spec, registry_of, utc

TOKEN = "monitoring-test-token"
ENDPOINT = "linear"
HOUR = 3600.0
# the first monitored interval ends here; the traffic before it is the baseline
FIRST_END = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
PER_MINUTE = 3


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _requests(n: int, rng: np.random.Generator) -> list[dict]:
    return [{"x": float(x), "day": "2025-06-01"} for x in rng.uniform(0, 40, n)]


@pytest.fixture
def served(airflow_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A dags folder with the linear model's spec (serving, monitored hourly), its champion registered with
    an evaluation reference and serving at 100 % on a local endpoint server with a test clock."""
    from airflow_mlprovider.serving.client import EndpointClient
    from airflow_mlprovider.serving.server import EndpointServer

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "dag_specs" / "mlprovider_dags.py", folder)
    spec = make_spec(folder, serving=True, warehouse={"type": "duckdb", "path": str(folder / "w.duckdb")},
                     notify={"slack_conn_id": "slack_monitor"})
    (folder / "linear.model.yaml").write_text(yaml.safe_dump(spec))

    artifact = make_artifact(tmp_path, "champion")  # predicts 2x + 1
    evaluation = {"candidate": {"metric": "rmse", "value": 0.0, "schema_violations": 0}}
    store = FilesystemArtifactStore()
    version = candidate_version("linear", artifact, evaluation, make_context({}, utc(2025, 5, 1)), store)
    registry = registry_of(spec)
    registry.register(version)
    assert registry.promote(version.version_id, "seeded").promoted
    import pandas as pd

    test_rows = pd.DataFrame(_requests(2000, np.random.default_rng(0)))
    record_reference(store, f"{spec['artifact_root']}/linear", version.version_id,
                     list(2 * test_rows["x"] + 1), test_rows)

    clock = Clock()
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, seed=3, clock=clock) as server, SlackStandIn() as slack:
        port = int(server.url.rsplit(":", 1)[1])
        monkeypatch.setenv("AIRFLOW_CONN_MLPROVIDER_ENDPOINT", json.dumps(
            {"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": port, "password": TOKEN}))
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_MONITOR", json.dumps(
            {"conn_type": "slackwebhook", "host": slack.url, "password": "T000/B000/secret"}))
        admin = EndpointClient(server.url, TOKEN)
        body = {"artifact_uri": artifact, "request_schema": {"type": "object"},
                "response_schema": json.loads(Path(spec["code"]["response_schema"]).read_text()), "weight": 100}
        name = variant_name(version.version_id)
        admin.put_variant(ENDPOINT, name, body)
        yield folder, admin, clock, slack, (name, body), f"{spec['artifact_root']}/linear"


def _serve(admin, clock: Clock, start: datetime, hours: float, rng: np.random.Generator) -> None:
    """PER_MINUTE requests stamped at each minute of [start, start + hours)."""
    for minute in range(int(hours * 60)):
        for i, request in enumerate(_requests(PER_MINUTE, rng)):
            clock.now = start.timestamp() + minute * 60 + i
            status, _, _ = admin.invoke(ENDPOINT, request)
            assert status == 200


def _monitor(folder: Path, interval_end: datetime):
    """One scheduled run of the monitoring DAG whose data interval ends at `interval_end`."""
    return build(folder, "linear__monitor").test(logical_date=interval_end)  # a manual run: its interval ends there


def _records(model_root: str) -> list[dict]:
    store = FilesystemArtifactStore()
    return [json.loads(store.read_bytes(uri)) for uri in sorted(store.list(f"{model_root}/monitoring/"))
            if "/reference/" not in uri]


@pytest.mark.parametrize(("failure", "check"), [
    ({"prediction_scale": 100.0}, "prediction_mean"),
    # x 1.5 keeps the mean of the same order (41 -> 62) and inside the reference's range: a shift of 0.9 sd
    ({"prediction_scale": 1.5}, "prediction_mean"),
])
def test_silent_failure_alarms_within_one_interval_and_healthy_traffic_does_not(served, failure, check) -> None:
    folder, admin, clock, slack, (name, body), model_root = served
    rng = np.random.default_rng(1)
    _serve(admin, clock, FIRST_END - timedelta(hours=7), 7, rng)

    healthy = _monitor(folder, FIRST_END)
    assert healthy.state == "success", states(healthy)
    [record] = _records(model_root)
    assert record["status"] == "ok" and record["alarms"] == [] and not slack.posts
    assert record["window_end"] == FIRST_END.isoformat() and record["figures"]["requests"]["value"] == 60 * PER_MINUTE
    assert len(record["series"]["requests"]) == 12
    # the server's sample of predictions (one per second) reaches the distribution test
    assert record["figures"]["prediction_distribution"]["value"] < record["figures"]["prediction_distribution"]["limit"]
    assert record["figures"]["feature_drift"]["value"] < record["figures"]["feature_drift"]["limit"]  # request field x

    admin.put_variant(ENDPOINT, name, {**body, **failure})  # the champion keeps answering 200
    _serve(admin, clock, FIRST_END, 1, rng)
    alarmed = _monitor(folder, FIRST_END + timedelta(hours=1))
    latest = _records(model_root)[-1]
    assert alarmed.state == "failed" and states(alarmed)["monitor"] == "failed", latest
    assert latest["status"] == "alarm" and check in [a["check"] for a in latest["alarms"]], latest["alarms"]
    figure = latest["figures"][check]
    assert abs(figure["value"]) > figure["limit"]
    [(_, post)] = slack.posts
    assert "monitor.alarm" in post["text"] and check in post["text"]
