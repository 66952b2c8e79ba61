"""Register: record the candidate as a model version; with `promote=True` the champion pointer moves here too.

A lifecycle with serving leaves `promote` False: the pointer moves in finalize, once the candidate has
proven itself on traffic. Moving the champion emits an event of the model's champion Asset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow_mlprovider.artifacts import CODE_DIR, MANIFEST, TamperedArtifactError
from airflow_mlprovider.operators.base import LifecycleOperator, run_interval
from airflow_mlprovider.operators.champion_asset import champion_alias, emit_champion_event
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion, utc_now_iso, version_id_for


def candidate_version(
    model: str, artifact_uri: str, evaluation: dict[str, Any], context: Any, store: Any, spec_digest: str = ""
) -> ModelVersion:
    """This run's candidate as a registry record, from its artifact's manifest and its evaluation.

    Built the same way by every retry of every task (the version id derives from the run), so decide and
    register agree on it.
    """
    candidate = evaluation["candidate"]
    manifest = json.loads(store.read_bytes(f"{artifact_uri.rstrip('/')}/{MANIFEST}"))
    code = [sha for path, sha in manifest["files"].items() if path.startswith(f"{CODE_DIR}/") and path.endswith(".py")]
    if len(code) != 1:
        raise TamperedArtifactError(f"{artifact_uri}: {MANIFEST} lists {len(code)} modules in {CODE_DIR}/, not one")
    start, end = run_interval(context)
    value = candidate["value"]
    return ModelVersion(
        version_id=version_id_for(context["run_id"], end),
        model=model,
        run_id=context["run_id"],
        artifact_uri=artifact_uri,
        data_interval_start=start.isoformat(),
        data_interval_end=end.isoformat(),
        metric=candidate["metric"],
        metric_value=float("nan") if value is None else value,
        metrics={candidate["metric"]: value, "schema_violations": candidate["schema_violations"],
                 **({"evaluation_report_uri": evaluation["report_uri"]} if evaluation.get("report_uri") else {})},
        manifest_digest=manifest["digest"],
        code_digest=code[0],
        created_at=utc_now_iso(),
        spec_digest=spec_digest,
    )


class RegisterOperator(LifecycleOperator):
    """Register this run's version (metrics, data interval, artifact URI, manifest, code digest).

    :param model: the model's name.
    :param registry_uri: the model's registry root (`<artifact_root>/<model>`).
    :param artifact_uri: the candidate's artifact folder (`train.output["artifact_uri"]`); templated.
    :param evaluation: the evaluation result (`evaluate.output`); templated.
    :param promote: also move the champion pointer (compare-and-swap, forward only): for a lifecycle
        without serving. When it moves, an event of `mlprovider://<model>/champion` is emitted.
    :param reason: why it is promoted (e.g. `decide.output["reason"]`); templated.
    :param spec_digest: recorded with the version.
    :return: `{"version_id", "promoted"}`.
    """

    template_fields: Sequence[str] = ("registry_uri", "artifact_uri", "evaluation", "reason")

    def __init__(
        self, *, model: str, registry_uri: str, artifact_uri: str, evaluation: dict[str, Any], promote: bool = False,
        reason: str = "registered", spec_digest: str = "", **kwargs: Any,
    ) -> None:
        if promote:
            kwargs["outlets"] = [*kwargs.get("outlets", []), champion_alias(model)]
        super().__init__(**kwargs)
        self.model = model
        self.registry_uri = registry_uri
        self.artifact_uri = artifact_uri
        self.evaluation = evaluation
        self.promote = promote
        self.reason = reason
        self.spec_digest = spec_digest

    def execute(self, context: Any) -> dict[str, Any]:
        store = self.store(self.registry_uri)
        registry = ModelRegistry(store, self.registry_uri)
        version = registry.register(
            candidate_version(self.model, self.artifact_uri, self.evaluation, context, store, self.spec_digest)
        )
        self.log.info("registered %s (%s %s)", version.version_id, version.metric, version.metric_value)
        if not self.promote:
            return {"version_id": version.version_id, "promoted": False}
        outcome = registry.promote(version.version_id, self.reason)
        if outcome.promoted:
            # also on a retry that finds it already promoted: a failed try's asset events were discarded
            emit_champion_event(context, version)
        self.announce(self.model, "promoted" if outcome.promoted else "not_promoted",
                      f"{version.version_id}: {outcome.reason}")
        return {"version_id": version.version_id, "promoted": outcome.promoted}
