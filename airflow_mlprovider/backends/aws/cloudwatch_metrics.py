"""MetricsSource from CloudWatch: SageMaker's per-variant endpoint metrics over a window, in one GetMetricData call.

Counts are Sums of AWS/SageMaker Invocations, Invocation4XXErrors and Invocation5XXErrors per EndpointName +
VariantName. Latency is ModelLatency (microseconds) as the p99 extended statistic over the window (one period
spans the whole window). No metric math: plain MetricStat queries.
SageMaker publishes no prediction values, so prediction_mean stays None (the prediction-shift guardrail needs the
local endpoint server's metrics).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from airflow_mlprovider.rollout.counts import VariantCounts

NAMESPACE = "AWS/SageMaker"
COUNTS = {"requests": "Invocations", "errors_4xx": "Invocation4XXErrors", "errors_5xx": "Invocation5XXErrors"}
LATENCY = "ModelLatency"
LATENCY_STAT = "p99"
_MAX_QUERIES = 500  # GetMetricData's limit per call


class CloudWatchMetrics:
    """Per-variant counts of a SageMaker endpoint, read through an Airflow AWS connection."""

    def __init__(self, aws_conn_id: str = "aws_default") -> None:
        self.aws_conn_id = aws_conn_id

    @cached_property
    def _cloudwatch(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="cloudwatch").get_conn()

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        if end <= start:
            raise ValueError(f"the window must end after it starts (start={start}, end={end})")
        period = 60 * math.ceil((end - start) / 60)  # one period covers the window (CloudWatch wants minutes)
        queries = [
            _query(f"v{i}_{field}", endpoint, variant, metric, stat, period)
            for i, variant in enumerate(variants)
            for field, metric, stat in [*((f, m, "Sum") for f, m in COUNTS.items()), ("latency", LATENCY, LATENCY_STAT)]
        ]
        values: dict[str, list[float]] = {}
        for batch in range(0, len(queries), _MAX_QUERIES):
            paginator = self._cloudwatch.get_paginator("get_metric_data")
            for page in paginator.paginate(
                MetricDataQueries=queries[batch : batch + _MAX_QUERIES],
                StartTime=datetime.fromtimestamp(start, timezone.utc),
                EndTime=datetime.fromtimestamp(end, timezone.utc),
            ):
                for result in page["MetricDataResults"]:
                    values.setdefault(result["Id"], []).extend(result["Values"])
        return {variant: _counts(values, f"v{i}") for i, variant in enumerate(variants)}


def _query(query_id: str, endpoint: str, variant: str, metric: str, stat: str, period: int) -> dict[str, Any]:
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _counts(values: dict[str, list[float]], prefix: str) -> VariantCounts:
    def total(field: str) -> int:
        return int(round(sum(values.get(f"{prefix}_{field}", []))))

    latency_us = max(values.get(f"{prefix}_latency", []), default=None)  # one period: at most one value
    return VariantCounts(
        requests=total("requests"),
        errors_4xx=total("errors_4xx"),
        errors_5xx=total("errors_5xx"),
        latency_p99_ms=None if latency_us is None else latency_us / 1000.0,
    )
