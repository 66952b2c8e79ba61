"""Rollout records for the Models page: one JSON document per run, rewritten at every rollout step.

Layout under the model root `<artifact_root>/<model>/` (the registry's root, on any ArtifactStore):
    rollouts/<run_key>.json   {"model", "run_id", "candidate", "champion", "started_at", "finished_at"|null,
                               "outcome": "running"|"complete"|"rollback",
                               "points": [{"at", "weight", "action", "reason",
                                           "champion": {"requests", "errors_5xx", "errors_4xx"}|null,
                                           "candidate": {...}|null}]}

One run writes one name, so concurrent runs never collide. A point's counts are the step's window the
decision was made on (the trigger event's `stats.window`); null when the event carried none (the start of a
step, or traffic metrics that could not be read).

The record functions are pure; RolloutHistory reads and writes them through an ArtifactStore.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ArtifactStore

ROLLOUTS_FOLDER = "rollouts"
COUNT_FIELDS = ("requests", "errors_5xx", "errors_4xx")
OUTCOMES = ("complete", "rollback")


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def new_record(model: str, run_id: str, candidate: str, champion: str | None, started_at: str) -> dict[str, Any]:
    """A running rollout without points."""
    return {
        "model": model, "run_id": run_id, "candidate": candidate, "champion": champion,
        "started_at": started_at, "finished_at": None, "outcome": "running", "points": [],
    }


def _counts(window: Any) -> dict[str, int] | None:
    if not isinstance(window, dict) or not all(isinstance(window.get(f), int) for f in COUNT_FIELDS):
        return None
    return {f: window[f] for f in COUNT_FIELDS}


def with_point(
    record: dict[str, Any], *, at: str, weight: float, action: str, reason: str, stats: dict[str, Any] | None
) -> dict[str, Any]:
    """`record` with one more point; the counts come from a decision's `stats["window"]` when it has them."""
    window = (stats or {}).get("window") or {}
    point = {
        "at": at, "weight": float(weight), "action": action, "reason": reason,
        "champion": _counts(window.get("champion")), "candidate": _counts(window.get("candidate")),
    }
    return {**record, "points": [*record["points"], point]}


def concluded(record: dict[str, Any], outcome: str, finished_at: str) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise ValueError(f"rollout outcome {outcome!r}: expected one of {OUTCOMES}")
    return {**record, "outcome": outcome, "finished_at": finished_at}


def error_rate(counts: dict[str, int] | None, field: str = "errors_5xx") -> float | None:
    """errors / requests of a point's counts; None without counts or requests."""
    if not counts or not counts.get("requests"):
        return None
    return counts[field] / counts["requests"]


def _logical_order(name: str) -> str:
    """Run keys sort by the timestamp after the run type ('scheduled__2024-01-01T00_00_00_00_00')."""
    return name.rpartition("__")[2]


class RolloutHistory:
    """The rollout records of one model under its root (`<artifact_root>/<model>`)."""

    def __init__(self, store: ArtifactStore, model_root: str) -> None:
        self.store = store
        self.folder = f"{model_root.rstrip('/')}/{ROLLOUTS_FOLDER}"

    def uri(self, run_key: str) -> str:
        return f"{self.folder}/{run_key}.json"

    def load(self, run_key: str) -> dict[str, Any] | None:
        data = self.store.read_versioned(self.uri(run_key)).data
        return None if data is None else json.loads(data)

    def save(self, run_key: str, record: dict[str, Any]) -> None:
        self.store.write_bytes(self.uri(run_key), json.dumps(record, indent=2).encode())

    def conclude_interrupted(self, run_key: str, reason: str, at: str) -> bool:
        """Conclude a record left `running` by a rollout that failed before deciding, as rolled back (the
        rollback task restored the champion), with the reason as its last point; False if there is none."""
        record = self.load(run_key)
        if record is None or record.get("outcome") != "running":
            return False
        record = with_point(record, at=at, weight=0.0, action="rollback", reason=reason, stats=None)
        self.save(run_key, concluded(record, "rollback", at))
        return True

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` records, newest first: the last runs by logical date, then by start time.

        Only those are read (a year of daily runs stays `limit` reads on S3)."""
        uris = [u for u in self.store.list(f"{self.folder}/") if u.endswith(".json")]
        names = sorted(uris, key=lambda u: _logical_order(u.rsplit("/", 1)[1][: -len(".json")]))[-limit:]
        records = [json.loads(self.store.read_bytes(u)) for u in names] if limit > 0 else []
        return sorted(records, key=lambda r: r.get("started_at") or "", reverse=True)
