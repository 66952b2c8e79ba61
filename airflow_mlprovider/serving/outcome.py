"""What one routed or probe request ended as, and the counts every metrics store keeps of outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    variant: str
    status: int
    probe: bool = False  # a targeted call (health check): never part of the rollout window
    latency_s: float | None = None  # None when the model was not called (400 before it, injected 503)
    prediction: float | None = None  # the variant's numeric prediction field, when the response had one
    request: Any = None  # the parsed request of a 200 (the window samples its numeric fields), never stored whole


@dataclass
class OutcomeCounts:
    """Requests, 4xx, 5xx and the predictions' count, sum and sum of squares (the prediction guardrail's
    variance); stores add their own latency representation."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    prediction_sum: float = 0.0
    prediction_count: int = 0
    prediction_sum_sq: float = 0.0

    def count(self, outcome: Outcome) -> None:
        self.requests += 1
        if 400 <= outcome.status < 500:
            self.errors_4xx += 1
        elif outcome.status >= 500:
            self.errors_5xx += 1
        if outcome.prediction is not None:
            self.prediction_sum += outcome.prediction
            self.prediction_sum_sq += outcome.prediction * outcome.prediction
            self.prediction_count += 1

    def merge(self, other: OutcomeCounts) -> None:
        self.requests += other.requests
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.prediction_sum += other.prediction_sum
        self.prediction_sum_sq += other.prediction_sum_sq
        self.prediction_count += other.prediction_count
