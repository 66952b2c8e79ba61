"""ServingBackend and MetricsSource of the embedded default: HTTP calls to the local endpoint server.

The server is started with `mlprovider serve`; where it listens and its admin token come from an Airflow
connection of type `mlprovider_endpoint` (hooks/endpoint_server.py), never from a spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_mlprovider.backends.base import AgreementCounts, StaleFenceError, Variant, VariantCounts, check_weights
from airflow_mlprovider.hooks.endpoint_server import EndpointServerHook
from airflow_mlprovider.serving.client import EndpointClient, EndpointServerError


class LocalEndpointServing:
    """An endpoint of the local server named by an `mlprovider_endpoint` connection; weights are percent."""

    def __init__(self, endpoint_conn_id: str = EndpointServerHook.default_conn_name) -> None:
        self.hook = EndpointServerHook(endpoint_conn_id)

    @cached_property
    def reader(self) -> EndpointClient:
        """Reads and probes need no token."""
        return self.hook.get_conn()

    @cached_property
    def admin(self) -> EndpointClient:
        """The admin client, built only when an admin call needs the token."""
        return self.hook.admin_client()

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
                "prediction_field": variant.prediction_field,
                # the server refuses an artifact whose manifest is not the registry's
                "manifest_digest": variant.manifest_digest or None,
                "shadow": variant.shadow,
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

    def __init__(self, endpoint_conn_id: str = EndpointServerHook.default_conn_name) -> None:
        self.hook = EndpointServerHook(endpoint_conn_id)

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        counts = self.hook.get_conn().window(endpoint, start, end)
        return {name: VariantCounts(**counts[name]) if name in counts else VariantCounts() for name in variants}

    def agreement(self, endpoint: str, shadow: str, live: str, start: float, end: float) -> AgreementCounts:
        pair = self.hook.get_conn().shadows(endpoint, start, end).get(shadow, {}).get(live)
        return AgreementCounts.from_dict(pair) if pair else AgreementCounts()


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
