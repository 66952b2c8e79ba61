"""What a variant served during a window: the rollout logic's only input about traffic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VariantCounts:
    """What one variant did during a time window."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latency_p99_ms: float | None = None
    prediction_mean: float | None = None
