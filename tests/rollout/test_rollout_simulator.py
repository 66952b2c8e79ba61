"""A few seeded simulated rollouts through the real decide(): behaviour only."""

from __future__ import annotations

import numpy as np

from airflow_mlprovider.rollout import RolloutPolicy
from airflow_mlprovider.rollout.simulator import simulate_linear_baseline, simulate_rollout
from airflow_mlprovider.spec.model import Rollout

POLICY = RolloutPolicy.from_spec(Rollout())


def test_a_candidate_with_ten_percent_errors_is_rolled_back_early():
    rng = np.random.default_rng(3)
    for _ in range(5):
        outcome = simulate_rollout(POLICY, 0.01, 0.10, 100.0, rng)
        assert outcome.rolled_back and "roll back" in outcome.reason
        assert outcome.candidate_requests < 1000


def test_a_good_candidate_completes():
    rng = np.random.default_rng(4)
    outcomes = [simulate_rollout(POLICY, 0.01, 0.01, 100.0, rng) for _ in range(5)]
    assert not any(o.rolled_back for o in outcomes)
    assert all("complete" in o.reason for o in outcomes)


def test_baseline_alarm_catches_a_broken_candidate_and_lets_a_good_one_finish():
    rng = np.random.default_rng(5)
    assert simulate_linear_baseline(0.01, 0.5, 100.0, rng).rolled_back
    assert simulate_linear_baseline(0.0, 0.0, 100.0, rng).duration_s == 45 * 60 + 600
