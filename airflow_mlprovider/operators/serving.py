"""The endpoint side of the promote and rollout stages: deploy, health check, finalize, rollback.

The rule they all keep: the endpoint is never left without the registry's champion at 100 % while no
candidate is being rolled out. New variants always arrive at weight 0 and get traffic only through
`route()`, which names every variant on the endpoint so the weights always sum to 100.

Weight changes are fenced (ServingBackend.fence): deploy starts a generation that the rollout carries on
every weight change; finalize and rollback start a newer one first, so a stale rollout attempt (a zombie
worker) is refused from then on, and they check with describe() that the champion really serves 100 %.

Deferral: on SageMaker an endpoint change takes minutes. With `deferrable` (default `[operators]
default_deferrable`) the operators start the change and defer to the triggerer (EndpointUpdateTrigger, the amazon
provider's SageMaker endpoint waiter) instead of holding a worker slot; on resume they verify the change
(`finish_change`) and run their steps again: every step is idempotent, so the repeat finds what was done and
carries on. What must not be redone (the fence generation, the registry's promotion outcome) travels in the
trigger's event (`resume`). The local endpoint server changes at once: nothing defers.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_mlprovider.operators.base import LifecycleOperator, default_deferrable
from airflow_mlprovider.operators.champion_asset import champion_alias, emit_champion_event

if TYPE_CHECKING:
    from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
    from airflow_mlprovider.backends.base import EndpointChangeStarted, MetricsSource, ServingBackend, Variant
    from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion

#: SageMaker's variant names are the strictest: [a-zA-Z0-9-], at most 63 characters
MAX_VARIANT_NAME = 63
HEALTH_CHECK_EXAMPLES = 5
#: the traffic deploy measures to plan the rollout: the champion's last hour
TRAFFIC_LOOKBACK_S = 3600.0


def variant_name(version_id: str) -> str:
    """The endpoint variant serving a model version: `v-<version_id>`, safe for every serving backend."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"v-{version_id}").rstrip("-")
    if len(name) <= MAX_VARIANT_NAME:
        return name
    # Truncated names could collide: keep a hash of the whole id.
    digest = hashlib.sha256(version_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_VARIANT_NAME - 9].rstrip('-')}-{digest}"


def route(
    serving: ServingBackend, endpoint: str, weights: dict[str, float], generation: int | None = None
) -> dict[str, float]:
    """Give the named variants these weights and every other variant on the endpoint 0 (no call if already so)."""
    current = serving.describe(endpoint)
    desired = {name: 0.0 for name in current} | {name: float(w) for name, w in weights.items()}
    if current != desired:
        serving.set_weights(endpoint, desired, generation)
    return desired


def verify_serving(serving: ServingBackend, endpoint: str, champion: str | None) -> None:
    """Raise unless `champion` serves 100 % of `endpoint` (what the endpoint says, not what was asked)."""
    if champion is None:
        return
    weights = serving.describe(endpoint)
    if abs(weights.get(champion, 0.0) - 100.0) > 1e-6:
        raise AirflowException(f"endpoint {endpoint!r} should serve {champion} at 100 % but reports {weights}")


