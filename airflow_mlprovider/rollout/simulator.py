"""Simulated rollouts: Poisson traffic split by weight, Bernoulli errors, checked through the real decide().

A Scenario describes the traffic (rate, gaps without any traffic), both variants' 5xx and 4xx rates, an
outage shared by both variants (at the start of a given step), and optionally predictions and latencies so
that the guardrails are judged. Also a baseline in the style of SageMaker's linear traffic shifting guarded
by a CloudWatch alarm, to compare with. Only bench/ and tests use this module; nothing at DAG-parse time
imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.decision import decide
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState

# The latency histogram's bucket grid: bounds LATENCY_LOWEST_MS * LATENCY_GROWTH**i, as the local endpoint
# server reports it (serving/histogram.py).
LATENCY_LOWEST_MS = 0.05
LATENCY_GROWTH = 2**0.25


@dataclass(frozen=True)
class Scenario:
    """What the endpoint sees during one simulated rollout."""

    requests_per_s: float = 100.0
    champion_5xx: float = 0.01
    candidate_5xx: float = 0.01
    champion_4xx: float = 0.0
    candidate_4xx: float = 0.0
    # (start_s, end_s) intervals without any traffic (a traffic outage)
    traffic_gaps: tuple[tuple[float, float], ...] = ()
    # a load-dependent regression: from this step (index) on, the candidate's 5xx rate is worse_5xx
    worse_from_step: int | None = None
    worse_5xx: float = 0.0
    # an outage both variants share: from the start of this step (index), outage_s long, 5xx at outage_rate
    outage_step: int | None = None
    outage_s: float = 120.0
    outage_rate: float = 0.2
    # predictions: "normal" (mean, sd) or "probability" (Beta with that mean and sd); candidate shifted by
    # prediction_shift_sd champion standard deviations
    prediction: str | None = None
    prediction_mean: float = 0.0
    prediction_sd: float = 1.0
    prediction_shift_sd: float = 0.0
    # latencies: log-normal with this median (ms) and log-sd; the candidate's multiplied by latency_factor
    latency_median_ms: float | None = None
    latency_sigma: float = 0.5
    latency_factor: float = 1.0
    # stop simulating after this long (the rollout is then still waiting)
    horizon_s: float = math.inf


@dataclass(frozen=True)
class RolloutOutcome:
    """How one simulated rollout ended and what the candidate served until then."""

    action: str  # rollback, complete, or wait (still waiting at the horizon)
    candidate_requests: int
    candidate_errors: int
    duration_s: float  # until complete, rollback or the horizon
    reason: str
    last_step: int  # the step index at the end
    expected_wait_s: float | None  # the last wait's estimate, if the rollout was still waiting
    check: str | None = None  # for a rollback: the check it is blamed on (5xx, 4xx, load, latency, prediction, limit)
    highest_step: int = 0  # the highest step index it ever held (a retreat lowers last_step, not this)
    retreats: int = 0  # how often it went back a step

    @property
    def rolled_back(self) -> bool:
        return self.action == "rollback"


def simulate_rollout(policy: RolloutPolicy, scenario: Scenario, rng: np.random.Generator) -> RolloutOutcome:
    """One rollout driven by decide(), checked every policy.check_interval_s as the trigger does."""
    state = RolloutState.start(policy, 0.0)
    now, step, step_started, highest, retreats = 0.0, 0, 0.0, 0, 0
    window = _Window()
    served = [0, 0]  # candidate requests and errors (5xx + 4xx) over the whole rollout
    expected = None
    while now < scenario.horizon_s:
        start, now = now, now + policy.check_interval_s
        outage = scenario.outage_step == step and start - step_started < scenario.outage_s
        requests = rng.poisson(scenario.requests_per_s * _open_seconds(scenario.traffic_gaps, start, now))
        n_c = rng.binomial(requests, state.weight / 100)
        n_b = requests - n_c
        worse = scenario.worse_from_step is not None and step >= scenario.worse_from_step
        cand_5xx = scenario.worse_5xx if worse else scenario.candidate_5xx
        cand_err = window.add_errors("candidate", n_c, cand_5xx, scenario.candidate_4xx, outage, scenario, rng)
        window.add_errors("champion", n_b, scenario.champion_5xx, scenario.champion_4xx, outage, scenario, rng)
        window.add_guardrail_data(n_c, n_b, scenario, rng)
        served[0] += n_c
        served[1] += cand_err
        if requests == 0 and not _limit_between(policy, state, start, now):
            # Same counts, no limit crossed: decide() would return the same wait (it is pure); skipping it
            # keeps hours without traffic cheap to simulate.
            continue
        decision = decide(policy, state, window.counts("champion"), window.counts("candidate"), now)
        if decision.action in ("rollback", "complete"):
            return RolloutOutcome(decision.action, served[0], served[1], now, decision.reason, step, None,
                                  decision.stats.get("rollback_check"), highest, retreats)
        if decision.action in ("advance", "retreat"):
            window = _Window()
            step, step_started = decision.state.step_index, now
            highest = max(highest, step)
            retreats += decision.action == "retreat"
        expected = decision.stats.get("expected_wait_s")
        state = decision.state
    return RolloutOutcome("wait", served[0], served[1], now, "still waiting at the horizon", step, expected,
                          highest_step=highest, retreats=retreats)


class _Window:
    """Cumulative counts of the current step's window, per variant."""

    def __init__(self) -> None:
        self.errors = {v: [0, 0, 0] for v in ("candidate", "champion")}  # requests, 5xx, 4xx
        self.predictions = {v: [0, 0.0, 0.0] for v in ("candidate", "champion")}
        self.latency = {v: np.zeros(0, dtype=np.int64) for v in ("candidate", "champion")}

    def add_errors(self, variant: str, n: int, rate_5xx: float, rate_4xx: float, outage: bool, scenario: Scenario,
                   rng: np.random.Generator) -> int:
        e5 = rng.binomial(n, max(rate_5xx, scenario.outage_rate) if outage else rate_5xx)
        e4 = rng.binomial(n - e5, rate_4xx)
        counts = self.errors[variant]
        counts[0] += n
        counts[1] += e5
        counts[2] += e4
        return e5 + e4

    def add_guardrail_data(self, n_c: int, n_b: int, scenario: Scenario, rng: np.random.Generator) -> None:
        if scenario.prediction:
            sd = scenario.prediction_sd
            for variant, n, mean in (("candidate", n_c, scenario.prediction_mean + scenario.prediction_shift_sd * sd),
                                     ("champion", n_b, scenario.prediction_mean)):
                values = _predictions(scenario.prediction, mean, sd, n, rng)
                self.predictions[variant][0] += n
                self.predictions[variant][1] += float(values.sum())
                self.predictions[variant][2] += float((values * values).sum())
        if scenario.latency_median_ms:
            for variant, n, factor in (("candidate", n_c, scenario.latency_factor), ("champion", n_b, 1.0)):
                latencies = scenario.latency_median_ms * factor * np.exp(scenario.latency_sigma * rng.standard_normal(n))
                index = np.ceil(np.log(np.maximum(latencies, LATENCY_LOWEST_MS) / LATENCY_LOWEST_MS)
                                / math.log(LATENCY_GROWTH) - 1e-9).astype(np.int64)
                counts = np.bincount(index, minlength=len(self.latency[variant]))
                counts[: len(self.latency[variant])] += self.latency[variant]
                self.latency[variant] = counts

    def counts(self, variant: str) -> VariantCounts:
        requests, e5, e4 = self.errors[variant]
        n, total, squares = self.predictions[variant]
        histogram = self.latency[variant]
        buckets = [(LATENCY_LOWEST_MS * LATENCY_GROWTH ** int(i), int(histogram[i])) for i in np.flatnonzero(histogram)]
        return VariantCounts(requests=requests, errors_5xx=e5, errors_4xx=e4, prediction_count=n,
                             prediction_sum=total, prediction_sum_sq=squares, latency_buckets=buckets)


