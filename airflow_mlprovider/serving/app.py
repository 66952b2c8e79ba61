"""The ASGI application of the local endpoint server: routes, limits and status codes (Starlette requests and
responses; uvicorn serves it, see server.py).

Routes (JSON in and out):
    POST   /endpoints/{e}/invocations                   weighted routing, fault injection, header X-Variant
    POST   /endpoints/{e}/variants/{v}/invocations      targeted probe: no fault injection, probe="true" metrics
    GET    /endpoints                                    endpoint names
    GET    /endpoints/{e}                                {"generation": n, "variants": {name: {weight, ...}}}
    GET    /metrics                                      Prometheus text format
    GET    /healthz                                      {"status": "ok"}
    GET    /admin/endpoints/{e}/window?start=&end=       per-variant counts over a window (read-only, no token)
    GET    /admin/endpoints/{e}/window?start=&end=       ... and "shadows": agreement of shadow and live variants
    PUT    /admin/endpoints/{e}/variants/{v}             load a variant, `"shadow": true` to mirror to it (Bearer token)
    PUT    /admin/endpoints/{e}/weights[?generation=n]   replace the routing table (Bearer token)
    DELETE /admin/endpoints/{e}/variants/{v}[?generation=n]  remove a variant, 204 even when absent (Bearer token)
    POST   /admin/endpoints/{e}/fence                    start a new weight generation (Bearer token)

Model work (parsing the body, validation, predict()) runs in a bounded thread pool, never on the event loop,
so /healthz and the read routes answer while every model thread is busy. An invocation that finds the pool
full is answered 503, one that does not finish in time 504; both count as 5xx of the variant it was routed to.
Shadow variants get a copy of each routed request after its live answer, on a pool of their own
(serving/mirror.py): mirroring never delays or fails a live request.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from airflow_mlprovider.serving.endpoints import EndpointTable
from airflow_mlprovider.serving.errors import ServingError
from airflow_mlprovider.serving.json_body import encode, parse_body
from airflow_mlprovider.serving.mirror import ShadowMirror
from airflow_mlprovider.serving.outcome import Outcome
from airflow_mlprovider.serving.prometheus import PrometheusCounters
from airflow_mlprovider.serving.variants import Answer, LoadedVariant, VariantConfig
from airflow_mlprovider.serving.window import TrafficWindow

log = logging.getLogger(__name__)

ADMIN_DISABLED = (
    "the admin API is disabled: the server was started without a token "
    "(set MLPROVIDER_ENDPOINT_TOKEN, or pass --conn-id with a connection whose password is the token)"
)
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class ServingLimits:
    """What one server takes on at once, and how long it waits."""

    model_threads: int = 4  # threads running model code; each request's model call runs on one of them
    max_pending: int = 256  # model calls admitted at once (running + queued); beyond: 503 at once
    request_timeout_s: float = 30.0  # an invocation (queue wait + model) not done by then: 504
    body_timeout_s: float = 10.0  # a request head or body not fully received by then: 408, connection closed
    max_body_bytes: int = 10 * 1024 * 1024  # larger: 413
    shadow_threads: int = 1  # threads answering mirrored requests on shadow variants (never live traffic's)
    max_shadow_pending: int = 64  # mirrored calls queued or running at once; beyond: the mirror is dropped, counted

    def __post_init__(self) -> None:
        if self.model_threads < 1 or self.max_pending < self.model_threads:
            raise ValueError(f"need 1 <= model_threads <= max_pending, got {self.model_threads} and {self.max_pending}")
        if self.shadow_threads < 1 or self.max_shadow_pending < self.shadow_threads:
            raise ValueError(f"need 1 <= shadow_threads <= max_shadow_pending, got {self.shadow_threads} and "
                             f"{self.max_shadow_pending}")
        if self.request_timeout_s <= 0 or self.body_timeout_s <= 0 or self.max_body_bytes <= 0:
            raise ValueError("timeouts and the body limit must be above 0")


Handler = Callable[..., Awaitable[Response]]


class ServingApp:
    """The ASGI callable. Routes match the raw (still percent-encoded) path, so a name may hold any character
    and is judged by the endpoint table (a '/' in a name is a 400, never another route)."""

    def __init__(
        self, table: EndpointTable, window: TrafficWindow, counters: PrometheusCounters,
        admin_token: str | None, limits: ServingLimits,
    ) -> None:
        self.table = table
        self.window = window
        self.counters = counters
        self.admin_token = admin_token or None
        self.limits = limits
        self._model_pool = ThreadPoolExecutor(limits.model_threads, thread_name_prefix="mlprovider-model")
        self._admin_pool = ThreadPoolExecutor(2, thread_name_prefix="mlprovider-admin")  # loading artifacts
        self._slots = threading.BoundedSemaphore(limits.max_pending)
        self._mirror = ShadowMirror(window, counters, limits.shadow_threads, limits.max_shadow_pending)
        # (method, path pattern, handler, needs the admin token)
        name = r"([^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = [
            ("POST", re.compile(rf"/endpoints/{name}/invocations"), self._invoke_routed, False),
            ("POST", re.compile(rf"/endpoints/{name}/variants/{name}/invocations"), self._invoke_probe, False),
            ("GET", re.compile(r"/endpoints"), self._get_endpoints, False),
            ("GET", re.compile(rf"/endpoints/{name}"), self._get_endpoint, False),
            ("GET", re.compile(r"/metrics"), self._get_metrics, False),
            ("GET", re.compile(r"/healthz"), self._get_health, False),
            ("GET", re.compile(rf"/admin/endpoints/{name}/window"), self._get_window, False),
            ("PUT", re.compile(rf"/admin/endpoints/{name}/variants/{name}"), self._put_variant, True),
            ("PUT", re.compile(rf"/admin/endpoints/{name}/weights"), self._put_weights, True),
            ("DELETE", re.compile(rf"/admin/endpoints/{name}/variants/{name}"), self._delete_variant, True),
            ("POST", re.compile(rf"/admin/endpoints/{name}/fence"), self._post_fence, True),
        ]

    def close(self) -> None:
        """Stop taking model work; a model call still running finishes on its own (its thread is not joined)."""
        self._model_pool.shutdown(wait=False, cancel_futures=True)
        self._admin_pool.shutdown(wait=False, cancel_futures=True)
        self._mirror.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except ServingError as exc:
            response = error_response(exc.status, exc.message)
        except ClientDisconnect:
            return  # nobody to answer
        except Exception:  # noqa: BLE001 - a server bug answers 500 JSON and the server keeps serving
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = error_response(500, "internal error of the endpoint server (logged)")
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(request.scope["path"])
        method = request.method
        allowed: list[str] = []
        for route_method, pattern, handler, admin in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method and not (method == "HEAD" and route_method == "GET"):
                allowed.append(route_method)
                continue
            if admin:
                self._check_admin(request.headers.get("authorization"))
            return await handler(request, *(unquote(group) for group in match.groups()))
        if allowed:
            allow = ", ".join(sorted({*allowed, *(["HEAD"] if "GET" in allowed else [])}))
            return error_response(405, f"{method} not allowed on {unquote(path)}; allowed: {allow}", {"Allow": allow})
        raise ServingError(404, f"no route {method} {unquote(path)} (see docs/serving.md)")

    def _check_admin(self, authorization: str | None) -> None:
        if self.admin_token is None:
            raise ServingError(403, ADMIN_DISABLED)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            raise ServingError(401, "admin API: missing or wrong 'Authorization: Bearer <token>'")

    async def _read_body(self, request: Request) -> bytes:
        """The whole body within the limits: 413 above the size, 408 when it does not arrive in time."""
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
            raise ServingError(413 if declared.isdigit() else 400, f"Content-Length {declared!r}: at most {limit} bytes")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ServingError(413, f"body above the limit of {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise ServingError(408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s") from None
        return b"".join(chunks)

    async def _admin_body(self, request: Request) -> Any:
        return parse_body(await self._read_body(request))

    # --- invocations ----------------------------------------------------------------------------------

    async def _invoke_routed(self, request: Request, endpoint: str) -> Response:
        raw_body = await self._read_body(request)
        variant = self.table.route(endpoint)  # 404 / 503 before a variant is chosen: not a variant's outcome
        fault = variant.config.fault_injection
        if fault > 0 and self.table.draw() < fault:
            answer = Answer.error(503, f"fault injected ({fault:g} of routed requests)")
        else:
            answer = await self._run_model(variant, raw_body)
        shadows = self.table.shadows(endpoint)
        if shadows:
            self._mirror.mirror(endpoint, variant, answer, raw_body, shadows)
        return self._record(endpoint, variant, answer, probe=False)

    async def _invoke_probe(self, request: Request, endpoint: str, variant_name: str) -> Response:
        raw_body = await self._read_body(request)
        variant = self.table.variant(endpoint, variant_name)
        return self._record(endpoint, variant, await self._run_model(variant, raw_body), probe=True)

    async def _run_model(self, variant: LoadedVariant, raw_body: bytes) -> Answer:
        """The variant's answer from a model thread: 503 when every slot is taken, 504 past the timeout."""
        if not self._slots.acquire(blocking=False):
            return Answer.error(503, f"server overloaded: {self.limits.max_pending} model calls in progress; retry later")
        try:
            future: Future[Answer] = self._model_pool.submit(variant.answer, raw_body)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._slots.release()
            return Answer.error(503, "the server is stopping")
        future.add_done_callback(lambda _: self._slots.release())  # the slot is free when the thread is
        timeout_s = self.limits.request_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.wrap_future(future)  # cancelling this cancels a call still queued
        except TimeoutError:
            return Answer.error(504, f"the model did not answer within {timeout_s:g} s", timeout_s)
        except Exception:  # noqa: BLE001 - a failure outside the model's code still counts for the variant
            log.exception("variant %s: answering failed", variant.name)
            return Answer.error(500, "internal error of the endpoint server while answering (logged)")

    def _record(self, endpoint: str, variant: LoadedVariant, answer: Answer, probe: bool) -> Response:
        outcome = Outcome(endpoint, variant.name, answer.status, probe, answer.latency_s, answer.prediction,
                          answer.request)
        self.window.record(outcome)
        self.counters.record(outcome)
        headers = {"X-Variant": variant.name}
        if answer.status == 503:
            headers["Retry-After"] = "1"
        return Response(answer.content, answer.status, headers, media_type="application/json")

    # --- reads ----------------------------------------------------------------------------------------

    async def _get_endpoints(self, request: Request) -> Response:
        return json_response({"endpoints": self.table.endpoint_names()})

    async def _get_endpoint(self, request: Request, endpoint: str) -> Response:
        return json_response(self.table.describe(endpoint))

    async def _get_metrics(self, request: Request) -> Response:
        return Response(self.counters.render(self.table.traffic_percent()), media_type=PROMETHEUS_TYPE)

    async def _get_health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def _get_window(self, request: Request, endpoint: str) -> Response:
        start, end = finite_query_number(request, "start"), finite_query_number(request, "end")
        if end < start:
            raise ServingError(400, f"window end {end} is before start {start}")
        variants = self.window.query(endpoint, start, end)
        shadows = self.window.query_shadows(endpoint, start, end)
        return json_response({"endpoint": endpoint, "start": start, "end": end, "variants": variants, "shadows": shadows})

    # --- admin ----------------------------------------------------------------------------------------

    async def _put_variant(self, request: Request, endpoint: str, variant: str) -> Response:
        config = VariantConfig.from_body(await self._admin_body(request))
        loop = asyncio.get_running_loop()  # copying, verifying and importing takes a thread, not the event loop
        loaded = await loop.run_in_executor(self._admin_pool, self.table.put_variant, endpoint, variant, config)
        return json_response({"endpoint": endpoint, "variant": variant, **loaded.describe()})

    async def _put_weights(self, request: Request, endpoint: str) -> Response:
        weights = self.table.set_weights(endpoint, await self._admin_body(request), query_generation(request))
        return json_response({"endpoint": endpoint, "weights": weights})

    async def _delete_variant(self, request: Request, endpoint: str, variant: str) -> Response:
        generation = query_generation(request)
        await self._read_body(request)
        self.table.remove(endpoint, variant, generation)
        return Response(status_code=204)

    async def _post_fence(self, request: Request, endpoint: str) -> Response:
        await self._read_body(request)
        return json_response({"endpoint": endpoint, "generation": self.table.fence(endpoint)})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status, headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status in (408, 413):  # the rest of the request may still be on its way: end the connection
        headers["Connection"] = "close"
    return json_response({"error": message}, status, headers)


def finite_query_number(request: Request, name: str) -> float:
    try:
        value = float(request.query_params[name])
    except (KeyError, ValueError):
        raise ServingError(400, "window needs numeric query parameters start and end (unix seconds)") from None
    if not math.isfinite(value):
        raise ServingError(400, f"window {name} must be a finite number of unix seconds, got {value}")
    return value


def query_generation(request: Request) -> int | None:
    """The `generation` query parameter of a fenced change; None when the call is unfenced."""
    value = request.query_params.get("generation")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ServingError(400, f"generation must be a non-negative integer, got {value!r}")
    return int(value)
