"""decide() on concrete situations: each action, its reason, guardrails, timeouts, edge counts."""

from __future__ import annotations

import json
import math

import pytest

from airflow_mlprovider.rollout import Decision, RolloutPolicy, RolloutState, VariantCounts, decide, sequential
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
    policy = RolloutPolicy.from_spec(Rollout(steps=(10, 100), guardrails=Guardrails(1.5, 0.2), on_timeout="rollback"))
    assert policy.steps == (10, 100)
    assert (policy.latency_p99_ratio, policy.prediction_shift) == (1.5, 0.2)
    assert policy.min_requests == Rollout().min_requests
    assert policy.on_timeout == "rollback" and POLICY.on_timeout == "wait"


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"steps": (50, 25, 100)}, "strictly increasing"), ({"steps": (5, 50)}, "end at 100"),
     ({"steps": (100,)}, "partial step"), ({"significance": 0.0}, "significance"),
     ({"on_timeout": "advance"}, "on_timeout")],
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
    assert decision.stats["rollback_check"] == "5xx"  # the check the rollback is blamed on


def test_4xx_are_judged_too():
    decision = check(RolloutState.start(POLICY, 0), counts(7600, 0, 76), counts(400, 0, 40), now=80)
    assert decision.action == "rollback" and "candidate 4xx" in decision.reason
    assert decision.stats["rollback_check"] == "4xx"


def test_evidence_accumulates_over_checks_of_one_window():
    state = RolloutState.start(POLICY, 0)
    first = check(state, counts(3800, 38), counts(200, 4), now=40)
    assert first.action == "wait"
    second = check(first.state, counts(7600, 76), counts(400, 16), now=80)
    # The second reading contains the first: only what was served since then is added, never counted twice.
    since = sequential.conditional_llr(200, 12, 3800, 38, 3.0) + sequential.conditional_llr(200, 4, 3800, 38, 3.0)
    assert second.state.evidence["llr"]["5xx"][-1] == pytest.approx(since)


def test_without_4xx_the_5xx_get_the_whole_significance_from_their_first_errors():
    state = RolloutState.start(POLICY, 0)
    first = check(state, counts(3800, 38), counts(200, 4), now=40)
    # Only the 5xx had errors: the idle 4xx share is theirs from this check on, so the total is the 5xx statistic.
    assert first.state.evidence["allocation"]["classes"] == ["5xx"]
    assert first.stats["log_lr_total"] == pytest.approx(first.stats["log_lr"]["5xx"], abs=1e-3)
    second = check(first.state, counts(7600, 76), counts(400, 12), now=80)
    assert second.stats["log_lr_total"] == pytest.approx(second.stats["log_lr"]["5xx"], abs=1e-3)
    # With errors of both classes the total is the share-weighted mixture (0.5 / 0.5).
    both = check(state, counts(3800, 38, 38), counts(200, 4, 4), now=40)
    m5, m4 = both.stats["log_lr"]["5xx"], both.stats["log_lr"]["4xx"]
    assert both.stats["log_lr_total"] == pytest.approx(math.log(0.5 * math.exp(m5) + 0.5 * math.exp(m4)), abs=1e-3)


def test_4xx_that_start_late_are_judged_from_their_first_errors():
    state = RolloutState.start(POLICY, 0)
    quiet = check(state, counts(3800, 38), counts(200, 2), now=40)
    assert quiet.state.evidence["allocation"]["classes"] == ["5xx"]
    # The first 4xx wake the class up at its share of the capital, and a candidate breaking the request
    # contract is rolled back at once.
    broken = check(quiet.state, counts(7600, 76, 8), counts(400, 4, 20), now=80)
    assert sorted(broken.state.evidence["allocation"]["classes"]) == ["4xx", "5xx"]
    assert broken.action == "rollback" and "candidate 4xx" in broken.reason


