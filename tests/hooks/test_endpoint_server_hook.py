"""EndpointServerHook: the server's address and admin token come from its connection, and only go there."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_mlprovider.hooks.endpoint_server import EndpointServerHook


class Recorder:
    """A listener on 127.0.0.1 recording each request's path and Authorization header."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append((self.path, self.headers.get("Authorization")))
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = _answer  # noqa: N815 - the stdlib's names

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorders() -> Iterator[tuple[Recorder, Recorder]]:
    server, elsewhere = Recorder(), Recorder()
    yield server, elsewhere
    server.close()
    elsewhere.close()


def connect(monkeypatch: pytest.MonkeyPatch, conn_id: str, **connection: object) -> EndpointServerHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mlprovider_endpoint", **connection}))
    return EndpointServerHook(conn_id)


def test_the_address_is_the_connection_s(monkeypatch: pytest.MonkeyPatch) -> None:
    assert connect(monkeypatch, "a", host="10.0.0.5", port=9000).base_url == "http://10.0.0.5:9000"
    assert connect(monkeypatch, "b").base_url == "http://127.0.0.1:8765"
    assert connect(monkeypatch, "c", host="https://models.internal:8443/some/path", schema="").base_url == (
        "https://models.internal:8443")
    with pytest.raises(ValueError, match="scheme must be http or https"):
        _ = connect(monkeypatch, "d", host="h", schema="ftp").base_url


def test_the_admin_token_goes_to_the_connection_host_only(monkeypatch: pytest.MonkeyPatch, recorders) -> None:
    server, elsewhere = recorders
    hook = connect(monkeypatch, "endpoint_a", host="127.0.0.1", port=server.port, password="s3cret")
    hook.admin_client().set_weights("sales", {"v1": 100})
    hook.get_conn().endpoint("sales")
    assert server.seen == [("/admin/endpoints/sales/weights", "Bearer s3cret"), ("/endpoints/sales", None)]
    assert elsewhere.seen == []


def test_admin_calls_need_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="has no password: it must hold the admin token"):
        connect(monkeypatch, "no_token", host="127.0.0.1").admin_client()


def test_a_missing_connection_says_what_to_create() -> None:
    with pytest.raises(RuntimeError, match='AIRFLOW_CONN_NOT_THERE=.*"conn_type": "mlprovider_endpoint"'):
        _ = EndpointServerHook("not_there").base_url


def test_test_connection_probes_the_server(monkeypatch: pytest.MonkeyPatch, recorders) -> None:
    server, _ = recorders
    ok, message = connect(monkeypatch, "probe", host="127.0.0.1", port=server.port).test_connection()
    assert ok and f"127.0.0.1:{server.port}" in message and server.seen == [("/healthz", None)]
