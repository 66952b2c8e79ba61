"""A dags folder with the example specs and a store seeded the way the lifecycle DAGs write it.

Real registries (ModelRegistry), real diagnostic plots (diagnostics.write_diagnostics), rollout records
written with run_history's functions, and monitoring records in the shared contract's format (COMMON
contract 1: `monitoring/<YYYYmmddTHHMMSSZ>.json`), so the page is tested against what the writers produce.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore, path_of
from airflow_mlprovider.diagnostics import write_diagnostics
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.plugins.model_data import evaluation_folder
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion, version_id_for
from airflow_mlprovider.run_history import RolloutHistory, concluded, new_record, utc_iso, with_point
from airflow_mlprovider.spec import load_specs
from airflow_mlprovider.spec.model import ModelSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def example_dags_folder(root: Path) -> Path:
    """The example dags folder copied under `root`, its artifact_root moved to `root/artifacts`."""
    dags = root / "dags"
    shutil.copytree(EXAMPLES, dags)
    defaults = dags / "mlprovider.defaults.yaml"
    text = defaults.read_text().replace("artifact_root: ../.demo/artifacts", f"artifact_root: {root / 'artifacts'}")
    assert str(root / "artifacts") in text, "the example defaults file no longer sets artifact_root as expected"
    defaults.write_text(text)
    return dags


def specs_by_model(dags: Path) -> dict[str, ModelSpec]:
    result = load_specs(dags)
    assert not result.errors, result.errors
    return {spec.model: spec for spec in result.specs}


def register(spec: ModelSpec, day: int, value: float, *, seed: int) -> ModelVersion:
    """A version trained on data up to day `day` of November, with its evaluation plots written."""
    end = datetime(2026, 11, day, tzinfo=timezone.utc)
    run_id = f"scheduled__{end.isoformat()}"
    version = ModelVersion(
        version_id=version_id_for(run_id, end), model=spec.model, run_id=run_id,
        artifact_uri=f"{spec.model_root}/runs/{run_key(run_id)}/artifact",
        data_interval_start=(end - timedelta(days=7)).isoformat(),
        data_interval_end=end.isoformat(), metric=spec.evaluate.metric, metric_value=value,
        metrics={spec.evaluate.metric: value, "schema_violations": 0}, manifest_digest=f"digest-{seed}",
        created_at=(end + timedelta(hours=1)).isoformat(),
    )
    store = FilesystemArtifactStore()
    ModelRegistry(store, spec.model_root).register(version)
    rng = random.Random(seed)
    if spec.evaluate.metric == "roc_auc":
        y_true = [rng.randint(0, 1) for _ in range(120)]
        y_pred = [min(1.0, max(0.0, 0.35 * t + 0.65 * rng.random())) for t in y_true]  # overlapping classes
        kind = "classification"
    else:
        y_true = [rng.uniform(5, 60) for _ in range(200)]
        y_pred = [t + rng.gauss(0, 4) for t in y_true]
        kind = "regression"
    folder = path_of(evaluation_folder(spec, run_id))
    write_diagnostics(kind, y_true, y_pred, folder)
    (folder / "report.html").write_text(f"<h1>Evaluation of {version.version_id}</h1>")
    return version


def rollout(spec: ModelSpec, candidate: ModelVersion, champion: ModelVersion, start: datetime,
            candidate_5xx: float) -> dict[str, Any]:
    """A rollout over steps 5/25/50 % with window counts per step; rolled back if the candidate errs."""
    history = RolloutHistory(FilesystemArtifactStore(), spec.model_root)
    key = run_key(candidate.run_id)
    record = new_record(spec.model, candidate.run_id, f"v-{candidate.version_id}", f"v-{champion.version_id}",
                        utc_iso(start.timestamp()))
    record = with_point(record, at=utc_iso(start.timestamp()), weight=5, action="start",
                        reason="5 % beside the champion", stats=None)
    at = start
    for weight, next_weight in ((5, 25), (25, 50), (50, 100)):
        at += timedelta(minutes=4)
        requests = int(weight * 40)
        window = {"candidate": {"requests": requests, "errors_5xx": int(requests * candidate_5xx), "errors_4xx": 1},
                  "champion": {"requests": 4000 - requests, "errors_5xx": int((4000 - requests) * 0.004),
                               "errors_4xx": 3}}
        if candidate_5xx > 0.05:
            record = with_point(record, at=utc_iso(at.timestamp()), weight=0, action="rollback",
                                reason=f"step {weight}%: candidate 5xx {candidate_5xx:.1%} vs champion 0.40%",
                                stats={"window": window})
            record = concluded(record, "rollback", utc_iso(at.timestamp()))
            break
        action = "complete" if next_weight == 100 else "advance"
        record = with_point(record, at=utc_iso(at.timestamp()), weight=next_weight, action=action,
                            reason=f"step {weight}% passed", stats={"window": window})
        if action == "complete":
            record = concluded(record, "complete", utc_iso(at.timestamp()))
    history.save(key, record)
    return record


def monitoring(spec: ModelSpec, champion: ModelVersion, checks: int, *, alarm_last: bool) -> list[dict[str, Any]]:
    """`checks` hourly monitoring records ending at NOW; the last one alarms on the prediction mean if asked."""
    store = FilesystemArtifactStore()
    records = []
    for i in range(checks):
        end = NOW - timedelta(hours=checks - 1 - i)
        start = end - timedelta(hours=1)
        times = [start + timedelta(minutes=5 * (k + 1)) for k in range(12)]
        shifted = alarm_last and i == checks - 1
        shift = 100.0 if shifted else 1.0  # the silent failure: predictions scaled, every answer a 200
        rng = random.Random(i)
        daily = [math.sin(2 * math.pi * t.hour / 24 + t.minute / 720) for t in times]
        series = {
            "requests": [[t.isoformat(), round(320 + 120 * d + rng.uniform(-15, 15))] for t, d in zip(times, daily)],
            "error_rate_5xx": [[t.isoformat(), max(0.0, 0.003 + rng.gauss(0, 0.0008))] for t in times],
            "p99_latency_ms": [[t.isoformat(), 42 + 4 * d + rng.uniform(-1.5, 1.5)] for t, d in zip(times, daily)],
            "prediction_mean": [[t.isoformat(), shift * (24 + 1.5 * d + rng.uniform(-0.3, 0.3))]
                                for t, d in zip(times, daily)],
        }
        alarms = [{"check": "prediction_mean", "message": "mean prediction 2400 is 100x the reference 24.1"}] \
            if shifted else []
        record = {
            "model": spec.model, "checked_at": end.isoformat(), "window_start": start.isoformat(),
            "window_end": end.isoformat(), "champion": champion.version_id, "status": "alarm" if alarms else "ok",
            "alarms": alarms,
            "figures": {"error_rate_5xx": {"value": 0.003, "limit": 0.02},
                        "prediction_mean": {"value": 2400.0 if shifted else 24.1, "limit": 2.0},
                        "requests": {"value": 4200.0, "limit": None}},
            "series": series,
        }
        store.write_bytes(f"{spec.model_root}/monitoring/{end:%Y%m%dT%H%M%SZ}.json", json.dumps(record).encode())
        records.append(record)
    return records


def seed_examples(root: Path) -> dict[str, Any]:
    """Both example models: demand_forecast with two rollouts (one rolled back) and an alarm at its last
    monitoring check; tumor_classifier (not served) with a rejected candidate and quiet monitoring."""
    dags = example_dags_folder(root)
    specs = specs_by_model(dags)
    forecast, tumors = specs["demand_forecast"], specs["tumor_classifier"]
    registry = ModelRegistry(FilesystemArtifactStore(), forecast.model_root)
    first = register(forecast, 20, 7.9, seed=1)
    registry.promote(first.version_id, "first model")
    bad = register(forecast, 21, 7.5, seed=2)
    rollout(forecast, bad, first, NOW - timedelta(days=2), candidate_5xx=0.12)
    registry.record(bad.version_id, "rolled_back", "the candidate's 5xx rate rose")
    good = register(forecast, 22, 7.2, seed=3)
    rollout(forecast, good, first, NOW - timedelta(days=1), candidate_5xx=0.003)
    registry.promote(good.version_id, "passed its rollout")
    monitoring(forecast, good, 24, alarm_last=True)

    tumor_registry = ModelRegistry(FilesystemArtifactStore(), tumors.model_root)
    champion = register(tumors, 15, 0.97, seed=4)
    tumor_registry.promote(champion.version_id, "first model above 0.9")
    rejected = register(tumors, 22, 0.95, seed=5)
    tumor_registry.record(rejected.version_id, "rejected", "roc_auc 0.95 does not beat the champion's 0.97")
    monitoring(tumors, champion, 6, alarm_last=False)
    return {"dags": dags, "specs": specs, "champions": {"demand_forecast": good, "tumor_classifier": champion},
            "versions": {"demand_forecast": [first, bad, good], "tumor_classifier": [champion, rejected]}}
