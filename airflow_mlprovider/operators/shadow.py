"""The shadow task: before any live traffic, judge a candidate on a mirror of the live requests.

The candidate was deployed as a shadow (weight 0, `Variant.shadow`): the endpoint sends it a copy of every
live request and discards its answers. execute() defers to ShadowTrigger, which reads the mirrored traffic
until the verdict is due (shadow_verdict.judge). A passed candidate stays a shadow at weight 0 until the
rollout gives it traffic (a fenced weight change, which ends the mirror). A failed one is removed from the
endpoint (the champion keeps serving 100 %), announced as an alert, and the task fails: the rollout never
starts, and the rollout group's rollback task records why and checks the endpoint.

On SageMaker the mirror is a config switch on each side of the verdict (SageMakerServing.start_shadow and
end_shadow): the candidate, deployed and health-checked as a production variant at 0 %, becomes the endpoint's
shadow variant before the window starts, and a passed one becomes a production variant at 0 % again, which is
what the rollout starts from. Each switch takes minutes: the task waits in the triggerer (EndpointUpdateTrigger)
like the other endpoint operators, and carries the verdict across the wait that follows it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_mlprovider.operators.serving import EndpointOperator
from airflow_mlprovider.shadow_verdict import comparison
from airflow_mlprovider.spec.model import Shadow
from airflow_mlprovider.triggers.shadow import ShadowTrigger

#: the trigger's deadline beyond max_duration: the verdict is due at max_duration, this only fires if it stalls
TRIGGER_DEADLINE_MARGIN_S = 600.0


class ShadowOperator(EndpointOperator):
    """Deferrable shadow stage: compare the mirrored candidate with the live champion, pass or fail.

    :param candidate: the candidate's variant, deployed as a shadow (`deploy.output["candidate"]`); templated.
    :param champion: the champion's variant (`deploy.output["champion"]`); None: nothing to compare with, the
        stage passes at once; templated.
    :param generation: the deploy's fence generation: removing a failed candidate carries it; templated.
    :param shadow_policy: the spec's `shadow` section (min_requests, max_duration, check_interval, compare,
        max_relative_difference, min_agreement, max_error_rate_increase, latency_p99_ratio, significance); keys
        left out take the spec schema's defaults (docs/spec.md).
    :param metric: the evaluation metric; with compare "auto", accuracy and f1 compare predicted classes, every
        other metric the numeric difference.
    :param model: the model's name, in notifications.
    :return: `{"action": "pass", "reason", "figures"}` (a failed verdict fails the task instead).
    """

    template_fields: Sequence[str] = ("candidate", "champion", "generation")
    ui_color = "#e6e0f5"

    def __init__(
        self, *, candidate: str, champion: str | None, generation: int | None = None,
        shadow_policy: dict[str, Any] | None = None, metric: str | None = None, model: str = "", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.candidate = candidate
        self.champion = champion
        self.generation = generation
        self.shadow_policy = dict(shadow_policy or {})
        self.metric = metric
        self.model = model or self.endpoint

    @property
    def policy(self) -> Shadow:
        return Shadow.from_dict(self.shadow_policy)

    def execute(self, context: Any) -> dict[str, Any]:
        if self.champion is None:
            return {"action": "pass", "figures": {},
                    "reason": f"no champion to compare {self.candidate} with: the first model has no shadow stage"}
        weights = self.serving.describe(self.endpoint)
        missing = [name for name in (self.champion, self.candidate) if name not in weights]
        if missing:
            raise AirflowException(f"variant(s) {missing} are not on endpoint {self.endpoint!r} (it has "
                                   f"{sorted(weights)}): the deploy task must run again")
        return self._mirror()

    def mirror_started(self, context: Any, event: dict[str, Any]) -> NoReturn:
        """Resumed after SageMaker switched the endpoint to the config that mirrors to the candidate."""
        self.finish_endpoint_change(event)
        self._mirror()

    def _mirror(self) -> NoReturn:
        from airflow_mlprovider.backends.base import EndpointChangeStarted

        if self.sagemaker is not None:
            try:
                self.serving.start_shadow(self.endpoint, self.candidate, self.generation)
            except EndpointChangeStarted as started:
                self.defer_endpoint_change(started, {}, method_name="mirror_started")
        policy, compare = self.policy, comparison(self.policy.compare, self.metric)
        capture = self.sagemaker.data_capture_uri if self.sagemaker and self.sagemaker.data_capture_percent else None
        if self.sagemaker is None:
            judged = f"predictions compared by {compare}"
        elif capture:
            judged = (f"5xx and 4xx rates judged; predictions compared by {compare} on the requests both variants' "
                      f"data capture holds ({capture}); latency is not judged on SageMaker (no latency histograms)")
        else:
            judged = ("5xx and 4xx rates judged; prediction agreement and latency are not judged on SageMaker "
                      "(CloudWatch has neither predictions nor latency histograms; serving.data_capture_percent "
                      "turns on the data capture agreement is read from)")
        self.announce(self.model, "shadow.start", f"{self.candidate} shadows {self.champion} on {self.endpoint}: "
                      f"mirrored requests until {policy.min_requests:,} are answered (at most "
                      f"{policy.max_duration_s:g} s), {judged}")
        self.defer(
            trigger=ShadowTrigger(
                endpoint=self.endpoint, champion=self.champion, candidate=self.candidate,
                policy=dataclasses.asdict(policy), compare=compare, started_at=time.time(),
                endpoint_conn_id=self.endpoint_conn_id, cloudwatch=self.sagemaker is not None,
                aws_conn_id=self.aws_conn_id, data_capture_uri=capture,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=policy.max_duration_s + policy.check_interval_s + TRIGGER_DEADLINE_MARGIN_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return self._conclude({"verdict": event})

    def concluded(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resumed after SageMaker ended the mirror (a passed candidate) or removed the candidate (a failed one)."""
        from airflow_mlprovider.backends.base import StaleFenceError

        resume = dict(event.get("resume") or {})
        try:
            self.finish_endpoint_change(event)
        except StaleFenceError as exc:  # the change was made, but a newer fence owns the endpoint now
            resume["stale"] = str(exc)
        return self._conclude(resume)

    def _conclude(self, resume: dict[str, Any]) -> dict[str, Any]:
        """Act on the verdict: end the mirror (SageMaker) or remove the candidate; `resume` carries the verdict
        (and a stale fence met on the way) across the endpoint change's wait."""
        from airflow_mlprovider.backends.base import EndpointChangeStarted, StaleFenceError

        verdict, passed = resume["verdict"], resume["verdict"]["action"] == "pass"
        outcome = f"left to the newer fence ({resume['stale']})" if "stale" in resume else ""
        if not outcome:
            try:
                if not passed:  # stop the mirror now; the champion serves 100 % throughout
                    self.serving.remove(self.endpoint, self.candidate, self.generation)
                elif self.sagemaker is not None:  # on the local server the rollout's first weight ends the mirror
                    self.serving.end_shadow(self.endpoint, self.candidate, self.generation)
                outcome = "removed" if not passed else "a production variant at 0 %"
            except EndpointChangeStarted as started:
                self.defer_endpoint_change(started, resume, method_name="concluded")
            except StaleFenceError as exc:  # a newer fence (rollback, another run) owns the endpoint now
                outcome = f"left to the newer fence ({exc})"
        if passed:
            self.announce(self.model, "shadow.pass", f"{self.candidate} passed its shadow stage: {verdict['reason']}"
                          + (f"; {self.candidate} {outcome}" if self.sagemaker is not None else ""))
            return {"action": "pass", "reason": verdict["reason"], "figures": verdict["figures"]}
        self.announce(self.model, "shadow.fail", f"{self.candidate} failed its shadow stage: {verdict['reason']}; "
                      f"{self.candidate} {outcome}; {self.champion} keeps serving 100 % of {self.endpoint}", alert=True)
        raise AirflowFailException(f"shadow stage failed: {verdict['reason']}")
