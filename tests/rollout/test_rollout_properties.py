"""Properties of decide() for any counts and any sequence of checks."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.rollout import RolloutPolicy, RolloutState, VariantCounts, decide
from airflow_mlprovider.spec.model import Guardrails, Rollout

POLICY = RolloutPolicy.from_spec(Rollout(guardrails=Guardrails(latency_p99_ratio=2.0, prediction_shift=0.1)))
count = st.integers(min_value=0, max_value=10**9)
measure = st.none() | st.floats(allow_nan=True, allow_infinity=True)
buckets = st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6)), max_size=6)
variant = st.builds(VariantCounts, requests=count, errors_4xx=count, errors_5xx=count,
                    latency_p99_ms=measure, prediction_mean=measure, prediction_count=count,
                    prediction_sum=st.floats(allow_nan=True, allow_infinity=True),
                    prediction_sum_sq=st.floats(allow_nan=True, allow_infinity=True), latency_buckets=buckets)
checks = st.lists(st.tuples(variant, variant, st.floats(min_value=0, max_value=4000)), min_size=1, max_size=12)


def run(checks_):
    state, now = RolloutState.start(POLICY, 0.0), 0.0
    for champion, candidate, gap in checks_:
        now += gap
        decision = decide(POLICY, state, champion, candidate, now)
        yield decision, candidate, state
        if decision.action in ("rollback", "complete"):
            return
        state = decision.state


# The same examples every run: among random ones, counts of ~10^9 errors per check take ~30 s each to sum exactly,
# which made this test's time vary from 15 s to 250 s.
@settings(max_examples=300, deadline=None, derandomize=True)
@given(checks)
def test_any_counts_give_a_valid_decision(checks_):
    for decision, candidate, before in run(checks_):
        assert 0 <= decision.weight <= 100 and 0 <= decision.state.weight <= 100
        assert decision.weight in (0, *POLICY.steps)
        if decision.action == "rollback":
            assert decision.weight == 0 and decision.state.weight == 0
        if decision.action == "wait":
            assert decision.weight == before.weight
        if decision.action == "retreat":
            assert decision.state.step_index == before.step_index - 1 >= 0
            assert decision.weight == POLICY.steps[decision.state.step_index]
        if decision.action in ("advance", "complete"):
            assert candidate.requests >= POLICY.min_requests
        json.loads(json.dumps(decision.stats, allow_nan=False))
        assert RolloutState.from_dict(json.loads(json.dumps(decision.state.to_dict()))) == decision.state


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=600), min_size=1, max_size=40), st.sampled_from(["wait", "rollback"]))
def test_no_data_waits_until_a_timeout_then_does_what_on_timeout_says(gaps, on_timeout):
    policy = RolloutPolicy(**{**POLICY.__dict__, "on_timeout": on_timeout})
    state, now = RolloutState.start(policy, 0.0), 0.0
    for gap in [*gaps, policy.timeout_s]:
        now += gap
        decision = decide(policy, state, VariantCounts(), VariantCounts(), now)
        if now < policy.step_timeout_s or on_timeout == "wait":
            assert decision.action == "wait" and decision.weight == policy.steps[0]
            assert decision.stats["limit_reached"] == (now >= policy.step_timeout_s)
        else:
            assert decision.action == "rollback" and decision.weight == 0 and "timeout" in decision.reason
            return
        state = decision.state
    assert on_timeout == "wait", "never timed out"


@given(st.floats(min_value=0, max_value=100))
def test_resume_continues_at_the_highest_partial_step_not_above_the_weight(weight):
    state = RolloutState.resume(POLICY, weight, now=5.0)
    assert POLICY.steps[state.step_index] == state.weight < 100
    assert state.weight <= max(weight, POLICY.steps[0])
    # the highest such step that a candidate without evidence may hold (decide() would not send it back)
    holdable = [s for i, s in enumerate(POLICY.steps[:-1]) if i == 0 or POLICY.acceptance_bar(i - 1) >= 0]
    assert all(s <= state.weight or s > weight for s in holdable)
