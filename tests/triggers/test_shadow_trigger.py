"""ShadowTrigger: JSON-safe serialization, one event with the verdict, a fail after repeated metric failures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import pytest

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.agreement import AgreementCounts
from airflow_mlprovider.spec.model import Shadow
from airflow_mlprovider.triggers.shadow import MAX_METRICS_FAILURES, ShadowTrigger

POLICY = dataclasses.asdict(Shadow.from_dict({"min_requests": 100, "check_interval": "0.02s", "max_duration": "5s"}))


class MirroredMetrics:
    """The champion serves 1000 requests a second, the candidate answers all of them, predictions offset by `offset`
    (in the champion's standard deviations, which is 1); or every read fails."""

    def __init__(self, offset: float, failing: bool = False) -> None:
        self.offset, self.failing, self.started = offset, failing, time.time()

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        if self.failing:
            raise ConnectionRefusedError("endpoint server not reachable")
        n = int(1000 * (end - start))
        return {name: VariantCounts(requests=n) for name in variants}

    def agreement(self, endpoint: str, shadow: str, live: str, start: float, end: float) -> AgreementCounts:
        counts = AgreementCounts(mirrored=int(1000 * (end - start)))
        for i in range(counts.mirrored):
            live_value = (-1.0, 1.0)[i % 2]
            counts.add_pair(live_value, live_value + self.offset)
        return counts


def run_trigger(metrics: MirroredMetrics, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr("airflow_mlprovider.backends.metrics_source", lambda *a, **k: metrics)
    trigger = ShadowTrigger(endpoint="sales", champion="v-old", candidate="v-new", policy=POLICY, compare="difference",
                            started_at=time.time())

    async def collect() -> list:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout=10))


def test_serializes_to_json_and_back() -> None:
    trigger = ShadowTrigger(endpoint="sales", champion="v-old", candidate="v-new", policy=POLICY, compare="class",
                            started_at=1.5, endpoint_conn_id="mine", cloudwatch=True, aws_conn_id="aws")
    path, kwargs = trigger.serialize()
    assert path == "airflow_mlprovider.triggers.shadow.ShadowTrigger"
    assert ShadowTrigger(**json.loads(json.dumps(kwargs))).serialize() == (path, kwargs)


@pytest.mark.parametrize(("offset", "action"), [(0.01, "pass"), (3.0, "fail")])
def test_one_event_with_the_verdict(offset: float, action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = run_trigger(MirroredMetrics(offset), monkeypatch)
    assert event["action"] == action, event
    assert event["figures"]["relative_difference"] == pytest.approx(offset, rel=0.01)


def test_repeated_metric_failures_fail_the_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = run_trigger(MirroredMetrics(0.0, failing=True), monkeypatch)
    assert event["action"] == "fail" and f"unavailable for {MAX_METRICS_FAILURES} checks" in event["reason"]
