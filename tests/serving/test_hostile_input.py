"""Malformed and hostile requests over raw sockets (issue 9, item 5): each gets a 4xx JSON answer, never a
dropped connection, a hang or a 5xx counted against the variant; model exceptions stay 500."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from airflow_mlprovider.serving.app import ServingLimits
from airflow_mlprovider.serving.client import EndpointClient
from airflow_mlprovider.serving.server import EndpointServer
from tests.serving.serving_testing import (
    PROBING_MODEL_CODE,
    PROBING_REQUEST_SCHEMA,
    TOKEN,
    http_request,
    make_artifact,
    raw_http,
    variant_body,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def sales(server: EndpointServer, artifacts: dict[str, Path]) -> EndpointServer:
    EndpointClient(server.url, TOKEN).put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    return server


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


def window_of(server: EndpointServer, started: float) -> dict:
    return EndpointClient(server.url).window("sales", started - 1, time.time() + 1)


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_json_is_a_400(sales: EndpointServer, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"x":' * depth + b"1" + b"}" * depth):
        status, headers, answer = raw_http(sales.url, http_request("POST", "/endpoints/sales/invocations", body))
        assert (status, headers["content-type"]) == (400, "application/json")
        assert "nested too deeply" in error_of(answer)
    assert EndpointClient(sales.url).invoke("sales", {"x": 2})[0] == 200


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_window_with_a_non_finite_bound_is_a_400(sales: EndpointServer, value: str) -> None:
    for query in (f"start={value}&end=10", f"start=0&end={value}"):
        status, _, answer = raw_http(sales.url, http_request("GET", f"/admin/endpoints/sales/window?{query}"))
        assert status == 400 and "finite" in error_of(answer)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(sales: EndpointServer, literal: bytes) -> None:
    status, _, answer = raw_http(sales.url, http_request("POST", "/endpoints/sales/invocations", b'{"x": ' + literal + b"}"))
    assert status == 400 and "not a JSON number" in error_of(answer)
    weights = json.dumps({"champion": 100}).replace("100", literal.decode()).encode()
    status, _, _ = raw_http(sales.url, http_request("PUT", "/admin/endpoints/sales/weights", weights, AUTH))
    assert status == 400


def test_a_value_breaking_the_schema_format_is_a_400_not_a_model_500(server: EndpointServer, tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path / "probing", 1.0, PROBING_MODEL_CODE)
    admin = EndpointClient(server.url, TOKEN)
    admin.put_variant("sales", "champion", {**variant_body(artifact, 100), "request_schema": PROBING_REQUEST_SCHEMA})
    started = time.time()
    for day in ("garbage", "2024-13-45", "2024-02-30"):
        status, _, answer = raw_http(server.url, http_request("POST", "/endpoints/sales/invocations", json.dumps({"day": day}).encode()))
        assert status == 400 and "is not a 'date'" in error_of(answer), answer
    assert admin.invoke("sales", {"day": "2024-02-29"})[0] == 200
    counts = window_of(server, started)["champion"]
    assert (counts["requests"], counts["errors_4xx"], counts["errors_5xx"]) == (4, 3, 0)


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH", "PUT", "DELETE"])
def test_a_method_the_route_does_not_take_is_a_405_with_allow(sales: EndpointServer, method: str) -> None:
    status, headers, answer = raw_http(sales.url, http_request(method, "/endpoints/sales/invocations"))
    assert status == 405 and headers["allow"] == "POST"
    if method != "HEAD":
        assert "not allowed" in error_of(answer)


def test_head_of_a_read_route_is_its_get_without_a_body(sales: EndpointServer) -> None:
    status, headers, body = raw_http(sales.url, http_request("HEAD", "/healthz"))
    assert (status, headers["content-type"], body) == (200, "application/json", b"")


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /endpoints/sales/invocations HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
     b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"],
)
def test_an_unparseable_request_gets_a_json_400(sales: EndpointServer, request_bytes: bytes) -> None:
    status, headers, answer = raw_http(sales.url, request_bytes)
    assert (status, headers["content-type"]) == (400, "application/json")
    assert error_of(answer)


def test_a_body_shorter_than_its_content_length_times_out_with_408(artifacts: dict[str, Path]) -> None:
    limits = ServingLimits(body_timeout_s=0.5)
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, limits=limits) as server:
        EndpointClient(server.url, TOKEN).put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        started = time.monotonic()
        short = http_request("POST", "/endpoints/sales/invocations", b'{"x": 1}', {"Content-Length": "100"})
        status, headers, answer = raw_http(server.url, short)
        assert (status, headers["connection"]) == (408, "close")
        assert "did not arrive within 0.5 s" in error_of(answer)
        assert time.monotonic() - started < 5
        assert EndpointClient(server.url).invoke("sales", {"x": 1})[0] == 200


def test_a_body_above_the_limit_is_a_413(artifacts: dict[str, Path]) -> None:
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, limits=ServingLimits(max_body_bytes=1000)) as server:
        huge = http_request("POST", "/endpoints/sales/invocations", b"", {"Content-Length": str(10**12)})
        assert raw_http(server.url, huge)[0] == 413
        chunked = (b"POST /endpoints/sales/invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"7d0\r\n" + b" " * 2000 + b"\r\n0\r\n\r\n")
        assert raw_http(server.url, chunked)[0] == 413


@pytest.mark.parametrize("name", ["../../escape", "..", "a/b", ".hidden", "x" * 200, "sp ace"])
def test_a_variant_or_endpoint_name_that_is_not_a_plain_name_is_refused(
    server: EndpointServer, artifacts: dict[str, Path], tmp_path: Path, name: str
) -> None:
    marker = f"{name}-{uuid.uuid4().hex}"
    admin = EndpointClient(server.url, TOKEN)
    for endpoint, variant in ((marker, "v"), ("sales", marker)):
        status, _, body = admin.request(
            "PUT", f"/admin/endpoints/{_quoted(endpoint)}/variants/{_quoted(variant)}", variant_body(artifacts["champion"], 100), admin=True
        )
        assert status == 400 and "name" in body["error"], body
    work_dir = Path(server.table.work_dir)
    assert not list(work_dir.iterdir())  # nothing loaded
    for folder in (work_dir.parent, work_dir.parent.parent):
        assert not [p for p in folder.iterdir() if marker.rsplit("/", 1)[-1] in p.name]


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@pytest.mark.parametrize(
    "ref", ["http://10.255.255.1/schema.json", "https://example.invalid/x#/a", "other.json", "#/$defs/missing", "#nowhere"]
)
def test_a_request_schema_ref_outside_the_schema_is_refused_at_deploy(
    sales: EndpointServer, artifacts: dict[str, Path], ref: str
) -> None:
    admin = EndpointClient(sales.url, TOKEN, timeout_s=5)
    schema = {"type": "object", "properties": {"x": {"$ref": ref}}, "$defs": {"number": {"type": "number"}}}
    started = time.monotonic()
    status, _, body = admin.request(
        "PUT", "/admin/endpoints/sales/variants/candidate", {**variant_body(artifacts["candidate"], 0), "request_schema": schema}, admin=True
    )
    assert status == 400 and "$ref" in body["error"], body
    assert set(admin.endpoint("sales")["variants"]) == {"champion"}
    assert admin.invoke("sales", {"x": 1})[0] == 200
    assert time.monotonic() - started < 5


def test_a_ref_inside_the_schema_is_resolved(sales: EndpointServer, artifacts: dict[str, Path]) -> None:
    admin = EndpointClient(sales.url, TOKEN)
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/number"}}, "$defs": {"number": {"type": "number"}}}
    admin.put_variant("sales", "candidate", {**variant_body(artifacts["candidate"], 0), "request_schema": schema})
    assert admin.invoke("sales", {"x": 2}, variant="candidate")[0] == 200
    assert admin.invoke("sales", {"x": "two"}, variant="candidate")[0] == 400


def test_a_model_exception_stays_a_500(sales: EndpointServer) -> None:
    status, _, answer = raw_http(sales.url, http_request("POST", "/endpoints/sales/invocations", b'{"x": 13}'))
    assert (status, error_of(answer)) == (500, "model raised ValueError: unlucky input")


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
def test_a_silent_or_trickling_connection_gets_a_408_and_is_closed(sent: bytes) -> None:
    with EndpointServer("127.0.0.1", 0, limits=ServingLimits(body_timeout_s=0.5)) as server:
        started = time.monotonic()
        status, headers, answer = raw_http(server.url, sent)
        assert (status, headers["connection"]) == (408, "close")
        assert "no complete request head within 0.5 s" in error_of(answer)
        assert time.monotonic() - started < 5
