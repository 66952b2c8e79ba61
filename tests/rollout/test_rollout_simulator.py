"""A few seeded simulated rollouts through the real decide(): behaviour only."""

from __future__ import annotations

import numpy as np

from airflow_mlprovider.rollout import RolloutPolicy
from airflow_mlprovider.rollout.simulator import Scenario, simulate_linear_baseline, simulate_rollout
from airflow_mlprovider.spec.model import Guardrails, Rollout

POLICY = RolloutPolicy.from_spec(Rollout())


def test_a_candidate_with_ten_percent_errors_is_rolled_back_early():
    rng = np.random.default_rng(3)
    for _ in range(5):
        outcome = simulate_rollout(POLICY, Scenario(candidate_5xx=0.10), rng)
        assert outcome.rolled_back and "roll back" in outcome.reason
        assert outcome.candidate_requests < 1000


def test_a_good_candidate_completes():
    rng = np.random.default_rng(4)
    outcomes = [simulate_rollout(POLICY, Scenario(), rng) for _ in range(5)]
    assert all(o.action == "complete" and "complete" in o.reason for o in outcomes)


def test_a_candidate_breaking_the_request_contract_is_rolled_back():
    rng = np.random.default_rng(6)
    outcome = simulate_rollout(POLICY, Scenario(champion_4xx=0.01, candidate_4xx=0.05), rng)
    assert outcome.rolled_back and "4xx" in outcome.reason


def test_without_traffic_the_rollout_waits_with_an_estimate():
    rng = np.random.default_rng(7)
    outcome = simulate_rollout(POLICY, Scenario(requests_per_s=0.5, horizon_s=2 * 3600), rng)
    assert outcome.action == "wait" and outcome.last_step == 0
    assert outcome.expected_wait_s is not None and outcome.expected_wait_s > 3600


def test_guardrail_data_is_simulated():
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(latency_p99_ratio=1.5, prediction_shift=0.5)))
    rng = np.random.default_rng(8)
    slow = simulate_rollout(policy, Scenario(latency_median_ms=20.0, latency_factor=3.0), rng)
    assert slow.rolled_back and "p99" in slow.reason
    shifted = simulate_rollout(policy, Scenario(prediction="probability", prediction_mean=0.3,
                                                prediction_sd=0.2, prediction_shift_sd=1.0), rng)
    assert shifted.rolled_back and "standard deviations" in shifted.reason


def test_baseline_alarm_catches_a_broken_candidate_and_lets_a_good_one_finish():
    rng = np.random.default_rng(5)
    assert simulate_linear_baseline(0.01, 0.5, 100.0, rng).rolled_back
    assert simulate_linear_baseline(0.0, 0.0, 100.0, rng).duration_s == 45 * 60 + 600
