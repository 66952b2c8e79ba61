"""What the Models page shows, read from each model's store: registry, evaluations, rollouts, monitoring.

Everything lives under the model root `<artifact_root>/<model>/` of the model's spec:
    registry/                       versions, events, champion pointer (registry/store.py)
    runs/<run_key>/evaluation/      the evaluate task's plots (*.png), metrics.json, report.html / report.md
    rollouts/<run_key>.json         one record per rollout (run_history.py)
    monitoring/<YYYYmmddTHHMMSSZ>.json  one record per monitoring check (written by the monitoring DAG)

No Airflow and no web framework here: the API (plugins/api.py) calls these with specs it loaded.
A record that cannot be read is reported in `problems`, never hides the rest of the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.backends import store_for
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion
from airflow_mlprovider.run_history import RolloutHistory, error_rate

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ArtifactStore
    from airflow_mlprovider.spec.model import ModelSpec

#: how much history one page shows (each is that many reads per page load, which matters on S3)
MAX_VERSIONS = 20
MAX_ROLLOUTS = 5
MAX_MONITORING_CHECKS = 48

MONITORING_FOLDER = "monitoring"
MONITORING_RECORD = re.compile(r"\d{8}T\d{6}Z\.json")
MONITORING_SERIES = ("requests", "error_rate_5xx", "p99_latency_ms", "prediction_mean")
#: the evaluation files the page serves: plots and the readable report
EVALUATION_FILE = re.compile(r"[A-Za-z0-9_.-]+\.(png|html|md)")
REPORT_NAMES = ("report.html", "report.md")


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def evaluation_folder(spec: ModelSpec, run_id: str) -> str:
    """Where the lifecycle DAG's evaluate task of `run_id` wrote its output (factory/builder.py)."""
    return f"{spec.model_root}/runs/{run_key(run_id)}/evaluation"


