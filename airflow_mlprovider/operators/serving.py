"""The endpoint side of the promote and rollout stages: deploy, health_check, finalize, rollback.

The rule they all keep: the endpoint is never left without the registry's champion at 100 % while
no candidate is being rolled out. New variants always arrive at weight 0 and get traffic only through
`route()`, which names every variant on the endpoint so the weights always sum to 100.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_mlprovider.notifications.lifecycle import notify
from airflow_mlprovider.operators.base import DEPLOY, HEALTH_CHECK, REGISTER, ROLLOUT, ModelSpecOperator

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ServingBackend, Variant
    from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion
    from airflow_mlprovider.spec.model import ModelSpec

#: SageMaker's variant names are the strictest: [a-zA-Z0-9-], at most 63 characters
MAX_VARIANT_NAME = 63
HEALTH_CHECK_EXAMPLES = 5


def variant_name(version_id: str) -> str:
    """The endpoint variant serving a model version: `v-<version_id>`, safe for every serving backend."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"v-{version_id}").rstrip("-")
    if len(name) <= MAX_VARIANT_NAME:
        return name
    # Truncated names could collide: keep a hash of the whole id.
    digest = hashlib.sha256(version_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_VARIANT_NAME - 9].rstrip('-')}-{digest}"


def variant_for(spec: ModelSpec, version: ModelVersion, *, candidate: bool) -> Variant:
    """The serving variant of `version`; fault injection (demos, tests) only ever applies to a candidate."""
    from airflow_mlprovider.backends.base import Variant

    return Variant(
        name=variant_name(version.version_id),
        artifact_uri=version.artifact_uri,
        request_schema_path=spec.code.request_schema,
        response_schema_path=spec.code.response_schema,
        fault_injection=spec.serving.fault_injection if candidate else 0.0,
    )


def route(serving: ServingBackend, endpoint: str, weights: dict[str, float]) -> dict[str, float]:
    """Give the named variants these weights and every other variant on the endpoint 0 (no call if already so)."""
    current = serving.describe(endpoint)
    desired = {name: 0.0 for name in current} | {name: float(w) for name, w in weights.items()}
    if current != desired:
        serving.set_weights(endpoint, desired)
    return desired


def serve_champion(
    serving: ServingBackend, spec: ModelSpec, champion: ModelVersion | None, remove: str | None = None
) -> str | None:
    """Put `champion` at 100 % (redeploying it if the endpoint lost it), then remove the variant `remove`.

    Traffic moves before anything is removed, so a removed variant never has requests routed to it.
    The champion itself is never removed. Returns the champion's variant name (None: no champion).
    """
    endpoint = spec.serving.endpoint
    name = None
    if champion is not None:
        name = variant_name(champion.version_id)
        if name not in serving.describe(endpoint):
            serving.deploy(endpoint, variant_for(spec, champion, candidate=False), 0.0)
        route(serving, endpoint, {name: 100.0})
    if remove is not None and remove != name:
        serving.remove(endpoint, remove)
    return name


def pull(context: Any, task_id: str) -> dict[str, Any]:
    """The XCom an upstream lifecycle task returned; a clear error if it did not run."""
    value = context["ti"].xcom_pull(task_ids=task_id)
    if not value:
        raise AirflowException(f"no result from task {task_id!r} in this run; it must succeed before this task")
    return value


class EndpointOperator(ModelSpecOperator):
    """A lifecycle operator that acts on the spec's endpoint and the model's registry."""

    ui_color = "#e3ecf7"

    def serving_backend(self) -> ServingBackend:
        from airflow_mlprovider.backends import serving_for

        return serving_for(self.model_spec)

    def registry(self) -> ModelRegistry:
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.registry.store import ModelRegistry

        return ModelRegistry(store_for(self.model_spec), self.model_spec.model_root)

    @property
    def endpoint(self) -> str:
        return self.model_spec.serving.endpoint

    def registered_version(self, context: Any, registry: ModelRegistry) -> ModelVersion:
        version_id = pull(context, REGISTER)["version_id"]
        version = registry.get(version_id)
        if version is None:
            raise AirflowException(f"version {version_id!r} is not in the registry of {self.model_spec.model}")
        return version


