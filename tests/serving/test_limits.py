"""Bounded concurrency and timeouts (issue 9, item 4): overload is a JSON 503 and a slow model a JSON 504, both
counted as 5xx of the variant the request was routed to; /healthz answers while every model thread is busy;
connections are kept alive and an idle one costs no thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airflow_mlprovider.serving.app import ServingLimits
from airflow_mlprovider.serving.client import EndpointClient
from airflow_mlprovider.serving.server import EndpointServer
from tests.serving.serving_testing import PROBING_MODEL_CODE, PROBING_REQUEST_SCHEMA, TOKEN, http_request, make_artifact, variant_body


def probing_server(tmp_path: Path, limits: ServingLimits) -> EndpointServer:
    server = EndpointServer("127.0.0.1", 0, admin_token=TOKEN, limits=limits).start()
    artifact = make_artifact(tmp_path / "probing", 1.0, PROBING_MODEL_CODE)
    EndpointClient(server.url, TOKEN).put_variant(
        "slow", "champion", {**variant_body(artifact, 100), "request_schema": PROBING_REQUEST_SCHEMA}
    )
    return server


def test_overload_is_a_json_503_counted_for_the_routed_variant_and_health_still_answers(tmp_path: Path) -> None:
    server = probing_server(tmp_path, ServingLimits(model_threads=1, max_pending=2))
    try:
        client = EndpointClient(server.url, timeout_s=30)
        started = time.time()
        with ThreadPoolExecutor(6) as pool:
            slow = [pool.submit(client.invoke, "slow", {"sleep": 1.5}) for _ in range(2)]
            time.sleep(0.3)  # both admitted: one runs, one waits for the model thread
            overloaded = [pool.submit(client.invoke, "slow", {"sleep": 0}) for _ in range(3)]
            overloaded_answers = [f.result() for f in overloaded]
            health_started = time.monotonic()
            assert client.request("GET", "/healthz")[0] == 200
            health_s = time.monotonic() - health_started
            assert [f.result()[0] for f in slow] == [200, 200]
        for status, variant, body in overloaded_answers:
            assert (status, variant) == (503, "champion")
            assert "overloaded" in body["error"]
        assert health_s < 1.0, f"/healthz took {health_s:.2f} s behind model work"
        counts = client.window("slow", started - 1, time.time() + 1)["champion"]
        assert (counts["requests"], counts["errors_5xx"]) == (5, 3)
        assert client.invoke("slow", {})[0] == 200  # slots are given back
    finally:
        server.stop()


def test_a_model_slower_than_the_timeout_is_a_504_counted_for_the_variant(tmp_path: Path) -> None:
    server = probing_server(tmp_path, ServingLimits(request_timeout_s=0.5))
    try:
        client = EndpointClient(server.url)
        started = time.time()
        status, variant, body = client.invoke("slow", {"sleep": 2})
        assert (status, variant) == (504, "champion")
        assert "did not answer within 0.5 s" in body["error"]
        counts = client.window("slow", started - 1, time.time() + 1)["champion"]
        assert (counts["requests"], counts["errors_5xx"]) == (1, 1)
        assert counts["latency_p99_ms"] >= 500
        metrics = client.metrics()
        assert 'mlprovider_invocation_5xx_total{endpoint="slow",variant="champion",probe="false"} 1' in metrics
    finally:
        server.stop()


def test_requests_share_one_kept_alive_connection(server: EndpointServer, artifacts: dict[str, Path]) -> None:
    EndpointClient(server.url, TOKEN).put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        reader = sock.makefile("rb")
        for x in range(12):  # 13 makes the test model raise
            sock.sendall(http_request("POST", "/endpoints/sales/invocations", json.dumps({"x": x}).encode()))
            assert reader.readline().split()[1] == b"200"
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert json.loads(reader.read(int(headers["content-length"])))["prediction"] == x * 2.0
            assert headers.get("connection") != "close"


def test_idle_connections_hold_no_threads(server: EndpointServer) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    before = threading.active_count()
    sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in range(300)]
    try:
        time.sleep(0.5)
        assert threading.active_count() - before < 5
        assert EndpointClient(server.url).request("GET", "/healthz")[0] == 200
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("limits", [{"model_threads": 0}, {"model_threads": 4, "max_pending": 2}, {"request_timeout_s": 0}])
def test_limits_refuse_nonsense(limits: dict) -> None:
    with pytest.raises(ValueError):
        ServingLimits(**limits)
