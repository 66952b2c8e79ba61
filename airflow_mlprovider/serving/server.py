"""The HTTP layer of the local endpoint server (stdlib ThreadingHTTPServer: no web framework to install).

Routes (JSON in and out):
    POST   /endpoints/{e}/invocations                   weighted routing, fault injection, header X-Variant
    POST   /endpoints/{e}/variants/{v}/invocations      targeted probe: no fault injection, probe="true" metrics
    GET    /endpoints                                    endpoint names
    GET    /endpoints/{e}                                {"variants": {name: {weight, traffic_percent, ...}}}
    GET    /metrics                                      Prometheus text format
    GET    /healthz                                      {"status": "ok"}
    GET    /admin/endpoints/{e}/window?start=&end=       per-variant counts over a window (read-only, no token)
    PUT    /admin/endpoints/{e}/variants/{v}             load a variant (Bearer token)
    PUT    /admin/endpoints/{e}/weights                  replace the routing table (Bearer token)
    DELETE /admin/endpoints/{e}/variants/{v}             remove a variant, 204 even when absent (Bearer token)
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_mlprovider.serving.endpoints import EndpointTable
from airflow_mlprovider.serving.errors import ServingError
from airflow_mlprovider.serving.outcome import Outcome
from airflow_mlprovider.serving.prometheus import PrometheusCounters
from airflow_mlprovider.serving.variants import LoadedVariant, VariantConfig
from airflow_mlprovider.serving.window import DEFAULT_RETENTION_S, TrafficWindow

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 10 * 1024 * 1024
_NAME = r"([^/]+)"
ADMIN_DISABLED = (
    "the admin API is disabled: the server was started without a token "
    "(set MLPROVIDER_ENDPOINT_TOKEN, or pass --conn-id with a connection whose password is the token)"
)


THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class EndpointServer:
    """The server and its state; `start()` serves from a background thread, `serve_forever()` from this one."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        admin_token: str | None = None,
        state_file: str | Path | None = None,
        seed: int | None = None,
        retention_s: float = DEFAULT_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Each request runs on its own thread: a model's numeric libraries must not start a thread pool per
        # prediction (OpenMP start-up costs ~100x a small prediction). Takes effect for libraries the models
        # import after this point, as in `mlprovider serve`; a worker's own setting wins.
        for variable in THREAD_ENV:
            os.environ.setdefault(variable, "1")
        self.admin_token = admin_token or None
        self._work_dir = tempfile.mkdtemp(prefix="mlprovider-serve-")
        self.table = EndpointTable(self._work_dir, state_file, seed)
        self.window = TrafficWindow(retention_s, clock)
        self.counters = PrometheusCounters()
        self.table.restore()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EndpointServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="mlprovider-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.table.close()
        shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling (called from handler threads) --------------------------------------------

    def invoke(self, endpoint: str, variant_name: str | None, body: Any) -> tuple[int, dict[str, Any], str | None]:
        """Route (or target) one request; returns (status, body, variant name). Records its metrics."""
        probe = variant_name is not None
        variant = self.table.variant(endpoint, variant_name) if probe else self.table.route(endpoint)
        outcome, answer_body = self._answer(endpoint, variant, body, probe)
        self.window.record(outcome)
        self.counters.record(outcome)
        return outcome.status, answer_body, variant.name

    def _answer(self, endpoint: str, variant: LoadedVariant, body: Any, probe: bool) -> tuple[Outcome, dict[str, Any]]:
        fault = variant.config.fault_injection
        if not probe and fault > 0 and self.table.draw() < fault:
            return Outcome(endpoint, variant.name, 503), {"error": f"fault injected ({fault:g} of routed requests)"}
        answer = variant.answer(body)
        return Outcome(endpoint, variant.name, answer.status, probe, answer.latency_s, answer.prediction), answer.body

    def check_admin(self, authorization: str | None) -> None:
        if self.admin_token is None:
            raise ServingError(403, ADMIN_DISABLED)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            raise ServingError(401, "admin API: missing or wrong 'Authorization: Bearer <token>'")

    def window_counts(self, endpoint: str, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            start, end = float(query["start"][0]), float(query["end"][0])
        except (KeyError, ValueError):
            raise ServingError(400, "window needs numeric query parameters start and end (unix seconds)") from None
        if end < start:
            raise ServingError(400, f"window end {end} is before start {start}")
        return {"endpoint": endpoint, "start": start, "end": end, "variants": self.window.query(endpoint, start, end)}


def _handler_for(server: EndpointServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        endpoint_server = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    endpoint_server: EndpointServer
    server_version = "mlprovider-serve"

    # (method, path pattern, handler method name, needs the admin token)
    ROUTES = [
        ("POST", re.compile(rf"^/endpoints/{_NAME}/invocations$"), "_post_invocation", False),
        ("POST", re.compile(rf"^/endpoints/{_NAME}/variants/{_NAME}/invocations$"), "_post_probe", False),
        ("GET", re.compile(r"^/endpoints$"), "_get_endpoints", False),
        ("GET", re.compile(rf"^/endpoints/{_NAME}$"), "_get_endpoint", False),
        ("GET", re.compile(r"^/metrics$"), "_get_metrics", False),
        ("GET", re.compile(r"^/healthz$"), "_get_health", False),
        ("GET", re.compile(rf"^/admin/endpoints/{_NAME}/window$"), "_get_window", False),
        ("PUT", re.compile(rf"^/admin/endpoints/{_NAME}/variants/{_NAME}$"), "_put_variant", True),
        ("PUT", re.compile(rf"^/admin/endpoints/{_NAME}/weights$"), "_put_weights", True),
        ("DELETE", re.compile(rf"^/admin/endpoints/{_NAME}/variants/{_NAME}$"), "_delete_variant", True),
    ]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        try:
            # read the whole body first: closing a socket with unread input resets it and the client loses the answer
            self.raw_body = self._read_body()
        except ServingError as exc:
            self.close_connection = True
            self._send(exc.status, {"error": exc.message})
            return
        allowed = []
        for route_method, pattern, handler, admin in self.ROUTES:
            match = pattern.match(split.path)
            if not match:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            try:
                if admin:
                    self.endpoint_server.check_admin(self.headers.get("Authorization"))
                getattr(self, handler)(*(unquote(group) for group in match.groups()))
            except ServingError as exc:
                self._send(exc.status, {"error": exc.message})
            return
        if allowed:
            self._send(405, {"error": f"{method} not allowed on {split.path}; allowed: {', '.join(allowed)}"})
        else:
            self._send(404, {"error": f"no route {method} {split.path} (see docs/serving.md)"})

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ServingError(400, "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES:
            raise ServingError(413, f"body of {length} bytes is above the limit of {MAX_BODY_BYTES}")
        return self.rfile.read(length) if length > 0 else b""

    def _body(self) -> Any:
        try:
            return json.loads(self.raw_body or b"null")
        except ValueError as exc:
            raise ServingError(400, f"body is not valid JSON: {exc}") from None

    def _send(self, status: int, body: dict[str, Any] | str | None, variant: str | None = None) -> None:
        if body is None:
            payload, content_type = b"", None
        elif isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; version=0.0.4; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(payload)))
        if variant is not None:
            self.send_header("X-Variant", variant)
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(payload)

    # --- routes ------------------------------------------------------------------------------------

    def _post_invocation(self, endpoint: str) -> None:
        status, body, variant = self.endpoint_server.invoke(endpoint, None, self._body())
        self._send(status, body, variant)

    def _post_probe(self, endpoint: str, variant: str) -> None:
        status, body, variant = self.endpoint_server.invoke(endpoint, variant, self._body())
        self._send(status, body, variant)

    def _get_endpoints(self) -> None:
        self._send(200, {"endpoints": self.endpoint_server.table.endpoint_names()})

    def _get_endpoint(self, endpoint: str) -> None:
        self._send(200, self.endpoint_server.table.describe(endpoint))

    def _get_metrics(self) -> None:
        self._send(200, self.endpoint_server.counters.render(self.endpoint_server.table.traffic_percent()))

    def _get_health(self) -> None:
        self._send(200, {"status": "ok"})

    def _get_window(self, endpoint: str) -> None:
        self._send(200, self.endpoint_server.window_counts(endpoint, self.query))

    def _put_variant(self, endpoint: str, variant: str) -> None:
        loaded = self.endpoint_server.table.put_variant(endpoint, variant, VariantConfig.from_body(self._body()))
        self._send(200, {"endpoint": endpoint, "variant": variant, **loaded.describe()})

    def _put_weights(self, endpoint: str) -> None:
        self._send(200, {"endpoint": endpoint, "weights": self.endpoint_server.table.set_weights(endpoint, self._body())})

    def _delete_variant(self, endpoint: str, variant: str) -> None:
        self.endpoint_server.table.remove(endpoint, variant)
        self._send(204, None)
