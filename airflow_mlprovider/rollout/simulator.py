"""Simulated rollouts: Poisson traffic split by weight, Bernoulli errors, checked through the real decide().

Also a baseline in the style of SageMaker's linear traffic shifting guarded by a CloudWatch alarm, to compare
with. Only bench/ and tests use this module; nothing at DAG-parse time imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.decision import decide
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState


@dataclass(frozen=True)
class RolloutOutcome:
    """How one simulated rollout ended and what the candidate served until then."""

    rolled_back: bool
    candidate_requests: int
    candidate_errors: int
    duration_s: float  # until complete (candidate finalized at 100 %) or rollback
    reason: str


def simulate_rollout(
    policy: RolloutPolicy,
    champion_rate: float,
    candidate_rate: float,
    requests_per_s: float,
    rng: np.random.Generator,
) -> RolloutOutcome:
    """One rollout driven by decide(), checked every policy.check_interval_s (5xx errors only)."""
    state = RolloutState.start(policy, 0.0)
    now = 0.0
    window = np.zeros(4, dtype=np.int64)  # candidate requests, candidate errors, champion requests, champion errors
    served = np.zeros(2, dtype=np.int64)  # candidate requests and errors over the whole rollout
    while True:
        now += policy.check_interval_s
        traffic = _split_traffic(state.weight, champion_rate, candidate_rate, requests_per_s * policy.check_interval_s, rng)
        window += traffic
        served += traffic[:2]
        decision = decide(
            policy,
            state,
            champion=VariantCounts(requests=int(window[2]), errors_5xx=int(window[3])),
            candidate=VariantCounts(requests=int(window[0]), errors_5xx=int(window[1])),
            now=now,
        )
        if decision.action in ("rollback", "complete"):
            return RolloutOutcome(decision.action == "rollback", int(served[0]), int(served[1]), now, decision.reason)
        if decision.action == "advance":
            window[:] = 0
        state = decision.state


def simulate_linear_baseline(
    champion_rate: float,
    candidate_rate: float,
    requests_per_s: float,
    rng: np.random.Generator,
    step_percent: int = 10,
    step_interval_s: float = 300.0,
    alarm_period_s: float = 60.0,
    alarm_ratio: float = 2.0,
    bake_s: float = 600.0,
) -> RolloutOutcome:
    """Linear traffic shifting: +step_percent every step_interval_s, then a bake at 100 %. An alarm on the
    candidate's error rate over each alarm period above alarm_ratio x the champion's known rate rolls back."""
    steps_to_full = -(-100 // step_percent)
    end = (steps_to_full - 1) * step_interval_s + bake_s
    served = np.zeros(2, dtype=np.int64)
    now = 0.0
    while now < end:
        weight = min(100, step_percent * (1 + int(now // step_interval_s)))
        traffic = _split_traffic(weight, champion_rate, candidate_rate, requests_per_s * alarm_period_s, rng)
        served += traffic[:2]
        now += alarm_period_s
        requests, errors = int(traffic[0]), int(traffic[1])
        if requests and errors / requests > alarm_ratio * champion_rate:
            reason = f"alarm: candidate error rate {errors / requests:.2%} over {alarm_period_s:.0f}s"
            return RolloutOutcome(True, int(served[0]), int(served[1]), now, reason)
    return RolloutOutcome(False, int(served[0]), int(served[1]), now, "completed")


def _split_traffic(
    weight: float, champion_rate: float, candidate_rate: float, expected_requests: float, rng: np.random.Generator
) -> np.ndarray:
    """One interval of Poisson arrivals split by weight: [candidate requests, errors, champion requests, errors]."""
    total = rng.poisson(expected_requests)
    candidate = rng.binomial(total, weight / 100)
    champion = total - candidate
    return np.array(
        [candidate, rng.binomial(candidate, candidate_rate), champion, rng.binomial(champion, champion_rate)],
        dtype=np.int64,
    )
