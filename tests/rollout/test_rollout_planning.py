"""plan_rollout(): can the policy's limits be met at a traffic rate, and how long does a healthy candidate need."""

from __future__ import annotations

import math

import pytest

from airflow_mlprovider.rollout import RolloutPolicy, plan_rollout
from airflow_mlprovider.rollout.planning import step_min_requests
from airflow_mlprovider.spec.model import Rollout

POLICY = RolloutPolicy.from_spec(Rollout())


def test_a_busy_endpoint_can_meet_the_default_limits():
    plan = plan_rollout(POLICY, 100.0, {"5xx": 0.01, "4xx": 0.0})
    assert plan.feasible and plan.problems == ()
    # Each step gathers its share of the evidence (the first ~2,400 candidate requests at 5 req/s, the next
    # ~1,300 at 25 req/s); all three together what a 1.5x increase's exclusion at power 98 % needs.
    assert len(plan.step_s) == len(POLICY.steps) - 1
    assert 6 * 60 < plan.step_s[0] < 10 * 60
    assert all(30 <= s <= 2 * 60 for s in plan.step_s[1:])


def test_one_request_per_second_cannot_meet_them_and_says_which_step():
    plan = plan_rollout(POLICY, 1.0)
    assert not plan.feasible
    assert plan.problems[0].startswith("step 5% needs ~") and "step_timeout 60m" in plan.problems[0]
    assert "timeout 3.0h" in plan.problems[-1]


def test_no_traffic_never_completes():
    plan = plan_rollout(POLICY, 0.0)
    assert math.isinf(plan.total_s) and "never" in plan.problems[0]


@pytest.mark.parametrize("rate", [0.0005, 0.002, 0.01, 0.05])
def test_rarer_errors_need_proportionally_more_requests_to_prove_the_same_ratio(rate):
    fast = plan_rollout(POLICY, 100.0, {"5xx": 0.05})
    plan = plan_rollout(POLICY, 100.0, {"5xx": rate})
    assert plan.step_s[0] == pytest.approx(fast.step_s[0] * 0.05 / rate, rel=0.1)  # Bernoulli: 5 % is a bit faster


def test_a_service_without_errors_is_quick():
    plan = plan_rollout(POLICY, 100.0, {"5xx": 0.0, "4xx": 0.0})
    assert plan.feasible and plan.step_s[0] < 5 * 60


def test_the_steps_share_the_acceptance_evidence_by_the_traffic_they_multiply():
    bars = [POLICY.acceptance_bar(i) for i in range(len(POLICY.steps))]
    assert bars[0] == 0 and bars[-1] == pytest.approx(math.log(1 - POLICY.power))
    assert bars == sorted(bars, reverse=True)
    # 5 -> 25 % multiplies the share by 5, 5 -> 100 % by 20: the first move costs log 5 / log 20 of the evidence.
    assert bars[1] / bars[-1] == pytest.approx(math.log(5) / math.log(20))
    single = RolloutPolicy(**{**POLICY.__dict__, "steps": (50, 100)})
    assert single.acceptance_bar(1) == pytest.approx(math.log(1 - POLICY.power))


def test_the_last_partial_step_waits_for_min_requests_at_full_traffic():
    assert [step_min_requests(POLICY, i) for i in range(3)] == [200, 200, 400]
