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
