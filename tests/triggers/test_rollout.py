"""RolloutTrigger: JSON-safe serialization, and one event per decision other than wait."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk.serde import deserialize, serialize

from airflow_mlprovider.rollout import RolloutPolicy, RolloutState, VariantCounts
from airflow_mlprovider.spec.model import Rollout
from airflow_mlprovider.triggers.rollout import MAX_METRICS_FAILURES, RolloutTrigger, policy_kwargs

#: a spec's rollout section (a sub-second check interval: it must not be truncated to 0)
ROLLOUT = {"steps": [10, 50, 100], "check_interval": "0.02s", "min_requests": 50, "step_timeout": "1s"}
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

    def metrics_source(self) -> ScriptedMetrics:
        return METRICS[self.endpoint]


def make_trigger(rollout: dict[str, Any] = ROLLOUT, cls: type[RolloutTrigger] = ScriptedRolloutTrigger) -> RolloutTrigger:
    policy = RolloutPolicy.from_spec(Rollout.from_dict(rollout))
    assert policy.check_interval_s == 0.02
    state = RolloutState.start(policy, time.time())
    return cls(endpoint="churn", champion="v-old", candidate="v-new", state=state.to_dict(),
               policy=policy_kwargs(policy), endpoint_conn_id="churn_endpoint")


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


def test_without_traffic_it_waits_until_a_step_timeout_set_to_roll_back() -> None:
    METRICS["churn"] = ScriptedMetrics({}, {})
    payload = first_event(make_trigger({**ROLLOUT, "on_timeout": "rollback"}))
    assert payload["action"] == "rollback"
    assert len(METRICS["churn"].calls) > 1, "no traffic is no evidence: the trigger waited and checked again"


def test_unreadable_metrics_roll_back_after_repeated_failures() -> None:
    METRICS["churn"] = ScriptedMetrics({}, {}, failing=True)
    payload = first_event(make_trigger({**ROLLOUT, "step_timeout": "1h"}))
    assert payload["action"] == "rollback"
    assert f"unavailable for {MAX_METRICS_FAILURES} checks in a row" in payload["reason"]
    assert "endpoint server not reachable" in payload["reason"]
    assert len(METRICS["churn"].calls) == MAX_METRICS_FAILURES


@pytest.fixture(autouse=True)
def _forget_metrics() -> None:
    METRICS.clear()


def test_a_limit_under_on_timeout_wait_is_announced_once_then_the_trigger_keeps_waiting() -> None:
    # 1 % of the traffic, no errors: the 10 % step needs far longer than its 1 s step_timeout
    METRICS["churn"] = ScriptedMetrics({"v-old": 0.0009, "v-new": 0.0001}, {})
    trigger = make_trigger({**ROLLOUT, "min_requests": 10_000})
    payload = first_event(trigger)
    assert payload["action"] == "wait" and payload["announced"] == ["step_timeout:0"]
    assert "step_timeout" in payload["reason"] and "expects ~" in payload["reason"]
    assert payload["stats"]["limit"] == "step_timeout" and payload["stats"]["expected_wait_s"] > 0

    again = ScriptedRolloutTrigger(**{**trigger.serialize()[1], "state": payload["state"],
                                      "announced": payload["announced"]})

    async def nothing_within_a_second() -> bool:
        try:
            await asyncio.wait_for(anext(again.run()), timeout=1.0)
        except TimeoutError:
            return True
        return False

    checks = len(METRICS["churn"].calls)
    assert asyncio.run(nothing_within_a_second()), "an announced limit is only logged"
    assert len(METRICS["churn"].calls) > checks
