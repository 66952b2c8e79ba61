"""The rollout's waiting part: check the endpoint's traffic every check_interval until a decision is due.

Runs in the triggerer (no worker slot is held while a rollout waits). It yields ONE event, when `decide()`
says advance, retreat, complete or rollback; waits are only logged, except the first wait past a limit
(`step_timeout` of a step, or `timeout`) under `on_timeout: wait`, which comes out as a `wait` event so that the
operator can notify how long the rollout expects to need, then waits again. Serializes to JSON-safe kwargs: the resolved
policy, the variant names, the rollout state and where the metrics come from (connection ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import MetricsSource
    from airflow_mlprovider.rollout import RolloutPolicy

#: consecutive failed metric reads after which the rollout rolls back (it cannot judge the candidate)
MAX_METRICS_FAILURES = 5


def policy_kwargs(policy: RolloutPolicy) -> dict[str, Any]:
    """A RolloutPolicy as JSON-safe trigger kwargs."""
    values = dataclasses.asdict(policy)
    values["steps"] = list(values["steps"])
    return values


def limit_key(stats: dict[str, Any], step_index: int) -> str | None:
    """Which limit a decision reached, once per step for step_timeout ("step_timeout:<step>"), once per
    rollout for timeout; None if none."""
    limit = stats.get("limit")
    if limit == "step_timeout":
        return f"step_timeout:{step_index}"
    return limit


def data_end(metrics: MetricsSource, now: float) -> float:
    """Where `metrics`' data end at `now`: `published_until(now)` for a source that publishes late
    (CloudWatch), else now."""
    published_until = getattr(metrics, "published_until", None)
    return now if published_until is None else min(now, published_until(now))


class RolloutTrigger(BaseTrigger):
    """Wait for the next rollout decision on `endpoint` between `champion` and `candidate`.

    :param endpoint: the endpoint's name.
    :param champion: the champion's variant name.
    :param candidate: the candidate's variant name.
    :param state: the RolloutState as a dict (step, weight, clocks, evidence).
    :param policy: the RolloutPolicy's fields (see `policy_kwargs`).
    :param endpoint_conn_id: the local endpoint server's connection (its window API gives the counts); or
    :param cloudwatch: read SageMaker's per-variant CloudWatch metrics through `aws_conn_id` instead.
    :param aws_conn_id: the AWS connection (cloudwatch only).
    :param announced: the limits already announced (`limit_key`): their waits are only logged.
    """

    def __init__(
        self, *, endpoint: str, champion: str, candidate: str, state: dict[str, Any], policy: dict[str, Any],
        endpoint_conn_id: str = "mlprovider_endpoint", cloudwatch: bool = False, aws_conn_id: str = "aws_default",
        announced: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.champion = champion
        self.candidate = candidate
        self.state = state
        self.policy = policy
        self.endpoint_conn_id = endpoint_conn_id
        self.cloudwatch = cloudwatch
        self.aws_conn_id = aws_conn_id
        self.announced = list(announced or [])

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint": self.endpoint,
                "champion": self.champion,
                "candidate": self.candidate,
                "state": self.state,
                "policy": self.policy,
                "endpoint_conn_id": self.endpoint_conn_id,
                "cloudwatch": self.cloudwatch,
                "aws_conn_id": self.aws_conn_id,
                "announced": self.announced,
            },
        )

    def metrics_source(self) -> MetricsSource:
        from airflow_mlprovider.backends import metrics_source

        return metrics_source(self.endpoint_conn_id, cloudwatch=self.cloudwatch, aws_conn_id=self.aws_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_mlprovider.rollout import RolloutPolicy, RolloutState, decide
        from airflow_mlprovider.rollout.counts import VariantCounts

        policy = RolloutPolicy(**self.policy)
        state = RolloutState.from_dict(self.state)
        metrics = await asyncio.to_thread(self.metrics_source)
        failures = 0
        while True:
            await asyncio.sleep(policy.check_interval_s)
            # Judge the step up to where its data end (CloudWatch: the last published minute), so that a step that
            # passes hands the minutes still on their way to the next step's window instead of skipping them.
            now = data_end(metrics, time.time())
            try:
                counts = {} if now <= state.step_started_at else await asyncio.to_thread(
                    metrics.window, self.endpoint, [self.champion, self.candidate], state.step_started_at, now
                )
                failures = 0
            except Exception as err:  # noqa: BLE001 - a failed read is no evidence; repeated failures end the rollout
                failures += 1
                self.log.warning("reading %s's traffic failed (%d/%d): %s", self.endpoint, failures,
                                 MAX_METRICS_FAILURES, err)
                if failures >= MAX_METRICS_FAILURES:
                    yield TriggerEvent({
                        "action": "rollback",
                        "weight": 0.0,
                        "reason": f"traffic metrics of {self.endpoint} unavailable for {failures} checks in a "
                                  f"row ({err}): the candidate cannot be judged",
                        "stats": {},
                        "state": state.to_dict(),
                    })
                    return
                counts = {}
            decision = decide(
                policy, state, counts.get(self.champion, VariantCounts()), counts.get(self.candidate, VariantCounts()), now
            )
            state = decision.state
            limit = limit_key(decision.stats, state.step_index)
            if decision.action == "wait" and (limit is None or limit in self.announced):
                self.log.info("%s at %g %%: wait (%s)", self.candidate, decision.weight, decision.reason)
                continue
            yield TriggerEvent({
                "action": decision.action,
                "weight": decision.weight,
                "reason": decision.reason,
                "stats": decision.stats,
                "state": decision.state.to_dict(),
                "announced": self.announced + ([limit] if decision.action == "wait" else []),
            })
            return
