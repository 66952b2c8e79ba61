"""MetricsSource from CloudWatch: SageMaker's per-variant endpoint metrics over a window, in one GetMetricData call.

Counts are Sums of AWS/SageMaker Invocations, Invocation4XXErrors and Invocation5XXErrors per EndpointName +
VariantName. Latency is ModelLatency (microseconds) as the p99 extended statistic over the window (one period
spans the whole window). No metric math: plain MetricStat queries.
SageMaker publishes no prediction values to CloudWatch, so prediction_mean stays None (the rollout's
prediction-shift guardrail needs the local endpoint server's metrics; the monitor reads predictions from the
endpoint's data capture, backends/aws/data_capture.py).

Time: SageMaker's metrics have 1-minute granularity and reach CloudWatch 1-3 minutes late, and CloudWatch rounds
a query's StartTime down to the minute (botocore's GetMetricData documentation), so a window that starts or ends
mid-minute would read that whole minute, in two consecutive windows. A window therefore reads whole minutes only:
it starts at the first minute boundary at or after `start` (a minute a step started in belongs to the previous
step), and ends at the earlier of the first boundary at or after `end` and the last boundary that is a publishing
delay old ([mlprovider] cloudwatch_publish_delay, default 180 s). Minutes not yet published are not read at all:
the counts only ever hold final data, and a step neither advances nor completes on data CloudWatch has not got.
The rollout's trigger asks `published_until(now)` where the data end and judges the step up to there: a step
that passes at that boundary hands the next step its window from that boundary on, so the minutes still on
their way are judged with the next step (the same-window test does not mind the weight change inside them)
instead of being skipped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.backends.aws import settings

from airflow_mlprovider.rollout.counts import VariantCounts

if TYPE_CHECKING:
    from airflow_mlprovider.serving.agreement import AgreementCounts

NAMESPACE = "AWS/SageMaker"
COUNTS = {"requests": "Invocations", "errors_4xx": "Invocation4XXErrors", "errors_5xx": "Invocation5XXErrors"}
LATENCY = "ModelLatency"
LATENCY_STAT = "p99"
_MAX_QUERIES = 500  # GetMetricData's limit per call
MINUTE = 60  # SageMaker's endpoint metrics are published per minute


def published_minutes(start: float, end: float, now: float, delay_s: float) -> tuple[int, int]:
    """[first, last) minute boundaries of the published whole minutes in [start, end); last <= first: none."""
    first = MINUTE * math.ceil(start / MINUTE)
    last = min(MINUTE * math.ceil(end / MINUTE), MINUTE * math.floor((now - delay_s) / MINUTE))
    return first, last


class CloudWatchMetrics:
    """Per-variant counts of a SageMaker endpoint, read through an Airflow AWS connection."""

    def __init__(
        self,
        aws_conn_id: str = "aws_default",
        publish_delay_s: float | None = None,
        clock: Callable[[], float] = time.time,
        data_capture_uri: str | None = None,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.publish_delay_s = settings.cloudwatch_publish_delay_s() if publish_delay_s is None else publish_delay_s
        self.clock = clock
        self.data_capture_uri = data_capture_uri

    @cached_property
    def _cloudwatch(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="cloudwatch").get_conn()

    def published_until(self, now: float) -> float:
        """Where the published data end at `now`: the last minute boundary a publishing delay old."""
        return MINUTE * math.floor((now - self.publish_delay_s) / MINUTE)

    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        if end <= start:
            raise ValueError(f"the window must end after it starts (start={start}, end={end})")
        first, last = published_minutes(start, end, self.clock(), self.publish_delay_s)
        if last <= first:
            return {variant: VariantCounts() for variant in variants}  # nothing published yet: no evidence
        period = last - first  # one period covers the window: whole minutes, as CloudWatch wants
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
                StartTime=datetime.fromtimestamp(first, timezone.utc),
                EndTime=datetime.fromtimestamp(last, timezone.utc),
            ):
                for result in page["MetricDataResults"]:
                    values.setdefault(result["Id"], []).extend(result["Values"])
        return {variant: _counts(values, f"v{i}") for i, variant in enumerate(variants)}

    def agreement(self, endpoint: str, shadow: str, live: str, start: float, end: float) -> AgreementCounts | None:
        """The shadow's agreement with the live variant from both variants' data capture (`data_capture_uri`),
        their captured calls of [start, end) paired by request body (backends/aws/capture_agreement.py); None
        without data capture: CloudWatch has no predictions."""
        if not self.data_capture_uri:
            return None
        from airflow_mlprovider.backends.aws.capture_agreement import captured_agreement
        from airflow_mlprovider.backends.aws.data_capture import CaptureReader

        reader = CaptureReader(self.data_capture_uri, self.aws_conn_id)
        return captured_agreement(reader.read(endpoint, live, start, end), reader.read(endpoint, shadow, start, end))


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
