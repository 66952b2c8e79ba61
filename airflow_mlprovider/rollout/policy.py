"""The rollout policy: the spec's rollout section as the decision logic needs it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from airflow_mlprovider.spec.model import Rollout

# What a step_timeout or timeout does: "wait" keeps the candidate at its step, still watched by the rollback
# test, until the evidence decides (no healthy model is thrown away for lack of traffic); "rollback" gives up.
ON_TIMEOUT = ("wait", "rollback")


@dataclass(frozen=True)
class RolloutPolicy:
    """How traffic moves to a candidate and when it is pulled back (see docs/rollout.md)."""

    steps: tuple[int, ...]
    check_interval_s: float
    min_requests: int
    max_error_rate_increase: float
    significance: float
    power: float
    step_timeout_s: float
    timeout_s: float
    latency_p99_ratio: float | None = None
    prediction_shift: float | None = None
    on_timeout: str = "wait"

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        if not steps or any(not 1 <= s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError(f"rollout steps must be strictly increasing percentages in 1..100, got {list(steps)}")
        if steps[-1] != 100:
            raise ValueError(f"rollout steps must end at 100, got {list(steps)}")
        if len(steps) < 2:
            raise ValueError("rollout steps need at least one partial step before 100, where the candidate is "
                             f"compared with the champion, got {list(steps)}")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be at least 1, got {self.min_requests}")
        if not 0 <= self.max_error_rate_increase <= 1:
            raise ValueError(f"max_error_rate_increase must be in [0, 1], got {self.max_error_rate_increase}")
        if not 0 < self.significance < 1:
            raise ValueError(f"significance must be in (0, 1), got {self.significance}")
        if not 0 < self.power < 1:
            raise ValueError(f"power must be in (0, 1), got {self.power}")
        for name in ("check_interval_s", "step_timeout_s", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.latency_p99_ratio is not None and self.latency_p99_ratio <= 1:
            raise ValueError(f"latency_p99_ratio must be above 1, got {self.latency_p99_ratio}")
        if self.prediction_shift is not None and self.prediction_shift <= 0:
            raise ValueError(f"prediction_shift must be positive, got {self.prediction_shift}")
        if self.on_timeout not in ON_TIMEOUT:
            raise ValueError(f"on_timeout must be one of {sorted(ON_TIMEOUT)}, got {self.on_timeout!r}")

    def acceptance_bar(self, index: int) -> float:
        """The acceptance evidence (the whole rollout's log-likelihood ratio of the detectable increase, see
        sequential) a candidate must have shown to hold steps[index]; index len(steps) - 1 is 100 %, completion.

        log(1 - power) scaled by log(weight / first weight) / log(100 / first weight): every multiplication of the
        candidate's share costs the same evidence, the first step costs none and 100 % costs all of it, so the
        final decision keeps its power while most of the evidence is gathered where traffic comes fastest. A
        candidate that is really worse by the detectable increase reaches a bar of b < 0 with probability at most
        exp(b) (Ville), so it rarely gets far; one that slips up a step falls back (decide's retreat)."""
        first = self.steps[0]
        return math.log(1 - self.power) * math.log(self.steps[index] / first) / math.log(100 / first) + 0.0  # not -0.0

    @classmethod
    def from_spec(cls, rollout: Rollout) -> RolloutPolicy:
        """The policy of a spec's (defaults-merged) rollout section."""
        return cls(
            steps=tuple(rollout.steps),
            check_interval_s=rollout.check_interval_s,
            min_requests=rollout.min_requests,
            max_error_rate_increase=rollout.max_error_rate_increase,
            significance=rollout.significance,
            power=rollout.power,
            step_timeout_s=rollout.step_timeout_s,
            timeout_s=rollout.timeout_s,
            latency_p99_ratio=rollout.guardrails.latency_p99_ratio,
            prediction_shift=rollout.guardrails.prediction_shift,
            on_timeout=rollout.on_timeout,
        )
