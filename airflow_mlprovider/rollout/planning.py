"""How long a healthy candidate needs at a given traffic: for decide()'s waiting messages and for deploy to
warn up front when the policy's limits cannot be met at the traffic the endpoint has."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from airflow_mlprovider.rollout import sequential
from airflow_mlprovider.rollout.policy import RolloutPolicy

#: the error rates assumed when the caller knows none: a typical service (1 % 5xx, no 4xx)
TYPICAL_ERROR_RATES: Mapping[str, float] = {"5xx": 0.01, "4xx": 0.0}


def candidate_requests_to_accept(error_rate: float, tolerance: float, share: float, distance: float) -> float:
    """Candidate requests a healthy candidate (same rate as the champion, `share` of the traffic) needs for the
    acceptance of one error class to move `distance` nats down; inf if it never gets there."""
    drift = sequential.acceptance_drift(error_rate, tolerance, share)
    return max(0.0, distance) / -drift if drift < 0 else math.inf


def champion_requests_to_negligible(error_rate: float, distance: float) -> float:
    """Champion requests that move the negligible test (see sequential.NEGLIGIBLE_RATE) `distance` nats down;
    inf if the class is not negligible."""
    drift = sequential.negligible_drift(error_rate)
    return max(0.0, distance) / -drift if drift < 0 else math.inf


def step_min_requests(policy: RolloutPolicy, index: int) -> int:
    """Candidate requests a partial step needs before it may pass. The last partial step stands in for the
    100 % step (the decision is final there, while the champion still serves): it waits for min_requests
    at the endpoint's whole traffic, e.g. 400 candidate requests at 50 %, as the 100 % step used to."""
    if index >= len(policy.steps) - 2:
        return math.ceil(policy.min_requests * 100 / policy.steps[index])
    return policy.min_requests


@dataclass(frozen=True)
class RolloutPlan:
    """Expected seconds a healthy candidate spends in each partial step, and the limits it would break."""

    requests_per_s: float
    step_s: tuple[float, ...]
    problems: tuple[str, ...]

    @property
    def total_s(self) -> float:
        return sum(self.step_s)

    @property
    def feasible(self) -> bool:
        """True when every step is expected to finish within step_timeout and the rollout within timeout."""
        return not self.problems


def plan_rollout(
    policy: RolloutPolicy, requests_per_s: float, error_rates: Mapping[str, float] = TYPICAL_ERROR_RATES
) -> RolloutPlan:
    """Can the policy's limits be met at `requests_per_s` (the endpoint's total traffic) when the champion
    errs at `error_rates` ({"5xx": rate, "4xx": rate}) and the candidate is as good?

    Each partial step must bring every error class's evidence to the bar that holds the next weight
    (RolloutPolicy.acceptance_bar), by the relative test or by the champion's rate shown negligible, whichever
    comes first; both accumulate over the rollout, as in decide(). It also needs step_min_requests. The last
    step (100 %) is the finalize: the decision is taken before it (docs/rollout.md). Expected values, rounded
    up to checks.
    """
    partial = policy.steps[:-1]
    relative = {c: 0.0 for c in error_rates}  # nats of acceptance evidence gathered so far, per class
    negligible = {c: 0.0 for c in error_rates}
    step_s = []
    for index, percent in enumerate(partial):
        share = percent / 100
        candidate_rate, champion_rate = requests_per_s * share, requests_per_s * (1 - share)
        if candidate_rate <= 0:
            step_s.append(math.inf)
            continue
        needed = step_min_requests(policy, index) / candidate_rate
        bar = -policy.acceptance_bar(index + 1)
        speed = {}  # nats per second of each route, per class
        for c, rate in error_rates.items():
            speed[c] = (max(0.0, -sequential.acceptance_drift(rate, policy.max_error_rate_increase, share)) * candidate_rate,
                        max(0.0, -sequential.negligible_drift(rate)) * champion_rate)
            needed = max(needed, min(_seconds(bar - relative[c], speed[c][0]), _seconds(bar - negligible[c], speed[c][1])))
        seconds = policy.check_interval_s * math.ceil(needed / policy.check_interval_s) if math.isfinite(needed) else math.inf
        step_s.append(seconds)
        for c, (by_relative, by_negligible) in speed.items():
            relative[c] += by_relative * seconds
            negligible[c] += by_negligible * seconds
    problems = [
        f"step {percent}% needs ~{duration(s)} at {requests_per_s:g} req/s (step_timeout {duration(policy.step_timeout_s)})"
        for percent, s in zip(partial, step_s) if s > policy.step_timeout_s
    ]
    if sum(step_s) > policy.timeout_s:
        problems.append(f"the rollout needs ~{duration(sum(step_s))} at {requests_per_s:g} req/s "
                        f"(timeout {duration(policy.timeout_s)})")
    return RolloutPlan(requests_per_s, tuple(step_s), tuple(problems))


def _seconds(nats: float, per_second: float) -> float:
    if nats <= 0:
        return 0.0
    return nats / per_second if per_second > 0 else math.inf


def duration(seconds: float) -> str:
    """A duration for people: 45s, 12m, 3.5h, or 'never' for infinity."""
    if not math.isfinite(seconds):
        return "never"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"
