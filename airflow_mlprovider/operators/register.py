"""REGISTER: record the candidate as a model version; without a serving section the champion pointer moves here.

With `serving`, the pointer moves later, in rollout.finalize, once the candidate has proven itself on traffic.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from airflow_mlprovider.artifacts import CODE_DIR, MANIFEST, TamperedArtifactError
from airflow_mlprovider.operators.base import DECIDE, EVALUATE, TRAIN, ModelSpecOperator
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion, utc_now_iso, version_id_for


def run_interval(context: Any) -> tuple[datetime, datetime]:
    """The run's data interval; a manual run without one is the instant it was triggered for."""
    end = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
    return context.get("data_interval_start") or end, end


def candidate_version(op: ModelSpecOperator, context: Any, store: Any) -> ModelVersion:
    """This run's candidate as a registry record, from TRAIN's and EVALUATE's XCom and the artifact's manifest.

    Built the same way by every retry of every task (the version id derives from the run), so DECIDE and
    REGISTER agree on it.
    """
    ti = context["ti"]
    trained = ti.xcom_pull(task_ids=TRAIN)
    candidate = ti.xcom_pull(task_ids=EVALUATE)["candidate"]
    artifact_uri = trained["artifact_uri"]
    manifest = json.loads(store.read_bytes(f"{artifact_uri.rstrip('/')}/{MANIFEST}"))
    code = [sha for path, sha in manifest["files"].items() if path.startswith(f"{CODE_DIR}/") and path.endswith(".py")]
    if len(code) != 1:
        raise TamperedArtifactError(f"{artifact_uri}: {MANIFEST} lists {len(code)} modules in {CODE_DIR}/, not one")
    start, end = run_interval(context)
    value = candidate["value"]
    return ModelVersion(
        version_id=version_id_for(context["run_id"], end),
        model=op.model_spec.model,
        run_id=context["run_id"],
        artifact_uri=artifact_uri,
        data_interval_start=start.isoformat(),
        data_interval_end=end.isoformat(),
        metric=candidate["metric"],
        metric_value=float("nan") if value is None else value,
        metrics={candidate["metric"]: value, "schema_violations": candidate["schema_violations"]},
        manifest_digest=manifest["digest"],
        code_digest=code[0],
        created_at=utc_now_iso(),
        spec_digest=hashlib.sha256(json.dumps(op.spec, sort_keys=True, default=str).encode()).hexdigest(),
    )


class RegisterOperator(ModelSpecOperator):
    """Registers this run's version; promotes it to champion at once when the spec serves nothing."""

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.notifications.lifecycle import notify

        spec = self.model_spec
        store = store_for(spec)
        registry = ModelRegistry(store, spec.model_root)
        version = registry.register(candidate_version(self, context, store))
        self.log.info("registered %s (%s %s)", version.version_id, version.metric, version.metric_value)
        if spec.serving is not None:
            self.log.info("the champion pointer moves in rollout.finalize once the rollout succeeds")
            return {"version_id": version.version_id, "promoted": False}
        decision = context["ti"].xcom_pull(task_ids=DECIDE)
        outcome = registry.promote(version.version_id, decision["reason"])
        notify(spec, "promoted" if outcome.promoted else "not_promoted", f"{version.version_id}: {outcome.reason}")
        return {"version_id": version.version_id, "promoted": outcome.promoted}
