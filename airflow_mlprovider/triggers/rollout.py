"""The rollout's waiting part: check the endpoint's traffic every check_interval until a decision is due.

Runs in the triggerer (no worker slot is held while a rollout waits). It yields ONE event, when `decide()`
says advance, complete or rollback; waits are only logged. Serializes to JSON-safe kwargs: the spec as a
plain dict, the variant names and the rollout state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_mlprovider.spec.model import ModelSpec

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import MetricsSource

#: consecutive failed metric reads after which the rollout rolls back (it cannot judge the candidate)
MAX_METRICS_FAILURES = 5


class RolloutTrigger(BaseTrigger):
    def __init__(
        self, *, spec: dict[str, Any], spec_source: str, endpoint: str, champion: str, candidate: str,
        state: dict[str, Any],
    ) -> None:
        super().__init__()
        self.spec = spec
        self.spec_source = spec_source
        self.endpoint = endpoint
        self.champion = champion
        self.candidate = candidate
        self.state = state

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "spec": self.spec,
                "spec_source": self.spec_source,
                "endpoint": self.endpoint,
                "champion": self.champion,
                "candidate": self.candidate,
                "state": self.state,
            },
        )

    def metrics_source(self, spec: ModelSpec) -> MetricsSource:
        from airflow_mlprovider.backends import metrics_for

        return metrics_for(spec)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_mlprovider.rollout import RolloutPolicy, RolloutState, decide
        from airflow_mlprovider.rollout.counts import VariantCounts

        spec = ModelSpec.from_dict(self.spec, self.spec_source)
        policy = RolloutPolicy.from_spec(spec.rollout)
        state = RolloutState.from_dict(self.state)
        metrics = await asyncio.to_thread(self.metrics_source, spec)
        failures = 0
        while True:
            await asyncio.sleep(policy.check_interval_s)
            now = time.time()
            try:
                counts = await asyncio.to_thread(
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
            if decision.action == "wait":
                self.log.info("%s at %g %%: wait (%s)", self.candidate, decision.weight, decision.reason)
                continue
            yield TriggerEvent({
                "action": decision.action,
                "weight": decision.weight,
                "reason": decision.reason,
                "stats": decision.stats,
                "state": decision.state.to_dict(),
            })
            return