class ModelPage:
    """One model's page data, read through the store its spec's artifact_root names."""

    def __init__(self, spec: ModelSpec, store: ArtifactStore | None = None) -> None:
        self.spec = spec
        self.store = store or store_for(spec)
        self.registry = ModelRegistry(self.store, spec.model_root)
        self.problems: list[str] = []

    def _json(self, uri: str) -> Any:
        try:
            return json.loads(self.store.read_bytes(uri))
        except (OSError, ValueError) as exc:
            self.problems.append(f"{uri}: {exc}")
            return None

    # -- registry -------------------------------------------------------------------------------------------

    def champion(self) -> dict[str, Any] | None:
        pointer = self.registry.champion_pointer()
        if pointer is None:
            return None
        version = self.registry.get(pointer["version_id"])
        return {**pointer, "version": None if version is None else version.to_dict()}

    def _version_uris(self) -> list[str]:
        return sorted(u for u in self.store.list(f"{self.registry.root}/versions/") if u.endswith(".json"))

    def versions(self, champion_id: str | None) -> list[dict[str, Any]]:
        """The newest MAX_VERSIONS versions, newest data first, each with its status, events and evaluation."""
        rows = []
        for uri in reversed(self._version_uris()[-MAX_VERSIONS:]):
            doc = self._json(uri)
            if doc is None:
                continue
            version = ModelVersion.from_dict(doc)
            events = self.registry.events(version.version_id)
            rows.append({
                **version.to_dict(),
                "status": _status(version.version_id, champion_id, events),
                "events": events,
                "evaluation": self.evaluation_files(version.run_id),
            })
        return rows

    def evaluation_files(self, run_id: str) -> dict[str, Any]:
        """{"plots": [png names], "report": "report.html"|"report.md"|None} of a run's evaluation folder."""
        names = [_name(u) for u in self.store.list(f"{evaluation_folder(self.spec, run_id)}/")]
        return {
            "plots": sorted(n for n in names if n.endswith(".png")),
            "report": next((n for n in REPORT_NAMES if n in names), None),
        }

    def evaluation_file(self, version_id: str, name: str) -> bytes | None:
        """A file of a version's evaluation folder (None: no such version or file, or not a servable name)."""
        if not EVALUATION_FILE.fullmatch(name):
            return None
        version = self.registry.get(version_id)
        if version is None:
            return None
        uri = f"{evaluation_folder(self.spec, version.run_id)}/{name}"
        return self.store.read_bytes(uri) if self.store.exists(uri) else None

    # -- rollouts and monitoring ----------------------------------------------------------------------------

    def rollouts(self, limit: int = MAX_ROLLOUTS) -> list[dict[str, Any]]:
        """The last rollouts, newest first; each point gains its error rates (None without counts)."""
        try:
            records = RolloutHistory(self.store, self.spec.model_root).recent(limit)
        except (OSError, ValueError) as exc:
            self.problems.append(f"rollout records: {exc}")
            return []
        return [{**r, "points": [_with_rates(p) for p in r.get("points", [])]} for r in records]

    def monitoring_checks(self, limit: int = MAX_MONITORING_CHECKS) -> list[dict[str, Any]]:
        """The last `limit` monitoring records, oldest first (their names sort by check time)."""
        folder = f"{self.spec.model_root}/{MONITORING_FOLDER}/"
        # only the check records: the folder also holds e.g. reference/<version_id>.json (evaluation's reference)
        uris = sorted(u for u in self.store.list(folder) if MONITORING_RECORD.fullmatch(u[len(folder):]))
        return [doc for doc in (self._json(u) for u in uris[-limit:] if limit > 0) if isinstance(doc, dict)]

    # -- the API's two views -------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        champion = self.champion()
        rollouts = self.rollouts(1) if self.spec.serving else []
        checks = self.monitoring_checks(1)
        return {
            "model": self.spec.model,
            "description": self.spec.description,
            "metric": self.spec.evaluate.metric,
            "direction": self.spec.evaluate.direction,
            "served": self.spec.serving is not None,
            "champion": champion,
            "version_count": len(self._version_uris()),
            "last_rollout": _rollout_summary(rollouts[0]) if rollouts else None,
            "monitoring": _check_summary(checks[-1]) if checks else None,
            "problems": self.problems,
        }

    def detail(self) -> dict[str, Any]:
        champion = self.champion()
        checks = self.monitoring_checks()
        return {
            "model": self.spec.model,
            "description": self.spec.description,
            "spec_file": self.spec.source,
            "metric": self.spec.evaluate.metric,
            "direction": self.spec.evaluate.direction,
            "served": self.spec.serving is not None,
            "endpoint": self.spec.serving.endpoint if self.spec.serving else None,
            "champion": champion,
            "version_count": len(self._version_uris()),
            "versions": self.versions(None if champion is None else champion["version_id"]),
            "rollouts": self.rollouts() if self.spec.serving else [],
            "monitoring": {"checks": [_check_summary(c) for c in checks], "series": monitoring_series(checks)},
            "problems": self.problems,
        }


def _status(version_id: str, champion_id: str | None, events: list[dict[str, Any]]) -> str:
    """'champion'; else 'former_champion' (it was promoted), else its last event ('rolled_back', 'rejected',
    'not_promoted_backfill'), else 'registered' (e.g. its rollout is still running)."""
    if version_id == champion_id:
        return "champion"
    if not events:
        return "registered"
    return "former_champion" if events[-1]["event"] == "promoted" else events[-1]["event"]


def _with_rates(point: dict[str, Any]) -> dict[str, Any]:
    rates = {
        f"{variant}_{kind}": error_rate(point.get(variant), f"errors_{kind}")
        for variant in ("candidate", "champion") for kind in ("5xx", "4xx")
    }
    return {**point, "rates": rates}


def _rollout_summary(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("run_id", "candidate", "champion", "outcome", "started_at", "finished_at")
    return {k: record.get(k) for k in keys}


def _check_summary(check: dict[str, Any]) -> dict[str, Any]:
    keys = ("checked_at", "window_start", "window_end", "champion", "status", "alarms", "figures")
    return {k: check.get(k) for k in keys}


def monitoring_series(checks: Iterable[dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """Each monitored series over all `checks`, one point per time (a later check's value wins), by time."""
    merged: dict[str, dict[str, Any]] = {name: {} for name in MONITORING_SERIES}
    for check in checks:
        for name, points in (check.get("series") or {}).items():
            if name in merged and isinstance(points, list):
                merged[name].update({str(p[0]): p[1] for p in points if isinstance(p, list) and len(p) == 2})
    return {name: [[at, value] for at, value in sorted(points.items())] for name, points in merged.items()}