def _limit_between(policy: RolloutPolicy, state: RolloutState, start: float, end: float) -> bool:
    """Whether the step_timeout or the timeout falls in (start, end]."""
    limits = (state.step_started_at + policy.step_timeout_s, state.started_at + policy.timeout_s)
    return any(start < limit <= end for limit in limits)


def _predictions(kind: str, mean: float, sd: float, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return mean + sd * rng.standard_normal(n)
    # class probabilities: Beta(a, b) with this mean and sd (mean in (0, 1), sd^2 < mean (1 - mean))
    common = mean * (1 - mean) / (sd * sd) - 1
    return rng.beta(mean * common, (1 - mean) * common, n)


def _open_seconds(gaps: tuple[tuple[float, float], ...], start: float, end: float) -> float:
    """Seconds of [start, end) outside every traffic gap."""
    closed = sum(max(0.0, min(end, b) - max(start, a)) for a, b in gaps)
    return max(0.0, end - start - closed)


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
        total = rng.poisson(requests_per_s * alarm_period_s)
        requests = int(rng.binomial(total, weight / 100))
        errors = int(rng.binomial(requests, candidate_rate))
        served += (requests, errors)
        now += alarm_period_s
        if requests and errors / requests > alarm_ratio * champion_rate:
            reason = f"alarm: candidate error rate {errors / requests:.2%} over {alarm_period_s:.0f}s"
            return RolloutOutcome("rollback", int(served[0]), int(served[1]), now, reason, 0, None)
    return RolloutOutcome("complete", int(served[0]), int(served[1]), now, "completed", 0, None)
