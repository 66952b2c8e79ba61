"""RolloutTrigger: JSON-safe serialization, and one event per decision other than wait."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk.serde import deserialize, serialize

from airflow_mlprovider.rollout import RolloutPolicy, RolloutState, VariantCounts
from airflow_mlprovider.spec.model import ModelSpec
from airflow_mlprovider.triggers.rollout import MAX_METRICS_FAILURES, RolloutTrigger

SPEC = {
    "model": "churn",
    "data": {"sql": "select 1", "split": {"by": "hash", "column": "id"}},
    "code": {"module": "/m.py", "request_schema": "/req.json", "response_schema": "/resp.json"},
    "evaluate": {"metric": "accuracy", "label": "y"},
    "serving": {"endpoint": "churn"},
    "rollout": {"steps": [10, 50, 100], "check_interval": "0.02s", "min_requests": 50, "step_timeout": "1s"},
}
RATE = 100_000  # simulated requests per second reaching the endpoint


class ScriptedMetrics:
    """MetricsSource whose variants get a fixed share of RATE with fixed error rates (or whose reads fail)."""

    def __init__(self, shares: dict[str, float], error_rates: dict[str, float], failing: bool = False) -> None:
        self.shares, self.error_rates, self.failing = shares, error_rates, failing
        self.calls: list[tuple[str, list[str], float, float]] = []

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        self.calls.append((endpoint, variants, start, end))
        if self.failing:
            raise ConnectionRefusedError("endpoint server not reachable")
        out = {}
        for name in variants:
            requests = int(RATE * (end - start) * self.shares.get(name, 0.0))
            out[name] = VariantCounts(requests=requests, errors_5xx=round(requests * self.error_rates.get(name, 0.0)))
        return out


METRICS: dict[str, ScriptedMetrics] = {}


class ScriptedRolloutTrigger(RolloutTrigger):
    """The real trigger, reading traffic from the test's scripted metrics (keyed by endpoint)."""

    def metrics_source(self, spec: ModelSpec) -> ScriptedMetrics:
        return METRICS[self.endpoint]


def make_trigger(spec: dict[str, Any] = SPEC, cls: type[RolloutTrigger] = ScriptedRolloutTrigger) -> RolloutTrigger:
    policy = RolloutPolicy.from_spec(ModelSpec.from_dict(spec, "churn.model.yaml").rollout)
    state = RolloutState.start(policy, time.time())
    return cls(spec=spec, spec_source="churn.model.yaml", endpoint="churn", champion="v-old", candidate="v-new",
               state=state.to_dict())


def first_event(trigger: RolloutTrigger) -> dict[str, Any]:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), timeout=60))
    assert len(events) == 1, "the trigger yields exactly one event, then stops"
    return events[0].payload


def test_serialize_round_trips_through_json_and_airflow_serde() -> None:
    trigger = make_trigger(cls=RolloutTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlprovider.triggers.rollout.RolloutTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = RolloutTrigger(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_a_good_candidate_advances() -> None:
    METRICS["churn"] = ScriptedMetrics({"v-old": 0.9, "v-new": 0.1}, {"v-old": 0.01, "v-new": 0.01})
    payload = first_event(make_trigger())
    assert payload["action"] == "advance"
    assert payload["weight"] == 50
    assert RolloutState.from_dict(payload["state"]).step_index == 1
    endpoint, variants, start, end = METRICS["churn"].calls[-1]
    assert (endpoint, variants) == ("churn", ["v-old", "v-new"]) and start < end


def test_a_failing_candidate_is_rolled_back() -> None:
    METRICS["churn"] = ScriptedMetrics({"v-old": 0.9, "v-new": 0.1}, {"v-old": 0.01, "v-new": 0.2})
    payload = first_event(make_trigger())
    assert (payload["action"], payload["weight"]) == ("rollback", 0)
    assert payload["reason"]
    json.dumps(payload)  # the event travels through the metadata DB


def test_without_traffic_it_waits_until_the_step_timeout_rolls_back() -> None:
    METRICS["churn"] = ScriptedMetrics({}, {})
    spec = {**SPEC, "rollout": {**SPEC["rollout"], "on_timeout": "rollback"}}  # the default keeps waiting
    payload = first_event(make_trigger(spec))
    assert payload["action"] == "rollback"
    assert len(METRICS["churn"].calls) > 1, "no traffic is no evidence: the trigger waited and checked again"


def test_unreadable_metrics_roll_back_after_repeated_failures() -> None:
    METRICS["churn"] = ScriptedMetrics({}, {}, failing=True)
    spec = {**SPEC, "rollout": {**SPEC["rollout"], "step_timeout": "1h"}}
    payload = first_event(make_trigger(spec))
    assert payload["action"] == "rollback"
    assert f"unavailable for {MAX_METRICS_FAILURES} checks in a row" in payload["reason"]
    assert "endpoint server not reachable" in payload["reason"]
    assert len(METRICS["churn"].calls) == MAX_METRICS_FAILURES


@pytest.fixture(autouse=True)
def _forget_metrics() -> None:
    METRICS.clear()
