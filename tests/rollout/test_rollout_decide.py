"""decide() on concrete situations: each action, its reason, guardrails, timeouts, edge counts."""

from __future__ import annotations

import json
import math

import pytest

from airflow_mlprovider.rollout import Decision, RolloutPolicy, RolloutState, VariantCounts, decide
from airflow_mlprovider.spec.model import Guardrails, Rollout

POLICY = RolloutPolicy.from_spec(Rollout())


def counts(requests: int, errors_5xx: int = 0, errors_4xx: int = 0, **extra) -> VariantCounts:
    return VariantCounts(requests=requests, errors_4xx=errors_4xx, errors_5xx=errors_5xx, **extra)


def check(state: RolloutState, champion: VariantCounts, candidate: VariantCounts, now: float,
          policy: RolloutPolicy = POLICY) -> Decision:
    decision = decide(policy, state, champion, candidate, now)
    json.dumps(decision.stats)
    json.dumps(decision.state.to_dict())
    return decision


def test_from_spec_carries_every_field():
    policy = RolloutPolicy.from_spec(Rollout(steps=(10, 100), guardrails=Guardrails(1.5, 0.2)))
    assert policy.steps == (10, 100)
    assert (policy.latency_p99_ratio, policy.prediction_shift) == (1.5, 0.2)
    assert policy.min_requests == Rollout().min_requests


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"steps": (50, 25, 100)}, "strictly increasing"), ({"steps": (5, 50)}, "end at 100"),
     ({"steps": (100,)}, "partial step"), ({"significance": 0.0}, "significance")],
)
def test_policy_rejects_what_it_cannot_run(changes, message):
    fields = {**POLICY.__dict__, **changes}
    with pytest.raises(ValueError, match=message):
        RolloutPolicy(**fields)


def test_waits_for_min_requests_even_when_the_candidate_looks_fine():
    decision = check(RolloutState.start(POLICY, 0), counts(1900, 19), counts(100, 1), now=10)
    assert decision.action == "wait" and decision.weight == 5
    assert "100 of 200 candidate requests" in decision.reason


def test_advances_a_candidate_proven_not_worse_and_carries_the_evidence():
    state = RolloutState.start(POLICY, 0)
    decision = check(state, counts(76_000, 760), counts(4000, 36), now=800)
    assert decision.action == "advance" and decision.weight == 25
    assert decision.state.step_index == 1 and decision.state.step_started_at == 800
    assert decision.state.evidence["done"]["candidate"] == [4000, 36, 0]
    assert "advance to 25%" in decision.reason and "0.90% vs champion 1.00%" in decision.reason


def test_rolls_back_a_clearly_worse_candidate_with_the_numbers():
    decision = check(RolloutState.start(POLICY, 0), counts(7600, 76), counts(400, 16), now=80)
    assert decision.action == "rollback" and decision.weight == 0 and decision.state.weight == 0
    assert "candidate 5xx 4.00% vs champion 1.00% over 400 vs 7,600 requests" in decision.reason
    assert "(alpha 1%) -> roll back" in decision.reason


def test_4xx_are_judged_too():
    decision = check(RolloutState.start(POLICY, 0), counts(7600, 0, 76), counts(400, 0, 40), now=80)
    assert decision.action == "rollback" and "candidate 4xx" in decision.reason


def test_evidence_accumulates_over_checks_of_one_window():
    state = RolloutState.start(POLICY, 0)
    first = check(state, counts(3800, 38), counts(200, 4), now=40)
    assert first.action == "wait"
    second = check(first.state, counts(7600, 76), counts(400, 16), now=80)
    # The second reading contains the first: the same 5xx evidence as judging it alone, not double counted.
    alone = check(state, counts(7600, 76), counts(400, 16), now=80)
    assert second.stats["log_lr"]["5xx"] == alone.stats["log_lr"]["5xx"]


def test_without_4xx_the_5xx_get_the_whole_significance_after_the_first_errors():
    state = RolloutState.start(POLICY, 0)
    first = check(state, counts(3800, 38), counts(200, 4), now=40)
    m1 = first.stats["log_lr"]["5xx"]
    # First check: each class holds its share (0.8 / 0.2), and the 4xx have a likelihood ratio of 1.
    assert first.stats["log_lr_total"] == pytest.approx(math.log(0.8 * math.exp(m1) + 0.2), abs=1e-3)
    assert first.state.evidence["allocation"]["classes"] == ["5xx"]
    # From then on the idle 4xx share is invested in the 5xx: the total grows exactly as the 5xx evidence.
    second = check(first.state, counts(7600, 76), counts(400, 12), now=80)
    m2 = second.stats["log_lr"]["5xx"]
    assert second.stats["log_lr_total"] == pytest.approx(first.stats["log_lr_total"] + m2 - m1, abs=1e-3)
    assert second.stats["log_lr_total"] > math.log(0.8 * math.exp(m2) + 0.2)


