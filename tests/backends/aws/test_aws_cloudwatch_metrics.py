"""CloudWatchMetrics reads per-variant SageMaker metrics that were put into moto's CloudWatch."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics
from airflow_mlprovider.rollout.counts import VariantCounts

START = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc).timestamp()


def put(cloudwatch, endpoint, variant, metric, value, offset_s, unit="Count"):
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[{
            "MetricName": metric,
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            "Timestamp": datetime.fromtimestamp(START + offset_s, timezone.utc),
            "Value": value,
            "Unit": unit,
        }],
    )


def test_window_sums_counts_per_variant_and_reads_latency(aws_spec, aws_standin):
    cloudwatch = aws_standin.client("cloudwatch")
    endpoint = "cw-endpoint"
    for offset, (champion, candidate) in enumerate([(100, 10), (120, 12), (80, 8)]):
        put(cloudwatch, endpoint, "v-1", "Invocations", champion, 60 * offset)
        put(cloudwatch, endpoint, "v-2", "Invocations", candidate, 60 * offset)
    put(cloudwatch, endpoint, "v-1", "Invocation5XXErrors", 2, 30)
    put(cloudwatch, endpoint, "v-2", "Invocation5XXErrors", 1, 90)
    put(cloudwatch, endpoint, "v-2", "Invocation4XXErrors", 3, 90)
    for latency_us in (12_000, 48_000, 20_000):  # ModelLatency is in microseconds
        put(cloudwatch, endpoint, "v-2", "ModelLatency", latency_us, 100, unit="Microseconds")
    put(cloudwatch, endpoint, "v-1", "Invocations", 999, 3600)  # outside the window
    put(cloudwatch, "other-endpoint", "v-1", "Invocations", 999, 60)  # another endpoint

    counts = CloudWatchMetrics(aws_spec().aws_conn_id).window(endpoint, ["v-1", "v-2", "v-3"], START, START + 180)

    assert counts["v-1"] == VariantCounts(requests=300, errors_4xx=0, errors_5xx=2, latency_p99_ms=None)
    # nearest-rank p99 of three datapoints is the largest
    assert counts["v-2"] == VariantCounts(requests=30, errors_4xx=3, errors_5xx=1, latency_p99_ms=48.0)
    assert counts["v-3"] == VariantCounts()  # no traffic: zero counts


def test_window_must_end_after_it_starts(aws_spec):
    with pytest.raises(ValueError, match="must end after it starts"):
        CloudWatchMetrics(aws_spec().aws_conn_id).window("e", ["v-1"], START, START)


def _put_minutes(cloudwatch, endpoint, minutes):
    """One Invocations datapoint of 1 every 10 s through `minutes` minutes from START: 6 a minute."""
    data = [
        {
            "MetricName": "Invocations",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v-1"}],
            "Timestamp": datetime.fromtimestamp(START + second, timezone.utc),
            "Value": 1.0,
            "Unit": "Count",
        }
        for second in range(0, 60 * minutes, 10)
    ]
    for batch in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[batch : batch + 500])


@pytest.fixture
def late_publishing(aws_standin):
    """CloudWatch that has published only part of what was put (reset to 'everything' afterwards)."""
    yield aws_standin.publish_cloudwatch_until
    aws_standin.publish_cloudwatch_until(None)


def test_a_window_counts_only_published_minutes_so_its_counts_are_final(aws_spec, aws_standin, late_publishing):
    endpoint = "cw-late"
    _put_minutes(aws_standin.client("cloudwatch"), endpoint, 10)
    now = START + 7 * 60 + 20  # 12:07:20; SageMaker's last minutes are still on their way
    late_publishing(now - 100)  # published up to 12:05:40: minute 12:05 only in part
    metrics = CloudWatchMetrics(aws_spec().aws_conn_id, publish_delay_s=180, clock=lambda: now)
    step_started = START + 30  # mid-minute: minute 12:00 belongs to the step before

    counts = metrics.window(endpoint, ["v-1"], step_started, now)
    late_publishing(None)  # everything arrives
    final = metrics.window(endpoint, ["v-1"], step_started, now)

    assert counts == final  # nothing was counted that could still change
    assert counts["v-1"].requests == 3 * 6  # 12:01, 12:02, 12:03: whole minutes a publishing delay old


def test_nothing_published_yet_is_no_evidence(aws_spec, aws_standin, late_publishing):
    endpoint = "cw-early"
    _put_minutes(aws_standin.client("cloudwatch"), endpoint, 3)
    now = START + 150
    late_publishing(now - 60)
    counts = CloudWatchMetrics(aws_spec().aws_conn_id, publish_delay_s=180, clock=lambda: now).window(endpoint, ["v-1"], START + 5, now)
    assert counts == {"v-1": VariantCounts()}


def test_consecutive_windows_count_each_boundary_minute_once(aws_spec, aws_standin):
    endpoint = "cw-boundary"
    _put_minutes(aws_standin.client("cloudwatch"), endpoint, 10)
    metrics = CloudWatchMetrics(aws_spec().aws_conn_id, publish_delay_s=180, clock=lambda: START + 3600)
    start, boundary, end = START + 30, START + 250, START + 590  # steps change weights mid-minute

    first = metrics.window(endpoint, ["v-1"], start, boundary)["v-1"].requests
    second = metrics.window(endpoint, ["v-1"], boundary, end)["v-1"].requests
    whole = metrics.window(endpoint, ["v-1"], start, end)["v-1"].requests

    assert first + second == whole == 9 * 6  # minutes 12:01 to 12:09, each once


def _put_traffic(cloudwatch, endpoint: str, first_minute: float, minutes: int, per_minute: dict[str, tuple[int, int]]):
    """Per variant (requests, 5xx) each minute from `first_minute` on, as SageMaker publishes them."""
    data = []
    for minute in range(minutes):
        stamp = datetime.fromtimestamp(first_minute + 60 * minute, timezone.utc)
        for variant, (requests, errors) in per_minute.items():
            for metric, value in (("Invocations", requests), ("Invocation5XXErrors", errors)):
                data.append({"MetricName": metric, "Timestamp": stamp, "Value": float(value), "Unit": "Count",
                             "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                            {"Name": "VariantName", "Value": variant}]})
    for batch in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[batch : batch + 500])


def test_a_rollout_on_cloudwatch_neither_advances_nor_completes_on_unpublished_data(aws_spec, aws_standin, late_publishing):
    """The real RolloutTrigger on CloudWatch: a healthy candidate's minutes are all there but not yet published,
    so it waits; published in part (too little evidence), it still waits; once published, the step passes at
    the end of the published data, where the next step's window starts (no minute skipped or read twice)."""
    import asyncio
    import time

    from airflow_mlprovider.rollout import RolloutPolicy, RolloutState
    from airflow_mlprovider.spec.model import Rollout
    from airflow_mlprovider.triggers.rollout import RolloutTrigger, policy_kwargs

    endpoint = "cw-rollout"
    now = time.time()
    started = 60 * (now // 60) - 12 * 60  # a step that started 12 minutes ago on a minute boundary
    # 50/50 step, 1 % 5xx and no 4xx on both: 8 minutes of 2,500 requests each, at least 4 minutes old
    _put_traffic(aws_standin.client("cloudwatch"), endpoint, started + 60, 8,
                 {"v-old": (2500, 25), "v-new": (2500, 25)})
    policy = RolloutPolicy.from_spec(Rollout.from_dict({"steps": [50, 75, 100], "check_interval": "0.05s"}))
    state = RolloutState(step_index=0, weight=50.0, started_at=started, step_started_at=started)
    trigger = RolloutTrigger(endpoint=endpoint, champion="v-old", candidate="v-new", state=state.to_dict(),
                             policy=policy_kwargs(policy), cloudwatch=True, aws_conn_id=aws_spec().aws_conn_id)

    def decision(timeout_s: float) -> dict | None:
        async def first() -> dict:
            async for event in RolloutTrigger(**trigger.serialize()[1]).run():
                return event.payload

        try:
            return asyncio.run(asyncio.wait_for(first(), timeout=timeout_s))
        except TimeoutError:
            return None  # still waiting

    late_publishing(started)  # SageMaker's datapoints are on their way: nothing published yet
    assert decision(2.0) is None
    late_publishing(started + 2 * 60)  # one minute published: 2,500 candidate requests, too little to decide
    assert decision(2.0) is None
    late_publishing(None)  # everything published
    before = time.time()
    event = decision(30.0)
    after = time.time()
    assert event is not None and event["action"] == "advance"
    # the last whole minute at least 180 s old when the trigger decided (a loaded machine may cross a minute)
    published_end = event["state"]["step_started_at"]
    assert published_end in {60 * ((t - 180) // 60) for t in (before, after)}
    assert published_end >= started + 9 * 60
    minutes = (published_end - started) // 60 - 1
    assert event["stats"]["window"]["candidate"]["requests"] == minutes * 2500  # every published minute, each once
