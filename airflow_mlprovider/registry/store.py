"""The model registry: immutable version records, an append-only event log and an atomic champion pointer.

Layout under <model_root>/registry/ (the same on every ArtifactStore):
    versions/<version_id>.json                  one immutable record per trained version
    events/<version_id>/<time_ns>-<uuid>.json   one immutable object per event: concurrent writers never collide
    champion.json                               {version_id, data_interval_end, promoted_at, reason, previous}

Every write is a conditional put (ArtifactStore.write_if): a record is created once, and the champion
pointer moves by compare-and-swap, so two runs promoting at the same time cannot lose an update.

A version is immutable: registering its id again with a different artifact digest is refused. The 'promoted'
event of a pointer move is named after the pointer itself, so a writer killed between the compare-and-swap
and the event leaves it to the next promote() (the task's retry, or any later promotion) to write, once.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.registry.rules import may_replace

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ArtifactStore

#: how often promote() re-reads and retries after another writer moved the pointer first
MAX_PROMOTION_ATTEMPTS = 20


def version_id_for(run_id: str, data_interval_end: datetime) -> str:
    """A version id that a retried task computes again identically: data time first, so ids sort by it."""
    return f"{data_interval_end:%Y%m%dT%H%M%S}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


class VersionConflictError(RuntimeError):
    """A version id is already registered with another artifact: a registered version never changes."""


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class ModelVersion:
    version_id: str
    model: str
    run_id: str
    artifact_uri: str
    data_interval_start: str  # ISO 8601
    data_interval_end: str  # ISO 8601
    metric: str
    metric_value: float
    metrics: dict[str, Any] = field(default_factory=dict)
    manifest_digest: str = ""
    code_digest: str = ""
    created_at: str = ""
    spec_digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ModelVersion:
        return cls(**doc)


@dataclass(frozen=True)
class PromotionOutcome:
    promoted: bool
    reason: str
    champion: ModelVersion | None  # the champion after the call


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


class ModelRegistry:
    """One model's versions and champion on an ArtifactStore (file:// or s3://)."""

    def __init__(self, store: ArtifactStore, model_root: str) -> None:
        self.store = store
        self.root = f"{model_root.rstrip('/')}/registry"

    @property
    def champion_uri(self) -> str:
        return f"{self.root}/champion.json"

    def _version_uri(self, version_id: str) -> str:
        return f"{self.root}/versions/{version_id}.json"

    def _events_prefix(self, version_id: str) -> str:
        return f"{self.root}/events/{version_id}"

    def register(self, version: ModelVersion) -> ModelVersion:
        """Create the version's record. Registering an id again returns the stored record unchanged (retry-safe),
        unless its artifact differs (VersionConflictError): a run trained again after registering is a new run."""
        if self.store.write_if(self._version_uri(version.version_id), _encode(version.to_dict()), None):
            return version
        stored = self.get(version.version_id)
        if stored is None:  # write_if refused yet nothing is there: the store broke its contract
            raise RuntimeError(f"registry: could not create {self._version_uri(version.version_id)}")
        if stored.manifest_digest != version.manifest_digest:
            raise VersionConflictError(
                f"registry {self.root}: version {version.version_id} is registered with artifact "
                f"{stored.artifact_uri} (digest {stored.manifest_digest}); this run now has {version.artifact_uri} "
                f"(digest {version.manifest_digest}). A registered version never changes: trigger a new run."
            )
        return stored

    def get(self, version_id: str) -> ModelVersion | None:
        data = self.store.read_versioned(self._version_uri(version_id)).data
        return None if data is None else ModelVersion.from_dict(json.loads(data))

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest data first."""
        uris = [u for u in self.store.list(f"{self.root}/versions/") if u.endswith(".json")]
        return sorted(
            (ModelVersion.from_dict(json.loads(self.store.read_bytes(u))) for u in uris),
            key=lambda v: v.version_id,
        )

    def champion_pointer(self) -> dict[str, Any] | None:
        """The raw champion.json ({version_id, data_interval_end, promoted_at, reason, previous}), or None."""
        data = self.store.read_versioned(self.champion_uri).data
        return None if data is None else json.loads(data)

    def champion(self) -> ModelVersion | None:
        pointer = self.champion_pointer()
        return None if pointer is None else self.get(pointer["version_id"])

    def promote(self, version_id: str, reason: str) -> PromotionOutcome:
        """Make `version_id` the champion unless a newer-data champion holds the pointer (see may_replace).

        The pointer moves by compare-and-swap; on a lost race the new champion is re-read and the rule
        re-applied. Promoting the current champion again succeeds without a change (retry-safe).
        Records a 'promoted' or 'not_promoted_backfill' event.
        """
        candidate = self.get(version_id)
        if candidate is None:
            raise LookupError(f"registry {self.root}: no version {version_id!r}; register() it before promoting")
        for _ in range(MAX_PROMOTION_ATTEMPTS):
            current = self.store.read_versioned(self.champion_uri)
            pointer = None if current.data is None else json.loads(current.data)
            if pointer is not None:
                self._record_promotion(pointer)  # recovers the event of a promoter killed after its swap
            if pointer is not None and pointer["version_id"] == version_id:
                return PromotionOutcome(True, f"{version_id} is already the champion", candidate)
            champion = None if pointer is None else self.get(pointer["version_id"])
            allowed, why = may_replace(champion, candidate)
            if not allowed:
                self.record(version_id, "not_promoted_backfill", why)
                return PromotionOutcome(False, why, champion)
            new_pointer = {
                "version_id": version_id,
                "data_interval_end": candidate.data_interval_end,
                "promoted_at": utc_now_iso(),
                "reason": reason,
                "previous": None if pointer is None else pointer["version_id"],
            }
            if self.store.write_if(self.champion_uri, _encode(new_pointer), current.version):
                self._record_promotion(new_pointer)
                return PromotionOutcome(True, reason, candidate)
        raise RuntimeError(
            f"registry {self.root}: the champion pointer kept changing; gave up promoting {version_id} "
            f"after {MAX_PROMOTION_ATTEMPTS} attempts"
        )

    def record(self, version_id: str, event: str, reason: str, **details: Any) -> None:
        """Append an event (e.g. 'rejected', 'promoted', 'rolled_back') to the version's log."""
        doc = {"version_id": version_id, "event": event, "reason": reason, "at": utc_now_iso(), "details": details}
        # a fresh name per event: concurrent writers each create their own object, none overwrites another
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        if not self.store.write_if(f"{self._events_prefix(version_id)}/{name}", _encode(doc), None):
            raise RuntimeError(f"registry {self.root}: event object {name} already exists")

    def _record_promotion(self, pointer: dict[str, Any]) -> None:
        """The 'promoted' event of a champion pointer, written at most once whoever writes it."""
        at = datetime.fromisoformat(pointer["promoted_at"])
        name = f"{int(at.timestamp() * 1_000_000) * 1_000:020d}-promoted.json"  # sorts among record()'s names
        doc = {
            "version_id": pointer["version_id"], "event": "promoted", "reason": pointer["reason"],
            "at": pointer["promoted_at"], "details": {"previous": pointer["previous"]},
        }
        self.store.write_if(f"{self._events_prefix(pointer['version_id'])}/{name}", _encode(doc), None)

    def events(self, version_id: str) -> list[dict[str, Any]]:
        """The version's events in the order they were recorded."""
        uris = sorted(u for u in self.store.list(f"{self._events_prefix(version_id)}/") if u.endswith(".json"))
        return [json.loads(self.store.read_bytes(u)) for u in uris]