def test_zero_errors_everywhere_still_completes():
    # No error of either class: the champion's 20,000 requests show both rates negligible, so each partial step
    # passes on min_requests; passing the last partial step (50 %) completes the rollout.
    state = RolloutState.start(POLICY, 0)
    for step, now in zip(POLICY.steps[:-1], (100, 200, 300)):
        decision = check(state, counts(20_000), counts(1000), now=now)
        assert decision.action == ("complete" if step == 50 else "advance")
        state = decision.state
    assert decision.weight == 100


def test_with_a_tolerance_error_free_requests_prove_a_candidate_before_anyone_errs():
    """Who served the errors says nothing while nobody errs; with a tolerance the candidate's own error-free
    requests do (at most the champion's rate plus one point): a step passes long before the champion's requests
    could show its rate negligible."""
    tolerant = RolloutPolicy.from_spec(Rollout(max_error_rate_increase=0.01))
    decision = check(RolloutState.start(tolerant, 0), counts(4000), counts(800), now=100, policy=tolerant)
    assert decision.action == "advance", decision.reason
    assert decision.stats["acceptance_log_lr"]["5xx"] <= decision.stats["acceptance_threshold"]
    strict = check(RolloutState.start(POLICY, 0), counts(4000), counts(800), now=100)
    assert strict.action == "wait"  # without a tolerance only the negligible test can pass it (16,000 requests)


def test_a_doubling_of_rare_errors_does_not_pass_as_not_worse():
    # 0.1 % -> 0.2 %: the old absolute floor (one more error per min_requests) let this advance.
    decision = check(RolloutState.start(POLICY, 0), counts(95_000, 95), counts(5000, 10), now=1000)
    assert decision.action == "wait"
    assert decision.stats["acceptance_log_lr"]["5xx"] > decision.stats["acceptance_threshold"]


def test_the_decision_is_final_at_the_last_partial_step():
    state = RolloutState(step_index=2, weight=50, started_at=0, step_started_at=0)
    done = check(state, counts(25_000, 250), counts(25_000, 225), now=300)
    assert done.action == "complete" and done.weight == 100
    assert "step 50% passed" in done.reason and "(power 98%)" in done.reason


def test_each_step_needs_its_share_of_the_evidence_and_completing_needs_all_of_it():
    # Acceptance evidence (log-LR of 1.5x) of about -2.6: past the bar that holds 25 % (-2.10), short of the whole
    # log(1 - power) (-3.91) that completing needs.
    state = RolloutState.start(POLICY, 0)
    passed = check(state, counts(57_000, 570), counts(3000, 30), now=600)
    assert passed.action == "advance", passed.reason
    assert POLICY.acceptance_bar(3) < passed.stats["acceptance_log_lr"]["5xx"] <= POLICY.acceptance_bar(1)
    assert passed.stats["acceptance_threshold"] == pytest.approx(POLICY.acceptance_bar(1), abs=1e-4)
    last = RolloutState(step_index=2, weight=50, started_at=0, step_started_at=600, evidence=passed.state.evidence)
    short = check(last, counts(0), counts(0), now=605)
    assert short.action == "wait" and short.stats["acceptance_threshold"] == pytest.approx(POLICY.acceptance_bar(3),
                                                                                           abs=1e-4)


def test_a_candidate_whose_evidence_falls_behind_goes_back_a_step():
    advanced = check(RolloutState.start(POLICY, 0), counts(57_000, 570), counts(3000, 30), now=600)
    assert advanced.action == "advance" and advanced.weight == 25
    # At 25 % it errs 2.6x as often as the champion: before the rollback test is sure, its evidence (above 0) no
    # longer earns more than 5 %: back to 5 % (its evidence carried, a new window), still watched.
    behind = check(advanced.state, counts(3000, 30), counts(1000, 26), now=640)
    assert behind.action == "retreat" and behind.weight == 5, behind.reason
    assert behind.stats["acceptance_log_lr"]["5xx"] > POLICY.acceptance_bar(0)
    assert "no longer earns a step above 5% -> back to 5%" in behind.reason
    assert (behind.state.step_index, behind.state.step_started_at) == (0, 640)
    assert behind.state.evidence["done"]["candidate"] == [4000, 56, 0]
    assert behind.state.evidence["seen"]["candidate"] == [0, 0, 0]
    # At the first step there is nowhere to go back to: it waits (or is rolled back).
    first = check(RolloutState.start(POLICY, 0), counts(3000, 30), counts(1000, 26), now=40)
    assert first.action in ("wait", "rollback")


