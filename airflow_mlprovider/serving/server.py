"""The local endpoint server: its state (endpoint table, traffic window, counters) served by uvicorn.

uvicorn (httptools + uvloop when installed, as with Airflow's own API server) keeps connections alive, so a
client pays for one connection instead of one per request; an idle connection costs a socket, not a thread.
The socket is bound here with a large listen backlog, so bursts of new connections wait instead of being
reset. The HTTP API and its limits live in app.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from airflow_mlprovider.serving.app import ServingApp, ServingLimits
from airflow_mlprovider.serving.endpoints import EndpointTable
from airflow_mlprovider.serving.json_body import encode
from airflow_mlprovider.serving.prometheus import PrometheusCounters
from airflow_mlprovider.serving.window import DEFAULT_RETENTION_S, TrafficWindow

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
KEEP_ALIVE_S = 5.0  # an idle keep-alive connection is closed after this
SHUTDOWN_GRACE_S = 5.0  # requests still running at stop() get this long to finish
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with two guards: a request it cannot parse gets a JSON 400 like every other
    error, and a request head (request line and headers) must be complete within `head_timeout_s` of the
    connection opening or the request starting, else a JSON 408 and the connection is closed. A silent or
    trickling client holds a socket for seconds, never forever (uvicorn alone times out only idle
    keep-alive connections)."""

    head_timeout_s = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # the next request of a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._answer_and_close(400, "Bad Request", f"malformed HTTP request: {msg}")

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._answer_and_close(408, "Request Timeout", f"no complete request head within {self.head_timeout_s:g} s")

    def _answer_and_close(self, status: int, reason: str, message: str) -> None:
        content = encode({"error": message})
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(content)}\r\n\r\n".encode() + content
        )
        self.transport.close()


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
        limits: ServingLimits | None = None,
    ) -> None:
        # Model threads must not start a numeric thread pool per prediction (OpenMP start-up costs ~100x a
        # small prediction). Takes effect for libraries the models import after this point, as in `mlprovider
        # serve`; a deployment's own setting wins.
        for variable in THREAD_ENV:
            os.environ.setdefault(variable, "1")
        self._work_dir = tempfile.mkdtemp(prefix="mlprovider-serve-")
        self.table = EndpointTable(self._work_dir, state_file, seed)
        self.window = TrafficWindow(retention_s, clock)
        self.counters = PrometheusCounters()
        self.table.restore()
        self.app = ServingApp(self.table, self.window, self.counters, admin_token, limits or ServingLimits())
        self._socket = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
        config = uvicorn.Config(
            self.app, ws="none",
            http=type("HttpProtocol", (GuardedHttpProtocol,), {"head_timeout_s": self.app.limits.body_timeout_s}), lifespan="off", log_config=None, access_log=False,
            backlog=LISTEN_BACKLOG, timeout_keep_alive=int(KEEP_ALIVE_S), timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
            server_header=False, proxy_headers=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def start(self) -> EndpointServer:
        """Serve from a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name="mlprovider-serve", daemon=True)
        self._thread.start()
        while not self._uvicorn.started:
            if not self._thread.is_alive():
                raise RuntimeError("the endpoint server stopped while starting (see the log)")
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        """Serve until stop() (or, from the main thread, SIGINT/SIGTERM)."""
        self._uvicorn.run(sockets=[self._socket])

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join()
        self._socket.close()
        self.app.close()
        self.table.close()
        shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
