"""What one routed or probe request ended as: the only input of the metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    variant: str
    status: int
    probe: bool = False  # a targeted call (health check): never part of the rollout window
    latency_s: float | None = None  # None when the model was not called (400 before it, injected 503)
    prediction: float | None = None  # the variant's numeric prediction field, when the response had one

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx"
