"""Where a rollout stands between two checks; JSON-safe so it can travel through XCom and trigger kwargs."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from airflow_mlprovider.rollout.policy import RolloutPolicy


@dataclass(frozen=True)
class RolloutState:
    """The current step, its weight, the clocks, and the sequential test's evidence carried across checks."""

    step_index: int
    weight: float
    started_at: float
    step_started_at: float
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_index": self.step_index,
            "weight": self.weight,
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutState:
        return cls(
            step_index=int(d["step_index"]),
            weight=float(d["weight"]),
            started_at=float(d["started_at"]),
            step_started_at=float(d["step_started_at"]),
            evidence=dict(d.get("evidence") or {}),
        )

    @classmethod
    def start(cls, policy: RolloutPolicy, now: float) -> RolloutState:
        """A fresh rollout: step 0 at the first step's weight."""
        return cls(step_index=0, weight=float(policy.steps[0]), started_at=now, step_started_at=now)

    @classmethod
    def resume(cls, policy: RolloutPolicy, weight: float, now: float) -> RolloutState:
        """After a retry or a lost worker: continue at the highest step not above the weight the endpoint has now
        that a candidate without evidence may hold, never at the last (100 %) step.

        The evidence gathered before is lost, so the rollout goes on from none and the clocks restart. decide()
        lets a candidate hold a step while its evidence earns the step below (RolloutPolicy.acceptance_bar); with
        none that is at most the second step, where it would otherwise be sent back at the first check. At 100 %
        the champion serves nothing, so nothing there could be compared in the same window.
        """
        index = min(max(0, bisect.bisect_right(policy.steps, weight) - 1), len(policy.steps) - 2)
        while index > 0 and policy.acceptance_bar(index - 1) < 0:
            index -= 1
        return cls(step_index=index, weight=float(policy.steps[index]), started_at=now, step_started_at=now)
