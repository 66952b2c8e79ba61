"""The shadow task: before any live traffic, judge a candidate on a mirror of the live requests.

The candidate was deployed as a shadow (weight 0, `Variant.shadow`): the endpoint sends it a copy of every
live request and discards its answers. execute() defers to ShadowTrigger, which reads the mirrored traffic
until the verdict is due (shadow_verdict.judge). A passed candidate stays a shadow at weight 0 until the
rollout gives it traffic (a fenced weight change, which ends the mirror). A failed one is removed from the
endpoint (the champion keeps serving 100 %), announced as an alert, and the task fails: the rollout never
starts, and the rollout group's rollback task records why and checks the endpoint.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

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
        policy, compare = self.policy, comparison(self.policy.compare, self.metric)
        self.announce(self.model, "shadow.start", f"{self.candidate} shadows {self.champion} on {self.endpoint}: "
                      f"mirrored requests until {policy.min_requests:,} are answered (at most "
                      f"{policy.max_duration_s:g} s), predictions compared by {compare}")
        self.defer(
            trigger=ShadowTrigger(
                endpoint=self.endpoint, champion=self.champion, candidate=self.candidate,
                policy=dataclasses.asdict(policy), compare=compare, started_at=time.time(),
                endpoint_conn_id=self.endpoint_conn_id, cloudwatch=self.sagemaker is not None,
                aws_conn_id=self.aws_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=policy.max_duration_s + policy.check_interval_s + TRIGGER_DEADLINE_MARGIN_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if event["action"] == "pass":
            self.announce(self.model, "shadow.pass", f"{self.candidate} passed its shadow stage: {event['reason']}")
            return {"action": "pass", "reason": event["reason"], "figures": event["figures"]}
        from airflow_mlprovider.backends.base import StaleFenceError

        try:  # stop the mirror now; the champion serves 100 % throughout
            self.serving.remove(self.endpoint, self.candidate, self.generation)
            removed = f"{self.candidate} removed"
        except StaleFenceError as exc:  # a newer fence (rollback, another run) owns the endpoint now
            removed = f"{self.candidate} left to the newer fence ({exc})"
        self.announce(self.model, "shadow.fail", f"{self.candidate} failed its shadow stage: {event['reason']}; "
                      f"{removed}; {self.champion} keeps serving 100 % of {self.endpoint}", alert=True)
        raise AirflowFailException(f"shadow stage failed: {event['reason']}")
