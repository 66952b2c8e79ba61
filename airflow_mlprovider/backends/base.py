"""One interface per concern. Operators talk only to these; each has a local and a cloud implementation.

Nothing here imports a heavy library: implementations import theirs inside methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_mlprovider.rollout.counts import VariantCounts  # noqa: F401  (part of the metrics interface)
from airflow_mlprovider.serving.agreement import AgreementCounts  # noqa: F401  (part of the metrics interface)


@dataclass(frozen=True)
class ExtractResult:
    uri: str  # a Parquet file, or a folder of Parquet files (large unloads)
    rows: int
    columns: tuple[str, ...]


class Warehouse(Protocol):
    """Runs the spec's SQL. Values are always bind parameters, never formatted into the SQL."""

    #: the DB-API placeholder this warehouse's driver expects ('?' for DuckDB, '%s' for Snowflake)
    placeholder: str

    def extract(self, sql: str, params: list[Any], dest_uri: str, store: ArtifactStore) -> ExtractResult:
        """Run `sql` with `params` and stream the result, in bounded batches, to Parquet at `dest_uri`."""
        ...


@dataclass(frozen=True)
class Versioned:
    data: bytes | None  # None: the object does not exist
    version: str | None  # an opaque token (ETag, mtime+size+hash...) for write_if


class ArtifactStore(Protocol):
    """Object storage for artifacts and the registry. URIs are file://... or s3://...; all writes are atomic."""

    def put_file(self, local_path: str, uri: str) -> None: ...
    def get_file(self, uri: str, local_path: str) -> None: ...
    def put_dir(self, local_dir: str, uri: str) -> None: ...
    def get_dir(self, uri: str, local_dir: str) -> None: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def exists(self, uri: str) -> bool: ...
    def list(self, prefix_uri: str) -> list[str]: ...
    def read_versioned(self, uri: str) -> Versioned: ...
    def write_if(self, uri: str, data: bytes, expected_version: str | None) -> bool:
        """Write only if the object is still at `expected_version` (None: only if it does not exist).

        Returns False, writing nothing, when another writer got there first.
        """
        ...


@dataclass(frozen=True)
class TrainingJob:
    model: str
    run_key: str
    module_path: str  # the model module (a file), with its folder shipped alongside
    train_uri: str
    validation_uri: str
    artifact_uri: str  # where the artifact folder must end up
    params: dict[str, Any]
    max_runtime_s: float
    data_interval_start: str
    data_interval_end: str
    spec_source: str = ""  # the spec file, named in errors (e.g. a max_runtime overrun)


@dataclass(frozen=True)
class TrainingResult:
    artifact_uri: str
    manifest: dict[str, str]  # relative file path -> sha256
    duration_s: float
    detail: dict[str, Any] = field(default_factory=dict)


class TrainingCompute(Protocol):
    def train(self, job: TrainingJob) -> TrainingResult:
        """Run the model's train() under a hard max runtime and write the artifact and its manifest."""
        ...

    def stop(self) -> None:
        """Stop the training this object started, if it still runs (the task was killed)."""
        ...


@dataclass(frozen=True)
class Variant:
    name: str
    artifact_uri: str  # the artifact folder (model/, code/, MANIFEST.json): its code/ module serves it
    request_schema_path: str
    response_schema_path: str
    fault_injection: float = 0.0
    manifest_digest: str = ""  # the registry's digest of the artifact; "" only for artifacts never registered
    prediction_field: str = "prediction"  # the response field the server's prediction metrics read
    shadow: bool = False  # deployed at weight 0, it receives a mirror of live requests (the shadow stage)


class StaleFenceError(RuntimeError):
    """A weight change or removal carried a generation older than the endpoint's newest fence: nothing changed."""


class EndpointChangeStarted(Exception):  # noqa: N818 - a signal, like Airflow's TaskDeferred, not an error
    """A backend built not to wait (SageMaker's `wait=False`) started an endpoint change that takes minutes.

    The caller waits elsewhere (an operator defers to the triggerer) until `endpoint` is in service again,
    then calls the backend's `finish_change(change)`, which verifies the change and does what follows it, and
    repeats its own call: calls are idempotent, so the repeat finds the change made and carries on.
    `change` is JSON-safe (it travels in a trigger's event).
    """

    def __init__(self, endpoint: str, change: dict) -> None:
        super().__init__(f"endpoint {endpoint}: change started ({change.get('kind')}), not yet in service")
        self.endpoint = endpoint
        self.change = change


def check_weights(endpoint: str, weights: dict[str, float], variants: list[str]) -> None:
    """The rules every backend's set_weights applies before routing: ValueError naming what is wrong."""
    if sorted(weights) != sorted(variants):
        raise ValueError(
            f"weights of endpoint {endpoint!r} must name every variant {sorted(variants)} and nothing else, got {sorted(weights)}"
        )
    if any(not 0 <= w <= 100 for w in weights.values()) or abs(sum(weights.values()) - 100) > 1e-6:
        raise ValueError(f"weights of endpoint {endpoint!r} must be within [0, 100] and sum to 100, got {weights}")


class ServingBackend(Protocol):
    """An endpoint with weighted variants (local endpoint server or a SageMaker endpoint).

    Weight changes are fenced: `fence()` starts a new generation, and a set_weights/remove carrying an older
    one is refused with StaleFenceError, so a stale rollout attempt can never move traffic after a rollback
    or finalize has fenced the endpoint.
    """

    def describe(self, endpoint: str) -> dict[str, float]:
        """Current weights in percent by variant name; {} if the endpoint does not exist."""
        ...

    def deploy(self, endpoint: str, variant: Variant, weight: float) -> None:
        """Create (or replace, idempotently) `variant` on the endpoint at `weight` percent. A `variant.shadow`
        (weight 0) gets a mirror of the live requests, its answers discarded, until a weight change gives it
        traffic (on SageMaker from the shadow stage's `start_shadow` on: docs/serving.md)."""
        ...

    def fence(self, endpoint: str) -> int:
        """Start a new weight generation and return it; from now on a set_weights/remove carrying an older
        generation is refused with StaleFenceError. Generations only grow."""
        ...

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        """generation=None: unfenced (first deploy, CLI). Refuses (ValueError) weights that are all 0 while
        any variant exists, and weights that do not name every variant or do not sum to 100."""
        ...

    def invoke(self, endpoint: str, variant: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Send one request to one variant; returns (HTTP status, body)."""
        ...

    def remove(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        """Remove a variant (no error if it is already gone); StaleFenceError when `generation` is stale."""
        ...


class MetricsSource(Protocol):
    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        """Per-variant counts between two unix timestamps. A variant with no traffic has zero counts."""
        ...

    def agreement(self, endpoint: str, shadow: str, live: str, start: float, end: float) -> AgreementCounts | None:
        """How the shadow variant's predictions on mirrored requests compared with the live variant's between two
        unix timestamps (zero counts: nothing mirrored); None when this source cannot see predictions."""
        ...
