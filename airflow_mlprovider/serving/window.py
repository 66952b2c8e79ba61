"""Per-second traffic buckets per endpoint variant, kept for `retention_s`, read back over any window.

The rollout's only view of traffic: requests, 4xx, 5xx, the latency histogram and the predictions' count,
sum and sum of squares per variant between two unix timestamps (and, for the monitor, the first prediction of
each second, with the numeric fields of its request). Probe calls are never recorded here. Memory is bounded: a bucket older
than the retention is dropped when the same variant records again or when any window is read.

A shadow variant's answers to mirrored requests are recorded like any variant's; beside them, per
(shadow, live) pair, the agreement of their predictions (serving/agreement.py), read by `query_shadows`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_mlprovider.serving.agreement import AgreementCounts
from airflow_mlprovider.serving.histogram import bucket_of, quantile_ms, upper_bound_ms
from airflow_mlprovider.serving.outcome import Outcome, OutcomeCounts

DEFAULT_RETENTION_S = 7 * 3600.0
#: a request's numeric fields sampled per second at most: bounds the window's memory and answer size
MAX_SAMPLED_FEATURES = 32


@dataclass
class _Bucket(OutcomeCounts):
    latency: Counter[int] = field(default_factory=Counter)  # log-histogram bucket index -> count
    # the second's first prediction and first request's numeric fields: samples spread over any window, for
    # the monitor's distribution and feature-drift tests
    prediction_sample: list[float] = field(default_factory=list)
    feature_sample: dict[str, list[float]] = field(default_factory=dict)

    def merge(self, other: _Bucket) -> None:
        super().merge(other)
        self.latency.update(other.latency)
        self.prediction_sample.extend(other.prediction_sample)
        for name, values in other.feature_sample.items():
            self.feature_sample.setdefault(name, []).extend(values)

    def as_counts(self) -> dict[str, Any]:
        """The window API's per-variant body (the fields of rollout.counts.VariantCounts)."""
        return {
            "requests": self.requests,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "latency_p99_ms": quantile_ms(self.latency, 0.99),
            "prediction_mean": self.prediction_sum / self.prediction_count if self.prediction_count else None,
            "prediction_count": self.prediction_count,
            "prediction_sum": self.prediction_sum,
            "prediction_sum_sq": self.prediction_sum_sq,
            # the guardrail's exceedance test reads the histogram itself: (upper bound ms, count), non-empty only
            "latency_buckets": [[upper_bound_ms(i), n] for i, n in sorted(self.latency.items()) if n],
            "prediction_sample": self.prediction_sample,
            "feature_sample": self.feature_sample,
        }


def numeric_fields(request: Any) -> list[tuple[str, float]]:
    """The first MAX_SAMPLED_FEATURES finite numeric top-level fields of a request (booleans are no numbers)."""
    if not isinstance(request, dict):
        return []
    fields = [(str(k), float(v)) for k, v in request.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return fields[:MAX_SAMPLED_FEATURES]


class TrafficWindow:
    """Thread-safe per-second buckets keyed by (endpoint, variant)."""

    def __init__(self, retention_s: float = DEFAULT_RETENTION_S, clock: Callable[[], float] = time.time) -> None:
        self.retention_s = retention_s
        self.clock = clock
        self._lock = threading.Lock()
        # (endpoint, variant) -> {unix second: bucket}, in the order seconds were first written
        self._seconds: dict[tuple[str, str], dict[int, _Bucket]] = {}
        # (endpoint, shadow variant, live variant) -> {unix second: agreement}
        self._agreement: dict[tuple[str, str, str], dict[int, AgreementCounts]] = {}

    def record(self, outcome: Outcome) -> None:
        if outcome.probe:
            return
        now = self.clock()
        with self._lock:
            seconds = self._seconds.setdefault((outcome.endpoint, outcome.variant), {})
            self._prune(seconds, now)
            bucket = seconds.setdefault(math.floor(now), _Bucket())
            bucket.count(outcome)
            if outcome.latency_s is not None:
                bucket.latency[bucket_of(outcome.latency_s * 1000.0)] += 1
            if outcome.prediction is not None and not bucket.prediction_sample:
                bucket.prediction_sample.append(outcome.prediction)
                for name, value in numeric_fields(outcome.request):
                    bucket.feature_sample.setdefault(name, []).append(value)

    def record_agreement(self, endpoint: str, shadow: str, live: str, counts: AgreementCounts) -> None:
        """Add one mirrored request's comparison (or drop) to the current second of the pair."""
        now = self.clock()
        with self._lock:
            seconds = self._agreement.setdefault((endpoint, shadow, live), {})
            self._prune(seconds, now)
            seconds.setdefault(math.floor(now), AgreementCounts()).merge(counts)

    def query_shadows(self, endpoint: str, start: float, end: float) -> dict[str, dict[str, dict[str, Any]]]:
        """shadow variant -> live variant -> agreement over the buckets overlapping [start, end); mirrored pairs only."""
        result: dict[str, dict[str, dict[str, Any]]] = {}
        with self._lock:
            for (shadow, live), total in self._totals(self._agreement, endpoint, start, end, AgreementCounts):
                if total.mirrored or total.dropped:
                    result.setdefault(shadow, {})[live] = total.to_dict()
        return result

    def query(self, endpoint: str, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Per-variant counts over the one-second buckets that overlap [start, end); variants with traffic only."""
        result: dict[str, dict[str, Any]] = {}
        with self._lock:
            for (variant,), total in self._totals(self._seconds, endpoint, start, end, _Bucket):
                if total.requests:
                    result[variant] = total.as_counts()
        return result

    def _totals(
        self, series: dict[tuple[str, ...], dict[int, Any]], endpoint: str, start: float, end: float,
        empty: Callable[[], Any],
    ) -> list[tuple[tuple[str, ...], Any]]:
        """Called with the lock held: per series of `endpoint`, (its key after the endpoint, its buckets overlapping
        [start, end) merged into `empty()`); every series is pruned on the way."""
        first, last = math.floor(start), math.ceil(end) - 1
        now = self.clock()
        totals = []
        for (series_endpoint, *rest), seconds in series.items():
            self._prune(seconds, now)
            if series_endpoint != endpoint:
                continue
            total = empty()
            for second, bucket in seconds.items():
                if first <= second <= last:
                    total.merge(bucket)
            totals.append((tuple(rest), total))
        return totals

    def _prune(self, seconds: dict[int, Any], now: float) -> None:
        oldest_kept = math.floor(now - self.retention_s)
        while seconds:
            oldest = next(iter(seconds))
            if oldest >= oldest_kept:
                return
            del seconds[oldest]
