"""What a variant served during a window: the rollout logic's only input about traffic."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VariantCounts:
    """What one variant did during a time window.

    The guardrails need more than a summary per variant: the prediction test needs the count, sum and sum of
    squares of the numeric predictions (for a variance), the latency test the latency histogram as
    `latency_buckets`: (upper bound in ms, requests in the bucket) for the non-empty buckets of a bucket grid
    shared by every variant (a bucket holds latencies above the grid's previous bound, up to its own).
    `latency_p99_ms` and `prediction_mean` are informative only (shown in reasons, never tested).
    """

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latency_p99_ms: float | None = None
    prediction_mean: float | None = None
    prediction_count: int = 0
    prediction_sum: float = 0.0
    prediction_sum_sq: float = 0.0
    latency_buckets: Any = ()
    prediction_sample: Any = ()  # some of the window's predictions (the local server: one per second), for monitoring
    feature_sample: Any = ()  # (numeric request field, values) pairs of the same requests (JSON: a mapping)

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency_buckets", _buckets(self.latency_buckets))
        object.__setattr__(self, "prediction_sample", _finite(self.prediction_sample))
        features = self.feature_sample.items() if isinstance(self.feature_sample, Mapping) else self.feature_sample
        object.__setattr__(self, "feature_sample", tuple((str(k), _finite(v)) for k, v in features or ()))


def _finite(raw: Any) -> tuple[float, ...]:
    """The finite numbers of `raw`."""
    values = []
    for item in raw or ():
        try:
            value = float(item)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(value):
            values.append(value)
    return tuple(values)


def _buckets(raw: Any) -> tuple[tuple[float, int], ...]:
    """(bound, count) pairs sorted by bound, from pairs or a {bound: count} mapping (JSON keys are strings);
    pairs that are not finite, positive numbers are dropped."""
    items: Iterable[Any] = raw.items() if isinstance(raw, Mapping) else (raw or ())
    merged: dict[float, int] = {}
    for item in items:
        try:
            bound, count = float(item[0]), int(item[1])
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if math.isfinite(bound) and bound > 0 and count > 0:
            merged[bound] = merged.get(bound, 0) + count
    return tuple(sorted(merged.items()))