class EndpointOperator(LifecycleOperator):
    """An operator acting on one endpoint: the local endpoint server, or SageMaker when `sagemaker` is given.

    :param endpoint: the endpoint's name.
    :param endpoint_conn_id: the local endpoint server's connection (type `mlprovider_endpoint`: host, port,
        admin token as password).
    :param sagemaker: SageMaker hosting settings (`backends.aws.hosting.SageMakerHosting`): serve on a
        SageMaker endpoint through `aws_conn_id` instead of the local server.
    :param deferrable: sagemaker: wait for endpoint changes in the triggerer, not in a worker slot; defaults to
        `[operators] default_deferrable`.
    """

    ui_color = "#e3ecf7"

    def __init__(
        self, *, endpoint: str, endpoint_conn_id: str = "mlprovider_endpoint",
        sagemaker: SageMakerHosting | None = None, deferrable: bool | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.endpoint_conn_id = endpoint_conn_id
        self.sagemaker = sagemaker
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    @cached_property
    def serving(self) -> ServingBackend:
        from airflow_mlprovider.backends import serving_backend

        return serving_backend(self.endpoint_conn_id, sagemaker=self.sagemaker, aws_conn_id=self.aws_conn_id,
                               wait=not self.deferrable)

    def defer_endpoint_change(
        self, started: EndpointChangeStarted, resume: dict[str, Any], method_name: str = "execute_complete"
    ) -> NoReturn:
        """Wait in the triggerer for the started change; `resume` comes back in the event."""
        from airflow_mlprovider.triggers.sagemaker_endpoint import EndpointUpdateTrigger

        self.log.info("%s: waiting in the triggerer", started)
        self.defer(
            trigger=EndpointUpdateTrigger(endpoint=started.endpoint, change=started.change, resume=resume,
                                          waiter_delay=self.serving.poll_interval_s, aws_conn_id=self.aws_conn_id),
            method_name=method_name,
        )

    def finish_endpoint_change(self, event: dict[str, Any]) -> dict[str, Any]:
        """Check the endpoint trigger's event, verify and finish the change; the state carried across the wait."""
        change = event["change"]
        if event.get("status") != "success":
            raise AirflowException(
                f"SageMaker endpoint {event.get('endpoint')!r} did not return to service after its {change['kind']} "
                f"change ({event.get('status')}): {event.get('message')}"
            )
        self.serving.finish_change(change)
        return dict(event.get("resume") or {})

    @cached_property
    def metrics(self) -> MetricsSource:
        """The endpoint's per-variant traffic counts (CloudWatch for SageMaker, else the server's window API)."""
        from airflow_mlprovider.backends import metrics_source

        return metrics_source(self.endpoint_conn_id, cloudwatch=self.sagemaker is not None,
                              aws_conn_id=self.aws_conn_id)


class ChampionKeepingOperator(EndpointOperator):
    """An endpoint operator that knows the model's registry and can (re)deploy its champion.

    :param model: the model's name.
    :param registry_uri: the model's registry root (`<artifact_root>/<model>`).
    :param request_schema: path of the request JSON Schema (the server validates requests with it).
    :param response_schema: path of the response JSON Schema.
    :param prediction_field: the response field holding the prediction.
    """

    def __init__(
        self, *, model: str, registry_uri: str, request_schema: str, response_schema: str,
        prediction_field: str = "prediction", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.registry_uri = registry_uri
        self.request_schema = request_schema
        self.response_schema = response_schema
        self.prediction_field = prediction_field

    @cached_property
    def registry(self) -> ModelRegistry:
        from airflow_mlprovider.registry.store import ModelRegistry

        return ModelRegistry(self.store(self.registry_uri), self.registry_uri)

    def variant_for(self, version: ModelVersion, fault_injection: float = 0.0, shadow: bool = False) -> Variant:
        from airflow_mlprovider.backends.base import Variant

        return Variant(
            name=variant_name(version.version_id),
            artifact_uri=version.artifact_uri,
            request_schema_path=self.request_schema,
            response_schema_path=self.response_schema,
            fault_injection=fault_injection,
            manifest_digest=version.manifest_digest,
            prediction_field=self.prediction_field,
            shadow=shadow,
        )

    def registered(self, version_id: str) -> ModelVersion:
        version = self.registry.get(version_id)
        if version is None:
            raise AirflowException(f"version {version_id!r} is not in the registry {self.registry_uri}")
        return version

    def serve_champion(
        self, champion: ModelVersion | None, generation: int | None, remove: str | None = None
    ) -> str | None:
        """Put `champion` at 100 % (redeploying it if the endpoint lost it), then remove the variant `remove`.

        Traffic moves before anything is removed, so a removed variant never has requests routed to it.
        The champion itself is never removed. Returns the champion's variant name (None: no champion).
        """
        serving, name = self.serving, None
        if champion is not None:
            name = variant_name(champion.version_id)
            if name not in serving.describe(self.endpoint):
                serving.deploy(self.endpoint, self.variant_for(champion), 0.0)
            route(serving, self.endpoint, {name: 100.0}, generation)
        if remove is not None and remove != name:
            serving.remove(self.endpoint, remove)
        return name

    def execute(self, context: Any) -> dict[str, Any]:
        return self._resumable(context, {})

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return self._resumable(context, self.finish_endpoint_change(event))

    def _resumable(self, context: Any, resume: dict[str, Any]) -> dict[str, Any]:
        from airflow_mlprovider.backends.base import EndpointChangeStarted

        try:
            return self.act(context, resume)
        except EndpointChangeStarted as started:
            self.defer_endpoint_change(started, resume)

    def act(self, context: Any, resume: dict[str, Any]) -> dict[str, Any]:
        """The operator's steps, run again after each deferral; `resume` holds what must not be redone."""
        raise NotImplementedError

    def fenced(self, resume: dict[str, Any]) -> int:
        """This task's fence generation: a new one on the first run, the same one after a deferral."""
        if "generation" not in resume:
            resume["generation"] = self.serving.fence(self.endpoint)
        return resume["generation"]


class DeployOperator(ChampionKeepingOperator):
    """Deploy a registered version at 0 % beside the champion (redeployed at 100 % if the endpoint lost it).

    Starts a new weight generation (fence) that the rollout carries. Idempotent: a retry redeploys the
    same variants.

    With a `rollout_policy`, it also warns up front (log and notification) when the champion's traffic of
    the last hour is too low for the rollout's steps to be decided within their limits
    (`rollout.plan_rollout`), saying how long each step is expected to take, and on SageMaker when the policy
    has guardrails (CloudWatch has no data for them: they cannot be judged there).

    :param version_id: the registered candidate (`register.output["version_id"]`); templated.
    :param fault_injection: demos and tests: the candidate fails this fraction of requests with a 5xx.
    :param rollout_policy: the rollout that will follow, as a spec's `rollout` section (None: no traffic check).
    :param shadow: deploy the candidate as a shadow: it receives a mirror of the live requests (the shadow
        stage, ShadowOperator) until a weight change gives it traffic.
    :return: `{"endpoint", "candidate", "champion", "version_id", "generation"}`: variant names (champion
        None: nothing to compare with, the rollout completes at once).
    """

    template_fields: Sequence[str] = ("version_id", "registry_uri")

    def __init__(
        self, *, version_id: str, fault_injection: float = 0.0, rollout_policy: dict[str, Any] | None = None,
        shadow: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version_id = version_id
        self.fault_injection = fault_injection
        self.rollout_policy = rollout_policy
        self.shadow = shadow

    def act(self, context: Any, resume: dict[str, Any]) -> dict[str, Any]:
        serving = self.serving
        candidate = self.registered(self.version_id)
        candidate_name = variant_name(candidate.version_id)
        generation = self.fenced(resume)
        champion = self.registry.champion()
        if champion is not None and champion.version_id == candidate.version_id:
            # A re-run after this version was finalized: it already is the champion.
            self.serve_champion(champion, generation)
            return self._deployed(candidate, None, generation)
        champion_name = self.serve_champion(champion, generation)
        if champion_name is None:
            others = {n: w for n, w in serving.describe(self.endpoint).items() if w > 0 and n != candidate_name}
            if others:
                raise AirflowFailException(
                    f"endpoint {self.endpoint!r} serves {others} but model {self.model!r} has no champion in its "
                    "registry: the endpoint belongs to something else. Give this model its own endpoint "
                    "or remove those variants."
                )
        as_shadow = self.shadow and champion_name is not None  # a first model has no live traffic to mirror
        serving.deploy(self.endpoint, self.variant_for(candidate, self.fault_injection, as_shadow), 0.0)
        self.announce(self.model, "deploy", f"{candidate_name} deployed at 0 %{' as a shadow' if as_shadow else ''} "
                      f"on {self.endpoint}"
                      + (f" beside champion {champion_name} at 100 %" if champion_name else " (first model: no champion)"))
        if champion_name is not None and self.rollout_policy is not None:
            self._check_traffic(champion_name)
        if self.sagemaker is not None and self.rollout_policy is not None:
            self._check_guardrails()
        return self._deployed(candidate, champion_name, generation)

    def _check_guardrails(self) -> None:
        """Warn that the rollout's guardrails cannot be judged on SageMaker (CloudWatch has what they need for
        neither): it judges the 5xx and 4xx rates only, and a guardrail without data never holds a step."""
        from airflow_mlprovider.spec.model import Rollout

        guardrails = Rollout.from_dict(self.rollout_policy).guardrails
        inert = [name for name in ("prediction_shift", "latency_p99_ratio") if getattr(guardrails, name) is not None]
        if inert:
            self.announce(self.model, "deploy.guardrails", f"guardrails {', '.join(inert)} cannot be judged on "
                          "SageMaker: CloudWatch publishes no prediction values and no latency histogram, so the "
                          "rollout of this candidate judges its 5xx and 4xx rates only", alert=True)

    def _check_traffic(self, champion: str) -> None:
        """Warn when the last hour's traffic cannot decide the rollout's steps within their limits."""
        from airflow_mlprovider.rollout import RolloutPolicy, plan_rollout
        from airflow_mlprovider.spec.model import Rollout

        now = time.time()
        try:
            counts = self.metrics.window(self.endpoint, [champion], now - TRAFFIC_LOOKBACK_S, now)[champion]
        except Exception as exc:  # noqa: BLE001 - a warning's input: its absence never fails a deploy
            self.log.warning("could not read %s's recent traffic to plan the rollout: %s", self.endpoint, exc)
            return
        requests = max(counts.requests, 1)
        plan = plan_rollout(
            RolloutPolicy.from_spec(Rollout.from_dict(self.rollout_policy)), counts.requests / TRAFFIC_LOOKBACK_S,
            {"5xx": counts.errors_5xx / requests, "4xx": counts.errors_4xx / requests},
        )
        if not plan.feasible:
            self.announce(self.model, "deploy.traffic", f"{self.endpoint} served {counts.requests} requests in the "
                          f"last hour: the rollout will wait for evidence; " + "; ".join(plan.problems), alert=True)

    def _deployed(self, candidate: ModelVersion, champion: str | None, generation: int | None) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "candidate": variant_name(candidate.version_id),
            "champion": champion,
            "version_id": candidate.version_id,
            "generation": generation,
        }


class HealthCheckOperator(EndpointOperator):
    """Send example requests to one variant alone (at 0 % weight: no user sees it) before it gets traffic.

    Any non-2xx answer fails the task without retries (the variant answered, and answered wrong).
    Unreachable endpoints raise ordinary errors, which are retried.

    :param variant: the variant to probe (`deploy.output["candidate"]`); templated.
    :param example_requests: the requests to send; when empty, `generated_requests` are generated from
    :param request_schema: the request JSON Schema's path.
    :param generated_requests: how many requests to generate from the schema.
    :return: `{"variant", "requests", "generated"}`.
    """

    template_fields: Sequence[str] = ("variant", "example_requests")

    def __init__(
        self, *, variant: str, example_requests: list[dict[str, Any]] | None = None,
        request_schema: str | None = None, generated_requests: int = HEALTH_CHECK_EXAMPLES, model: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not example_requests and not request_schema:
            raise ValueError("give example_requests, or a request_schema to generate them from")
        self.variant = variant
        self.example_requests = list(example_requests or [])
        self.request_schema = request_schema
        self.generated_requests = generated_requests
        self.model = model

    def execute(self, context: Any) -> dict[str, Any]:
        requests, generated = self.requests()
        answers = [(request, *self.serving.invoke(self.endpoint, self.variant, request)) for request in requests]
        failed = [(i, request, status, body) for i, (request, status, body) in enumerate(answers) if not 200 <= status < 300]
        if failed:
            detail = "; ".join(
                f"#{i}: {json.dumps(request, default=str)} -> {status} {json.dumps(body, default=str)[:300]}"
                for i, request, status, body in failed
            )
            raise AirflowFailException(
                f"health check of {self.variant} on {self.endpoint}: {len(failed)} of {len(requests)} requests "
                f"failed: {detail}"
            )
        self.announce(self.model or self.endpoint, "health_check", f"{self.variant} answered {len(requests)} of "
                      f"{len(requests)} {'generated' if generated else 'example'} requests with 2xx")
        return {"variant": self.variant, "requests": len(requests), "generated": generated}

    def requests(self) -> tuple[list[dict[str, Any]], bool]:
        """(requests, whether they were generated from the request schema)."""
        if self.example_requests:
            return list(self.example_requests), False
        from airflow_mlprovider.request_examples import generate

        with open(self.request_schema) as fh:
            schema = json.load(fh)
        return generate(schema, n=self.generated_requests, seed=0), True


class FinalizeOperator(ChampionKeepingOperator):
    """After a completed rollout: make the version the champion at 100 %, removing the previous champion.

    Fences first (a stale rollout attempt can no longer move weights), routes, then checks with describe().
    The registry may refuse (a champion trained on newer data appeared meanwhile, e.g. during a backfill):
    then that champion is restored to 100 % and the candidate removed; the registry records why.
    Moving the champion emits an event of the Asset `mlprovider://<model>/champion`.

    :param version_id: the rolled-out version (`deploy.output["version_id"]`); templated.
    :param previous_champion: the variant it replaces (`deploy.output["champion"]`); templated.
    :param reason: why (`rollout.output["reason"]`); templated.
    :return: `{"promoted", "champion", "reason"}`.
    """

    template_fields: Sequence[str] = ("version_id", "previous_champion", "reason", "registry_uri")

    def __init__(
        self, *, version_id: str, previous_champion: str | None = None, reason: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.outlets = [*self.outlets, champion_alias(self.model)]
        self.version_id = version_id
        self.previous_champion = previous_champion
        self.reason = reason

    def act(self, context: Any, resume: dict[str, Any]) -> dict[str, Any]:
        serving = self.serving
        candidate = variant_name(self.version_id)
        generation = self.fenced(resume)
        if "promotion" not in resume:  # once: a repeat would read "already the champion"
            outcome = self.registry.promote(self.version_id, f"rollout completed: {self.reason or 'no reason given'}")
            resume["promotion"] = {"promoted": outcome.promoted, "reason": outcome.reason,
                                   "champion": outcome.champion.version_id if outcome.champion else None}
        promotion = resume["promotion"]
        if not promotion["promoted"]:
            champion = self.registered(promotion["champion"]) if promotion["champion"] else None
            restored = self.serve_champion(champion, generation, remove=candidate)
            verify_serving(serving, self.endpoint, restored)
            self.announce(self.model, "finalize.refused", f"{self.version_id} is not promoted: {promotion['reason']}; "
                          f"{restored} serves 100 % and {candidate} was removed")
            return {"promoted": False, "champion": restored, "reason": promotion["reason"]}
        route(serving, self.endpoint, {candidate: 100.0}, generation)
        previous = self.previous_champion
        if previous is not None and previous != candidate:
            serving.remove(self.endpoint, previous)
        verify_serving(serving, self.endpoint, candidate)
        emit_champion_event(context, self.registered(self.version_id))
        self.announce(self.model, "finalize", f"{candidate} is the champion and serves 100 % of {self.endpoint}"
                      + (f"; {previous} removed" if previous else ""))
        return {"promoted": True, "champion": candidate, "reason": promotion["reason"]}


class RollbackOperator(ChampionKeepingOperator):
    """Restore the registry's champion to 100 % and remove the candidate; meant to run whatever failed upstream
    (`trigger_rule="all_done"`): an upstream that did not run gives None for its XComArg.

    Outcome: when the rollout DECIDED to roll back, this task succeeds (a rolled-back candidate is a normal,
    safe result, announced as an alert). When the stage failed instead (deploy, health check or the rollout
    itself), the endpoint is repaired first and then this task fails, so the run shows that the rollout
    did not complete. Idempotent: a removed or never-deployed candidate is fine. Fences first, verifies last.

    :param version_id: the registered candidate (`register.output["version_id"]`); None: nothing to roll back.
    :param decision: the rollout's result (`rollout.output`), None if it did not decide.
    :param deployed: the deploy result (`deploy.output`), None if deploy did not complete.
    :param health_check: the health check result (`health_check.output`), None if it did not pass.
    :param shadow: the shadow stage's result (`shadow.output`), None if it did not pass; give it only when the
        run has a shadow stage (`shadow_stage`).
    :param shadow_stage: whether the run has a shadow stage between the health check and the rollout.
    :return: `{"rolled_back", "champion", "reason"}`.
    """

    template_fields: Sequence[str] = ("version_id", "decision", "deployed", "health_check", "shadow", "registry_uri")

    def __init__(
        self, *, version_id: str | None, decision: dict[str, Any] | None = None, deployed: dict[str, Any] | None = None,
        health_check: dict[str, Any] | None = None, shadow: dict[str, Any] | None = None, shadow_stage: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version_id = version_id
        self.decision = decision
        self.deployed = deployed
        self.health_check = health_check
        self.shadow = shadow
        self.shadow_stage = shadow_stage

    def act(self, context: Any, resume: dict[str, Any]) -> dict[str, Any]:
        if not self.version_id:
            raise AirflowSkipException("no candidate was registered in this run: nothing to roll back")
        serving = self.serving
        candidate = variant_name(self.version_id)
        generation = self.fenced(resume)
        champion = self.registry.champion()
        restored = self.serve_champion(champion, generation, remove=candidate)
        verify_serving(serving, self.endpoint, restored)
        if champion is not None and champion.version_id == self.version_id:
            self.announce(self.model, "rollback", f"{candidate} is already the champion (finalized): it keeps serving 100 %")
            return {"rolled_back": False, "champion": restored, "reason": "already the champion"}
        decided = bool(self.decision) and self.decision.get("action") == "rollback"
        reason = self.decision["reason"] if decided else self._failure_cause()
        self.registry.record(self.version_id, "rolled_back", reason, decided=decided, champion=restored)
        serving_now = f"{restored} serves 100 % of {self.endpoint}" if restored else f"{self.endpoint} has no champion"
        self.announce(self.model, "rollback", f"{candidate} rolled back ({reason}); {serving_now}", alert=True)
        if not decided:
            self._conclude_rollout_record(context, reason)
            raise AirflowFailException(f"endpoint repaired ({serving_now}, {candidate} removed); failing because {reason}")
        return {"rolled_back": True, "champion": restored, "reason": reason}

    def _conclude_rollout_record(self, context: Any, reason: str) -> None:
        """The Models page's record of a rollout that failed before deciding ends here; like the rollout's own
        record keeping, a store that cannot be written is logged, never fails the repair."""
        from airflow_mlprovider.operators.base import run_key
        from airflow_mlprovider.run_history import RolloutHistory, utc_iso

        try:
            RolloutHistory(self.store(self.registry_uri), self.registry_uri).conclude_interrupted(
                run_key(context["run_id"]), f"rolled back: {reason}", utc_iso(time.time()))
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.log.warning("could not conclude the rollout record of %s: %s", context["run_id"], exc)

    def _failure_cause(self) -> str:
        if not self.deployed:
            return "the deploy task did not complete"
        if not self.health_check:
            return "the candidate did not pass its health check"
        if self.shadow_stage and not self.shadow:
            return "the candidate did not pass its shadow stage (its verdict is in the shadow task's log)"
        return "the rollout failed or timed out before reaching a decision"
