"""A small urllib client of the local endpoint server: what the serving/metrics backends and the traffic tool use."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_URL = "http://127.0.0.1:8765"


class EndpointServerUnreachable(ConnectionError):
    """Nothing answers at the server's URL."""


class EndpointServerError(RuntimeError):
    """The server refused an admin or read call; the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class EndpointClient:
    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: Any = None, *, admin: bool = False) -> tuple[int, Message, Any]:
        """One call; returns (status, headers (case-insensitive), parsed JSON body or text). HTTP errors are
        returned, not raised."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if admin and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.status, resp.headers, _decode(resp.headers.get("Content-Type"), resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers, _decode(err.headers.get("Content-Type"), err.read())
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EndpointServerUnreachable(
                f"the mlprovider endpoint server at {self.url} is not reachable ({reason}); "
                f"start it with `mlprovider serve` (see docs/serving.md)"
            ) from None

    def _checked(self, method: str, path: str, body: Any = None, *, admin: bool = False) -> Any:
        status, _, payload = self.request(method, path, body, admin=admin)
        if status >= 400:
            message = payload.get("error", payload) if isinstance(payload, dict) else payload
            raise EndpointServerError(status, f"{method} {path}: {message}")
        return payload

    # --- the API -----------------------------------------------------------------------------------

    def endpoint(self, endpoint: str) -> dict[str, Any] | None:
        """GET /endpoints/{e}; None when the endpoint does not exist."""
        status, _, payload = self.request("GET", f"/endpoints/{quote(endpoint, safe='')}")
        if status == 404:
            return None
        if status >= 400:
            raise EndpointServerError(status, str(payload))
        return payload

    def put_variant(self, endpoint: str, variant: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._checked("PUT", f"/admin/endpoints/{quote(endpoint, safe='')}/variants/{quote(variant, safe='')}", body, admin=True)

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> dict[str, Any]:
        path = f"/admin/endpoints/{quote(endpoint, safe='')}/weights" + _generation_query(generation)
        return self._checked("PUT", path, weights, admin=True)

    def delete_variant(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        path = f"/admin/endpoints/{quote(endpoint, safe='')}/variants/{quote(variant, safe='')}" + _generation_query(generation)
        self._checked("DELETE", path, admin=True)

    def fence(self, endpoint: str) -> int:
        """Start a new weight generation of the endpoint; returns it."""
        return self._checked("POST", f"/admin/endpoints/{quote(endpoint, safe='')}/fence", admin=True)["generation"]

    def invoke(self, endpoint: str, request: Any, variant: str | None = None) -> tuple[int, str | None, Any]:
        """One invocation, routed (variant None) or targeted; returns (status, X-Variant, body)."""
        path = f"/endpoints/{quote(endpoint, safe='')}"
        if variant is not None:
            path += f"/variants/{quote(variant, safe='')}"
        status, headers, payload = self.request("POST", path + "/invocations", request)
        return status, headers.get("X-Variant"), payload

    def window(self, endpoint: str, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Per-variant counts over [start, end)."""
        return self._window(endpoint, start, end)["variants"]

    def shadows(self, endpoint: str, start: float, end: float) -> dict[str, dict[str, dict[str, Any]]]:
        """shadow variant -> live variant -> agreement counts (serving/agreement.py) over [start, end)."""
        return self._window(endpoint, start, end).get("shadows", {})

    def _window(self, endpoint: str, start: float, end: float) -> dict[str, Any]:
        query = urlencode({"start": repr(float(start)), "end": repr(float(end))})
        return self._checked("GET", f"/admin/endpoints/{quote(endpoint, safe='')}/window?{query}")

    def metrics(self) -> str:
        return self._checked("GET", "/metrics")


def _generation_query(generation: int | None) -> str:
    return "" if generation is None else "?" + urlencode({"generation": int(generation)})


def _decode(content_type: str | None, raw: bytes) -> Any:
    if content_type and content_type.startswith("application/json"):
        return json.loads(raw) if raw else None
    return raw.decode()