def test_a_later_step_is_also_judged_on_its_own_windows():
    # Far better than the champion at 5 % and 25 %: the whole rollout's evidence is overwhelming ...
    early = check(RolloutState.start(POLICY, 0), counts(190_000, 1900), counts(10_000, 70), now=2000)
    mid = check(early.state, counts(75_000, 750), counts(25_000, 200), now=3000)
    assert (early.action, mid.action, mid.weight) == ("advance", "advance", 50)
    # ... yet at 50 % it errs 1.5x as often as the champion: that step's own windows point to an increase, so it
    # does not complete on the earlier steps' evidence (a load-dependent regression), it waits, watched.
    worse = check(mid.state, counts(2000, 20), counts(2000, 30), now=3040)
    assert worse.action == "wait" and worse.stats["acceptance_log_lr"]["5xx"] < POLICY.acceptance_bar(3)
    assert worse.stats["acceptance_log_lr"]["load"] > 0 and "load-dependent" in worse.reason
    same = check(mid.state, counts(2000, 20), counts(2000, 20), now=3040)
    assert same.action == "complete", same.reason


def test_the_load_check_keeps_a_later_steps_evidence_through_a_retreat_and_rolls_back_on_it():
    # Healthy at 5 %, worse at 25 %: the candidate bounces between them; the pooled evidence heals at 5 %, the
    # 25 % step's own evidence does not, and it rolls the candidate back.
    state, now, actions, window = RolloutState.start(POLICY, 0), 0, [], [0, 0, 0, 0]
    for _ in range(200):
        now += 60  # a minute at 100 req/s: 1 % 5xx for both, except the candidate's 3 % at 25 %
        cand = 100 * state.weight * 0.6
        window = [a + b for a, b in zip(window, (6000 - cand, (6000 - cand) // 100, cand,
                                                  cand * (3 if state.step_index == 1 else 1) // 100))]
        decision = check(state, counts(int(window[0]), int(window[1])), counts(int(window[2]), int(window[3])), now)
        actions.append(decision.action)
        if decision.action == "rollback":
            break
        if decision.action in ("advance", "retreat"):
            window = [0, 0, 0, 0]
        state = decision.state
    assert "retreat" in actions and actions[-1] == "rollback", actions
    assert decision.stats["rollback_check"] == "load"


def test_the_load_check_takes_a_share_of_the_budget_when_there_are_later_steps():
    from airflow_mlprovider.rollout.decision import check_shares

    assert check_shares(POLICY) == pytest.approx({"5xx": 0.45, "4xx": 0.45, "load": 0.1})
    assert check_shares(RolloutPolicy(**{**POLICY.__dict__, "steps": (10, 100)})) == {"5xx": 0.5, "4xx": 0.5}


def test_a_healthy_candidate_keeps_its_step_through_noise():
    advanced = check(RolloutState.start(POLICY, 0), counts(57_000, 570), counts(3000, 30), now=600)
    # More errors than the champion at 25 % (1.6 % vs 1 %), but the evidence is still below 0: it keeps 25 %.
    noisy = check(advanced.state, counts(3000, 30), counts(1000, 16), now=640)
    assert noisy.action == "wait" and noisy.weight == 25, noisy.reason


def test_a_shared_outage_at_the_last_partial_step_is_no_evidence_against_the_candidate():
    # Both variants at 20 % 5xx for a while in the same window: the comparison is with the champion's
    # concurrent rate, so the candidate is not rolled back.
    state = RolloutState.resume(POLICY, 50, now=0)
    decision = check(state, counts(6000, 60 + 1200), counts(6000, 60 + 1200), now=120)
    assert decision.action != "rollback"


def test_with_a_tolerance_a_shared_outage_is_no_evidence_and_an_error_free_champion_invents_no_errors():
    tolerant = RolloutPolicy.from_spec(Rollout(max_error_rate_increase=0.01))
    outage = check(RolloutState.resume(tolerant, 50, now=0), counts(6000, 60 + 1200), counts(6000, 60 + 1200),
                   now=120, policy=tolerant)
    assert outage.action != "rollback"
    # Candidate at exactly the tolerance (1 %), champion error-free: evidence for the candidate, none against it.
    state = RolloutState.start(tolerant, 0)
    for i in range(1, 9):
        decision = check(state, counts(4750 * i), counts(250 * i, int(2.5 * i)), now=30 * i, policy=tolerant)
        state = decision.state
        assert decision.action == "wait" and decision.stats["log_lr"]["5xx"] < 0, decision.reason
    # At the detectable increase (1.5 %) it does not pass because the champion's rate is negligible: with a
    # tolerance the question is absolute, and the candidate's own requests must answer it.
    bad = check(RolloutState.start(tolerant, 0), counts(40_000), counts(2000, 30), now=240, policy=tolerant)
    assert bad.action != "advance", bad.reason


def test_a_state_left_at_100_percent_by_an_older_version_completes():
    state = RolloutState(step_index=3, weight=100.0, started_at=0, step_started_at=10)
    assert check(state, counts(0), counts(500, 5), now=20).action == "complete"


ROLLBACK_ON_TIMEOUT = RolloutPolicy(**{**POLICY.__dict__, "on_timeout": "rollback"})


def test_no_data_waits_then_the_step_timeout_rolls_back_when_asked_to():
    state = RolloutState.start(ROLLBACK_ON_TIMEOUT, 0)
    policy = ROLLBACK_ON_TIMEOUT
    assert check(state, counts(0), counts(0), now=policy.step_timeout_s - 1, policy=policy).action == "wait"
    late = check(state, counts(0), counts(0), now=policy.step_timeout_s, policy=policy)
    assert late.action == "rollback" and late.weight == 0 and "step_timeout" in late.reason
    assert late.stats["rollback_check"] == "limit"


def test_by_default_a_limit_keeps_waiting_and_says_how_long_it_expects():
    # 0.5 req/s in total: the 5 % step sees ~90 candidate requests an hour; the candidate is as good as the champion.
    state = RolloutState.start(POLICY, 0)
    decision = check(state, counts(1710, 17), counts(90, 1), now=POLICY.step_timeout_s)
    assert decision.action == "wait" and decision.weight == 5
    assert decision.stats["limit_reached"] and "on_timeout: wait" in decision.reason
    assert decision.stats["expected_wait_s"] > 10 * 3600
    assert "expects ~" in decision.reason


def test_overall_timeout_rolls_back_when_asked_to():
    state = RolloutState(step_index=0, weight=5, started_at=0, step_started_at=POLICY.timeout_s - 60)
    decision = check(state, counts(0), counts(0), now=POLICY.timeout_s, policy=ROLLBACK_ON_TIMEOUT)
    assert decision.action == "rollback" and "timeout" in decision.reason


def test_counts_going_backwards_are_no_data():
    state = check(RolloutState.start(POLICY, 0), counts(3800, 38), counts(200, 2), now=40).state
    decision = check(state, counts(100, 90), counts(10, 10), now=50)
    assert decision.action == "wait" and "backwards" in decision.reason
    assert decision.state.evidence == state.evidence


def histogram(requests: int, p99_ms: float, tail: float = 0.01) -> list[tuple[float, int]]:
    """Latencies on a 2**0.25 grid: most at a quarter of p99_ms, a share `tail` in the bucket of 2 x p99_ms."""
    slow = round(requests * tail)
    return [(p99_ms / 4, requests - slow), (p99_ms * 2, slow)]


def test_latency_guardrail_rolls_back_a_candidate_slower_than_the_limit():
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(latency_p99_ratio=1.5)))
    state = RolloutState.start(policy, 0)
    champion = counts(19_000, latency_buckets=histogram(19_000, 100.0))
    # 3x slower: every bucket moves up by 3x, so ~25 % of its requests are above 1.5 x the champion's p99.
    slow = counts(1000, latency_buckets=[(75.0, 750), (300.0, 240), (600.0, 10)])
    decision = check(state, champion, slow, 200, policy)
    assert decision.action == "rollback" and "above 1.5 x the champion's p99" in decision.reason
    same = check(state, champion, counts(1000, latency_buckets=histogram(1000, 100.0)), 200, policy)
    assert same.action != "rollback"
    assert same.stats["acceptance_log_lr"]["latency"] < 0


def test_latency_guardrail_needs_min_requests_and_a_histogram():
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(latency_p99_ratio=1.5)))
    state = RolloutState.start(policy, 0)
    few = check(state, counts(3800, latency_buckets=histogram(3800, 100.0)),
                counts(20, latency_buckets=[(900.0, 20)]), 40, policy)
    assert few.action == "wait" and few.stats["guardrails"]["latency"] is None
    p99_only = check(state, counts(3800, latency_p99_ms=100.0), counts(200, latency_p99_ms=900.0), 40, policy)
    assert p99_only.action == "wait", "a p99 alone is no test: nothing is judged on it"


