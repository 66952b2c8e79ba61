"""ServingBackend and MetricsSource of the embedded default: HTTP calls to the local endpoint server.

The server is started with `mlprovider serve`; its admin token is the password of an Airflow connection
(serving.conn_id, default `mlprovider_endpoint`). Only stdlib and airflow.sdk are imported here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_mlprovider.backends.base import StaleFenceError, Variant, VariantCounts, check_weights
from airflow_mlprovider.serving.client import DEFAULT_URL, EndpointClient, EndpointServerError

if TYPE_CHECKING:
    from airflow_mlprovider.spec.model import ModelSpec

DEFAULT_CONN_ID = "mlprovider_endpoint"
URL_ENV = "MLPROVIDER_ENDPOINT_URL"  # the deployment's server, when specs and defaults name none


def _server_url(spec: ModelSpec) -> str:
    return (spec.serving.url if spec.serving and spec.serving.url else None) or os.environ.get(URL_ENV) or DEFAULT_URL


class LocalEndpointServing:
    """An endpoint of the local server; weights are percent of routed traffic."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.url = _server_url(spec)
        self.conn_id = (spec.serving.conn_id if spec.serving else None) or DEFAULT_CONN_ID
        self.reader = EndpointClient(self.url)  # reads and probes need no token

    @cached_property
    def admin(self) -> EndpointClient:
        """Read the admin token only when an admin call needs it."""
        try:
            token = BaseHook.get_connection(self.conn_id).password
        except Exception as exc:  # the SDK raises AirflowNotFoundException; say what to create instead
            raise RuntimeError(
                f"cannot read the endpoint server's admin token from Airflow connection {self.conn_id!r} ({exc}); "
                f"create it with the token as password, e.g. AIRFLOW_CONN_{self.conn_id.upper()}="
                f"'{{\"conn_type\": \"generic\", \"password\": \"<MLPROVIDER_ENDPOINT_TOKEN>\"}}'"
            ) from exc
        if not token:
            raise RuntimeError(f"Airflow connection {self.conn_id!r} has no password: it must hold the admin token")
        return EndpointClient(self.url, token)

    def describe(self, endpoint: str) -> dict[str, float]:
        described = self.reader.endpoint(endpoint)
        if described is None:
            return {}
        return {name: v["traffic_percent"] for name, v in described["variants"].items()}

    def deploy(self, endpoint: str, variant: Variant, weight: float) -> None:
        self.admin.put_variant(
            endpoint,
            variant.name,
            {
                "artifact_uri": variant.artifact_uri,
                "request_schema": _read_json(variant.request_schema_path),
                "response_schema": _read_json(variant.response_schema_path),
                "weight": weight,
                "fault_injection": variant.fault_injection,
                "prediction_field": self.spec.evaluate.prediction_field,
                # the server refuses an artifact whose manifest is not the registry's
                "manifest_digest": variant.manifest_digest or None,
            },
        )

    def fence(self, endpoint: str) -> int:
        return self.admin.fence(endpoint)

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        check_weights(endpoint, weights, list(self.describe(endpoint)))
        with _refusals_as_contract_errors():
            self.admin.set_weights(endpoint, weights, generation)

    def invoke(self, endpoint: str, variant: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, _, body = self.reader.invoke(endpoint, request, variant=variant)
        return status, body if isinstance(body, dict) else {"error": body}

    def remove(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        with _refusals_as_contract_errors():
            self.admin.delete_variant(endpoint, variant, generation)


class LocalEndpointMetrics:
    """Per-variant counts from the server's window API (per-second buckets, kept 7 h)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.client = EndpointClient(_server_url(spec))

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        counts = self.client.window(endpoint, start, end)
        return {name: VariantCounts(**counts[name]) if name in counts else VariantCounts() for name in variants}


@contextmanager
def _refusals_as_contract_errors() -> Iterator[None]:
    """The server's 409 (stale generation) and 400 (weights refused) as ServingBackend's errors."""
    try:
        yield
    except EndpointServerError as exc:
        if exc.status == 409:
            raise StaleFenceError(str(exc)) from None
        if exc.status == 400:
            raise ValueError(str(exc)) from None
        raise


def _read_json(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read JSON Schema {path}: {exc}") from exc