class DeployOperator(EndpointOperator):
    """Deploy the registered candidate at 0 % beside the champion (redeployed at 100 % if the endpoint lost it).

    Returns {"endpoint", "candidate", "champion", "version_id"}: variant names (champion None: nothing to
    compare with, the rollout completes at once). Idempotent: a retry redeploys the same variants.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec, serving, registry = self.model_spec, self.serving_backend(), self.registry()
        candidate = self.registered_version(context, registry)
        candidate_name = variant_name(candidate.version_id)
        champion = registry.champion()
        if champion is not None and champion.version_id == candidate.version_id:
            # A re-run after this version was finalized: it already is the champion.
            serve_champion(serving, spec, champion)
            return self._deployed(candidate, champion=None)
        champion_name = serve_champion(serving, spec, champion)
        if champion_name is None:
            others = {n: w for n, w in serving.describe(self.endpoint).items() if w > 0 and n != candidate_name}
            if others:
                raise AirflowFailException(
                    f"endpoint {self.endpoint!r} serves {others} but model {spec.model!r} has no champion in its "
                    "registry: the endpoint belongs to something else. Give this model its own serving.endpoint "
                    "or remove those variants."
                )
        serving.deploy(self.endpoint, variant_for(spec, candidate, candidate=True), 0.0)
        notify(spec, "deploy", f"{candidate_name} deployed at 0 % on {self.endpoint}"
               + (f" beside champion {champion_name} at 100 %" if champion_name else " (first model: no champion)"))
        return self._deployed(candidate, champion=champion_name)

    def _deployed(self, candidate: ModelVersion, champion: str | None) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "candidate": variant_name(candidate.version_id),
            "champion": champion,
            "version_id": candidate.version_id,
        }


class HealthCheckOperator(EndpointOperator):
    """Send example requests to the candidate variant alone (0 % weight: no user sees it) before any traffic.

    The requests are `serving.example_requests`, or generated from the request JSON Schema. Any non-2xx
    answer fails the task without retries (the candidate answered, and answered wrong) and, through the
    rollback task, stops the run before a user request reaches the candidate. Unreachable endpoints raise
    ordinary errors, which are retried.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec, serving = self.model_spec, self.serving_backend()
        candidate = pull(context, DEPLOY)["candidate"]
        requests, generated = self.example_requests()
        answers = [(request, *serving.invoke(self.endpoint, candidate, request)) for request in requests]
        failed = [(i, request, status, body) for i, (request, status, body) in enumerate(answers) if not 200 <= status < 300]
        if failed:
            detail = "; ".join(
                f"#{i}: {json.dumps(request, default=str)} -> {status} {json.dumps(body, default=str)[:300]}"
                for i, request, status, body in failed
            )
            raise AirflowFailException(
                f"health check of {candidate} on {self.endpoint}: {len(failed)} of {len(requests)} requests "
                f"failed: {detail}"
            )
        notify(spec, "health_check", f"{candidate} answered {len(requests)} of {len(requests)} "
               f"{'generated' if generated else 'example'} requests with 2xx")
        return {"variant": candidate, "requests": len(requests), "generated": generated}

    def example_requests(self) -> tuple[list[dict[str, Any]], bool]:
        """(requests, whether they were generated from the request schema)."""
        spec = self.model_spec
        if spec.serving.example_requests:
            return list(spec.serving.example_requests), False
        from airflow_mlprovider.request_examples import generate

        with open(spec.code.request_schema) as fh:
            schema = json.load(fh)
        return generate(schema, n=HEALTH_CHECK_EXAMPLES, seed=0), True


class FinalizeOperator(EndpointOperator):
    """After a completed rollout: make the candidate the champion and give it 100 %, removing the old champion.

    The registry may refuse (a champion trained on newer data appeared meanwhile, e.g. during a backfill):
    then that champion is restored to 100 % and the candidate removed; the registry records why.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec, serving, registry = self.model_spec, self.serving_backend(), self.registry()
        deployed = pull(context, DEPLOY)
        version_id, candidate = deployed["version_id"], deployed["candidate"]
        rollout = context["ti"].xcom_pull(task_ids=ROLLOUT) or {}
        outcome = registry.promote(version_id, f"rollout completed: {rollout.get('reason', 'no reason given')}")
        if not outcome.promoted:
            restored = serve_champion(serving, spec, outcome.champion, remove=candidate)
            notify(spec, "finalize.refused", f"{version_id} is not promoted: {outcome.reason}; "
                   f"{restored} serves 100 % and {candidate} was removed")
            return {"promoted": False, "champion": restored, "reason": outcome.reason}
        route(serving, self.endpoint, {candidate: 100.0})
        previous = deployed["champion"]
        if previous is not None and previous != candidate:
            serving.remove(self.endpoint, previous)
        notify(spec, "finalize", f"{candidate} is the champion and serves 100 % of {self.endpoint}"
               + (f"; {previous} removed" if previous else ""))
        return {"promoted": True, "champion": candidate, "reason": outcome.reason}


class RollbackOperator(EndpointOperator):
    """Restore the registry's champion to 100 % and remove the candidate; runs whatever failed upstream.

    Outcome: when the rollout DECIDED to roll back, this task succeeds (a rolled-back candidate is a normal,
    safe result, announced as an alert). When the stage failed instead (deploy, health check or the rollout
    itself), the endpoint is repaired first and then this task fails, so the run shows that the rollout
    did not complete. Idempotent: a removed or never-deployed candidate is fine.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        spec, serving, registry = self.model_spec, self.serving_backend(), self.registry()
        ti = context["ti"]
        registered = ti.xcom_pull(task_ids=REGISTER)
        if not registered:
            raise AirflowSkipException("no candidate was registered in this run: nothing to roll back")
        version_id = registered["version_id"]
        candidate = variant_name(version_id)
        champion = registry.champion()
        restored = serve_champion(serving, spec, champion, remove=candidate)
        if champion is not None and champion.version_id == version_id:
            notify(spec, "rollback", f"{candidate} is already the champion (finalized): it keeps serving 100 %")
            return {"rolled_back": False, "champion": restored}
        decision = ti.xcom_pull(task_ids=ROLLOUT)
        decided = bool(decision) and decision.get("action") == "rollback"
        reason = decision["reason"] if decided else self._failure_cause(ti)
        registry.record(version_id, "rolled_back", reason, decided=decided, champion=restored)
        serving_now = f"{restored} serves 100 % of {self.endpoint}" if restored else f"{self.endpoint} has no champion"
        notify(spec, "rollback", f"{candidate} rolled back ({reason}); {serving_now}", alert=True)
        if not decided:
            raise AirflowFailException(f"endpoint repaired ({serving_now}, {candidate} removed); failing because {reason}")
        return {"rolled_back": True, "champion": restored, "reason": reason}

    @staticmethod
    def _failure_cause(ti: Any) -> str:
        if not ti.xcom_pull(task_ids=DEPLOY):
            return "the deploy task did not complete"
        if not ti.xcom_pull(task_ids=HEALTH_CHECK):
            return "the candidate did not pass its health check"
        return "the rollout failed or timed out before reaching a decision"
