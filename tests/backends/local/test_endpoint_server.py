"""LocalEndpointServing / LocalEndpointMetrics round-trip against a real local endpoint server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_mlprovider.artifacts import MANIFEST, write_manifest
from airflow_mlprovider.backends.base import StaleFenceError, Variant, VariantCounts
from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointMetrics, LocalEndpointServing
from airflow_mlprovider.serving.client import EndpointClient, EndpointServerError, EndpointServerUnreachable
from airflow_mlprovider.serving.server import EndpointServer
from tests.serving.serving_testing import REQUEST_SCHEMA, RESPONSE_SCHEMA, TOKEN, make_artifact

CONN_ID = "mlprovider_endpoint"


def connect(monkeypatch: pytest.MonkeyPatch, url: str, conn_id: str = CONN_ID, token: str = TOKEN) -> str:
    """An `mlprovider_endpoint` connection to the server at `url`; returns its id."""
    port = int(url.rsplit(":", 1)[1])
    connection = {"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": port, "password": token}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return conn_id


def variant(tmp_path: Path, name: str, factor: float, fault_injection: float = 0.0) -> Variant:
    """A registered variant: the registry's digest is its manifest's."""
    request, response = tmp_path / "request.schema.json", tmp_path / "response.schema.json"
    request.write_text(json.dumps(REQUEST_SCHEMA))
    response.write_text(json.dumps(RESPONSE_SCHEMA))
    artifact = make_artifact(tmp_path / name, factor)
    digest = json.loads((artifact / MANIFEST).read_text())["digest"]
    return Variant(name, artifact.as_uri(), str(request), str(response), fault_injection, digest)


@pytest.fixture
def server() -> EndpointServer:
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, seed=11) as running:
        yield running


@pytest.fixture
def conn_id(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> str:
    return connect(monkeypatch, server.url)


def test_serving_backend_round_trip(conn_id: str, tmp_path: Path) -> None:
    serving = LocalEndpointServing(conn_id)
    assert serving.describe("sales") == {}
    serving.deploy("sales", variant(tmp_path, "v1", 2.0), 100)
    candidate = variant(tmp_path, "v2", 3.0)
    serving.deploy("sales", candidate, 0)
    serving.deploy("sales", candidate, 0)  # a retried deploy is harmless
    assert serving.describe("sales") == {"v1": 100.0, "v2": 0.0}
    assert serving.invoke("sales", "v2", {"x": 2}) == (200, {"prediction": 6.0, "label": "ok"})
    status, body = serving.invoke("sales", "v2", {"x": "two"})
    assert status == 400 and "request schema" in body["error"]
    serving.set_weights("sales", {"v1": 75, "v2": 25})
    assert serving.describe("sales") == {"v1": 75.0, "v2": 25.0}
    with pytest.raises(ValueError, match="must name every variant"):
        serving.set_weights("sales", {"v1": 100})
    with pytest.raises(ValueError, match="sum to 100"):
        serving.set_weights("sales", {"v1": 75, "v2": 0})
    with pytest.raises(ValueError, match="sum to 100"):
        serving.set_weights("sales", {"v1": 0, "v2": 0})
    serving.set_weights("sales", {"v1": 100, "v2": 0})  # a rollback
    serving.remove("sales", "v2")
    serving.remove("sales", "v2")
    assert serving.describe("sales") == {"v1": 100.0}


def test_deploy_sends_the_fault_injection_and_the_prediction_field(conn_id: str, tmp_path: Path, server: EndpointServer) -> None:
    LocalEndpointServing(conn_id).deploy("sales", variant(tmp_path, "v1", 2.0, fault_injection=0.25), 100)
    described = EndpointClient(server.url).endpoint("sales")["variants"]["v1"]
    assert (described["fault_injection"], described["prediction_field"]) == (0.25, "prediction")


def test_metrics_backend_reads_the_window_with_zeros_for_quiet_variants(conn_id: str, tmp_path: Path, server: EndpointServer) -> None:
    serving = LocalEndpointServing(conn_id)
    serving.deploy("sales", variant(tmp_path, "v1", 2.0), 100)
    serving.deploy("sales", variant(tmp_path, "v2", 3.0), 0)
    started = time.time()
    client = EndpointClient(server.url)
    statuses = [client.invoke("sales", {"x": x})[0] for x in (1, 2, 3, 13, "bad")]
    serving.invoke("sales", "v2", {"x": 1})  # a probe: not in the window
    counts = LocalEndpointMetrics(conn_id).window("sales", ["v1", "v2"], started - 1, time.time() + 1)
    assert statuses == [200, 200, 200, 500, 400]
    assert counts["v2"] == VariantCounts()
    v1 = counts["v1"]
    assert (v1.requests, v1.errors_4xx, v1.errors_5xx, v1.prediction_mean) == (5, 1, 1, 4.0)
    assert v1.latency_p99_ms is not None and v1.latency_p99_ms > 0


def test_unreachable_server_says_how_to_start_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EndpointServer("127.0.0.1", 0) as stopped:
        url = stopped.url
    conn_id = connect(monkeypatch, url)
    with pytest.raises(EndpointServerUnreachable, match="start it with `mlprovider serve`"):
        LocalEndpointServing(conn_id).describe("sales")
    with pytest.raises(EndpointServerUnreachable, match=url):
        LocalEndpointMetrics(conn_id).window("sales", ["v1"], 0, 1)


def test_server_and_token_come_from_the_connection(server: EndpointServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = LocalEndpointServing("no_such_endpoint_conn")
    with pytest.raises(RuntimeError, match="no_such_endpoint_conn.*AIRFLOW_CONN_NO_SUCH_ENDPOINT_CONN"):
        missing.deploy("sales", variant(tmp_path, "v1", 2.0), 100)
    wrong = LocalEndpointServing(connect(monkeypatch, server.url, "wrong_endpoint_token", token="nope"))
    with pytest.raises(EndpointServerError, match="HTTP 401"):
        wrong.fence("sales")
    assert EndpointClient(server.url).endpoint("sales") is None


def test_a_stale_generation_changes_nothing(conn_id: str, tmp_path: Path) -> None:
    serving = LocalEndpointServing(conn_id)
    serving.deploy("sales", variant(tmp_path, "v1", 2.0), 100)
    serving.deploy("sales", variant(tmp_path, "v2", 3.0), 0)
    rollout = serving.fence("sales")
    serving.set_weights("sales", {"v1": 90, "v2": 10}, generation=rollout)
    rollback = serving.fence("sales")  # rollback fences first: the rollout attempt still running is now stale
    assert rollback > rollout
    serving.set_weights("sales", {"v1": 100, "v2": 0}, generation=rollback)
    with pytest.raises(StaleFenceError, match=f"stale generation {rollout}.*current generation is {rollback}"):
        serving.set_weights("sales", {"v1": 0, "v2": 100}, generation=rollout)
    with pytest.raises(StaleFenceError):
        serving.remove("sales", "v1", generation=rollout)
    serving.remove("sales", "v2", generation=rollback)
    assert serving.describe("sales") == {"v1": 100.0}


def test_removing_the_only_live_variant_is_refused_while_others_remain(conn_id: str, tmp_path: Path) -> None:
    serving = LocalEndpointServing(conn_id)
    serving.deploy("sales", variant(tmp_path, "v1", 2.0), 100)
    serving.deploy("sales", variant(tmp_path, "v2", 3.0), 0)
    with pytest.raises(ValueError, match="every variant of endpoint 'sales' at weight 0"):
        serving.remove("sales", "v1")
    assert serving.describe("sales") == {"v1": 100.0, "v2": 0.0}
    serving.set_weights("sales", {"v1": 0, "v2": 100})
    serving.remove("sales", "v1")
    serving.remove("sales", "v2")  # the last variant: the endpoint disappears, nothing is left at weight 0
    assert serving.describe("sales") == {}


def test_deploy_refuses_an_artifact_whose_manifest_is_not_the_registry_digest(conn_id: str, tmp_path: Path) -> None:
    serving = LocalEndpointServing(conn_id)
    registered = variant(tmp_path, "v1", 2.0)
    # tampered code with a recomputed manifest: the artifact checks itself, the registry's digest catches it
    artifact = Path(registered.artifact_uri.removeprefix("file://"))
    (artifact / "code" / "tiny_model.py").write_text("def load(d):\n    return lambda r: {'prediction': 666}\n")
    write_manifest(artifact)
    with pytest.raises(EndpointServerError, match=f"HTTP 422.*not the registered digest {registered.manifest_digest}"):
        serving.deploy("sales", registered, 100)
    assert serving.describe("sales") == {}