def predictions(n: int, mean: float, sd: float) -> dict:
    """Sums of n predictions with exactly this mean and (sample) standard deviation."""
    return {"prediction_count": n, "prediction_sum": n * mean, "prediction_sum_sq": (n - 1) * sd * sd + n * mean * mean}


@pytest.mark.parametrize("scale", [(0.0, 1.0), (1e6, 1.0), (0.3, 0.2), (-5.0, 40.0)])
def test_prediction_guardrail_is_free_of_the_predictions_scale(scale):
    mean, sd = scale
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(prediction_shift=0.5)))
    state = RolloutState.start(policy, 0)
    champion = counts(9500, **predictions(9500, mean, sd))
    shifted = check(state, champion, counts(500, **predictions(500, mean + 0.5 * sd, sd)), 100, policy)
    assert shifted.action == "rollback" and "+0.50 standard deviations" in shifted.reason
    unshifted = check(state, champion, counts(500, **predictions(500, mean + 0.02 * sd, sd)), 100, policy)
    assert unshifted.action != "rollback"
    assert unshifted.stats["acceptance_log_lr"]["prediction"] < unshifted.stats["acceptance_threshold"]


def test_a_guardrail_without_data_does_not_hold_a_step():
    policy = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(prediction_shift=0.5)))
    decision = check(RolloutState.start(policy, 0), counts(76_000, 760), counts(4000, 30), 800, policy)
    assert decision.action == "advance"


def test_resume_picks_the_step_of_the_current_weight_that_no_evidence_can_hold():
    assert RolloutState.resume(POLICY, 25, now=7).step_index == 1
    assert RolloutState.resume(POLICY, 30, now=7).step_index == 1
    assert RolloutState.resume(POLICY, 0, now=7).step_index == 0
    # The evidence is lost: a candidate without any holds at most the second step (decide() would send it back
    # from a higher one at its first check), and at 100 % nothing can be compared in the same window.
    for weight in (50, 100):
        resumed = RolloutState.resume(POLICY, weight, now=7)
        assert (resumed.step_index, resumed.weight, resumed.step_started_at) == (1, 25, 7)
    two_steps = RolloutPolicy(**{**POLICY.__dict__, "steps": (10, 100)})
    assert RolloutState.resume(two_steps, 100, now=7).step_index == 0


def test_a_rollout_resumed_at_100_percent_can_complete():
    state = RolloutState.resume(POLICY, 100, now=0)
    moved = check(state, counts(21_000, 210), counts(7000, 56), now=300)
    assert moved.action == "advance" and moved.weight == 50, moved.reason
    done = check(moved.state, counts(20_000, 200), counts(20_000, 180), now=600)
    assert done.action == "complete" and done.weight == 100