def test_4xx_that_start_late_are_still_judged():
    state = RolloutState.start(POLICY, 0)
    quiet = check(state, counts(3800, 38), counts(200, 2), now=40)
    assert quiet.state.evidence["allocation"]["classes"] == ["5xx"]
    # The first 4xx wake the class up (judged from the next check on, at its share) ...
    woken = check(quiet.state, counts(7600, 76, 8), counts(400, 4, 20), now=80)
    assert woken.action == "wait"
    assert sorted(woken.state.evidence["allocation"]["classes"]) == ["4xx", "5xx"]
    # ... and a candidate that keeps breaking the request contract is rolled back.
    broken = check(woken.state, counts(11_400, 114, 12), counts(600, 6, 60), now=120)
    assert broken.action == "rollback" and "candidate 4xx" in broken.reason


def test_zero_errors_everywhere_still_completes():
    policy = POLICY
    state = RolloutState.start(policy, 0)
    for step, now in zip(policy.steps, (100, 200, 300, 400)):
        champion = counts(0 if step == 100 else 20_000)
        decision = check(state, champion, counts(1000), now=now, policy=policy)
        assert decision.action == ("complete" if step == 100 else "advance")
        state = decision.state
    assert decision.weight == 100


def test_last_step_compares_with_the_champions_earlier_rate():
    state = RolloutState.resume(POLICY, 50, now=0)
    state = check(state, counts(20_000, 200), counts(20_000, 180), now=300).state
    assert state.weight == 100
    bad = check(state, counts(0), counts(3000, 120), now=330)
    assert bad.action == "rollback"
    good = check(state, counts(0), counts(20_000, 190), now=500)
    assert good.action == "complete" and good.weight == 100


def test_no_data_waits_then_the_step_timeout_rolls_back():
    state = RolloutState.start(POLICY, 0)
    assert check(state, counts(0), counts(0), now=POLICY.step_timeout_s - 1).action == "wait"
    late = check(state, counts(0), counts(0), now=POLICY.step_timeout_s)
    assert late.action == "rollback" and late.weight == 0 and "step_timeout" in late.reason


def test_overall_timeout_rolls_back():
    state = RolloutState(step_index=2, weight=50, started_at=0, step_started_at=POLICY.timeout_s - 60)
    decision = check(state, counts(0), counts(0), now=POLICY.timeout_s)
    assert decision.action == "rollback" and "timeout" in decision.reason


def test_counts_going_backwards_are_no_data():
    state = check(RolloutState.start(POLICY, 0), counts(3800, 38), counts(200, 2), now=40).state
    decision = check(state, counts(100, 90), counts(10, 10), now=50)
    assert decision.action == "wait" and "backwards" in decision.reason
    assert decision.state.evidence == state.evidence


def test_latency_guardrail():
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(latency_p99_ratio=1.5)))
    state = RolloutState.start(policy, 0)
    slow = check(state, counts(3800, 38, latency_p99_ms=100.0), counts(200, 2, latency_p99_ms=180.0), 40, policy)
    assert slow.action == "rollback" and "p99 latency 180 ms vs champion 100 ms" in slow.reason
    few = check(state, counts(3800, 38, latency_p99_ms=100.0), counts(20, 0, latency_p99_ms=900.0), 40, policy)
    assert few.action == "wait"


@pytest.mark.parametrize(("champion_mean", "candidate_mean", "action"),
                         [(10.0, 13.0, "rollback"), (10.0, 11.0, "wait"), (0.0, 0.5, "rollback"), (0.0, 0.1, "wait")])
def test_prediction_shift_guardrail(champion_mean, candidate_mean, action):
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(prediction_shift=0.2)))
    decision = check(RolloutState.start(policy, 0), counts(3800, 38, prediction_mean=champion_mean),
                     counts(200, 2, prediction_mean=candidate_mean), 40, policy)
    assert decision.action == action


def test_resume_picks_the_step_of_the_current_weight():
    assert RolloutState.resume(POLICY, 25, now=7).step_index == 1
    assert RolloutState.resume(POLICY, 30, now=7).step_index == 1
    assert RolloutState.resume(POLICY, 0, now=7).step_index == 0
    # At 100 % the evidence that held the champion's rate is gone: back to the step before, to measure it again.
    resumed = RolloutState.resume(POLICY, 100, now=7)
    assert (resumed.step_index, resumed.weight, resumed.step_started_at) == (2, 50, 7)


def test_a_rollout_resumed_at_100_percent_can_complete():
    state = RolloutState.resume(POLICY, 100, now=0)
    advanced = check(state, counts(20_000, 200), counts(20_000, 190), now=300)
    assert advanced.action == "advance" and advanced.weight == 100
    done = check(advanced.state, counts(0), counts(20_000, 195), now=600)
    assert done.action == "complete" and done.weight == 100
