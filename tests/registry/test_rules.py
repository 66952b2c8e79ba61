from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlprovider.registry.rules import judge_candidate, may_replace
from airflow_mlprovider.registry.store import ModelVersion
from airflow_mlprovider.spec.model import Promote

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
margin = st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0, 5.0])


def version(version_id: str, end: str) -> ModelVersion:
    return ModelVersion(
        version_id=version_id,
        model="m",
        run_id=f"run-{version_id}",
        artifact_uri=f"file:///a/{version_id}",
        data_interval_start="2024-01-01T00:00:00+00:00",
        data_interval_end=end,
        metric="rmse",
        metric_value=1.0,
    )


def test_strictly_better_by_default() -> None:
    better = judge_candidate(9.0, 10.0, "minimize", Promote())
    assert better.promote and better.improvement == pytest.approx(1.0)
    assert "9 vs champion 10" in better.reason and "10.00% relative better" in better.reason
    tie = judge_candidate(10.0, 10.0, "minimize", Promote())
    assert not tie.promote and tie.improvement == 0
    worse = judge_candidate(0.7, 0.8, "maximize", Promote())
    assert not worse.promote and worse.improvement == pytest.approx(-0.1)


def test_relative_and_absolute_margins_must_both_hold() -> None:
    policy = Promote(min_relative_improvement=0.05, min_absolute_improvement=2.0)
    assert judge_candidate(94.0, 100.0, "minimize", policy).promote  # 6 % and 6 units
    assert not judge_candidate(96.0, 100.0, "minimize", policy).promote  # 4 %: relative fails
    assert not judge_candidate(9.0, 10.0, "minimize", policy).promote  # 10 % but 1 unit: absolute fails
    assert judge_candidate(7.5, 10.0, "minimize", policy).promote
    assert "required: >= 2 absolute and >= 5.00% relative" in judge_candidate(9.0, 10.0, "minimize", policy).reason


def test_first_model_threshold() -> None:
    assert judge_candidate(5.0, None, "minimize", Promote()).promote
    assert judge_candidate(5.0, None, "minimize", Promote(first_model_threshold=5.0)).promote
    refused = judge_candidate(5.1, None, "minimize", Promote(first_model_threshold=5.0))
    assert not refused.promote and "does not clear first_model_threshold (<= 5)" in refused.reason
    assert judge_candidate(0.9, None, "maximize", Promote(first_model_threshold=0.9)).promote
    assert not judge_candidate(0.89, None, "maximize", Promote(first_model_threshold=0.9)).promote


def test_zero_champion_metric_has_no_relative_scale() -> None:
    assert judge_candidate(0.1, 0.0, "maximize", Promote(min_relative_improvement=0.5)).promote
    assert not judge_candidate(-0.1, 0.0, "maximize", Promote()).promote


def test_unknown_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="minimize, maximize"):
        judge_candidate(1.0, 2.0, "smaller", Promote())


@given(
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    champion=st.one_of(st.none(), finite),
    direction=st.sampled_from(["minimize", "maximize"]),
    threshold=st.one_of(st.none(), finite),
)
def test_never_promote_a_non_finite_metric(bad: float, champion: float | None, direction: str, threshold) -> None:
    decision = judge_candidate(bad, champion, direction, Promote(first_model_threshold=threshold))
    assert not decision.promote and "non-finite" in decision.reason


@given(candidate=finite, champion=finite, relative=margin, absolute=margin)
def test_direction_symmetry(candidate: float, champion: float, relative: float, absolute: float) -> None:
    policy = Promote(min_relative_improvement=relative, min_absolute_improvement=absolute)
    low = judge_candidate(candidate, champion, "minimize", policy)
    high = judge_candidate(-candidate, -champion, "maximize", policy)
    assert (low.promote, low.improvement) == (high.promote, high.improvement)


@given(candidate=finite, champion=finite, relative=margin, absolute=margin)
def test_promotion_implies_both_margins(candidate: float, champion: float, relative: float, absolute: float) -> None:
    decision = judge_candidate(candidate, champion, "minimize", Promote(relative, absolute))
    gain = champion - candidate
    if decision.promote:
        assert gain > 0 and gain >= absolute
        assert champion == 0 or gain / abs(champion) >= relative


def test_backfill_never_replaces_a_newer_champion() -> None:
    champion = version("20240110T000000-aaaaaaaa", "2024-01-10T00:00:00+00:00")
    backfill = version("20240105T000000-bbbbbbbb", "2024-01-05T00:00:00+00:00")
    allowed, why = may_replace(champion, backfill)
    assert not allowed and "a backfill" in why and "2024-01-05" in why
    assert may_replace(champion, replace(backfill, data_interval_end=champion.data_interval_end))[0]  # a re-run
    assert may_replace(champion, replace(backfill, data_interval_end="2024-01-11T00:00:00+00:00"))[0]
    assert may_replace(None, backfill) == (True, "no champion yet")


def test_naive_and_aware_timestamps_compare_as_utc() -> None:
    champion = version("a", "2024-01-10T00:00:00+00:00")
    assert not may_replace(champion, version("b", "2024-01-09T23:59:59"))[0]
    assert may_replace(champion, version("c", "2024-01-10T00:00:00Z"))[0]


def comparison(gain: float, low: float, rows: int = 1000) -> dict:
    return {"rows": rows, "gain": gain, "low": low, "high": 2 * gain - low, "method": "DeLong"}


def test_confidence_rule_judges_the_lower_bound_not_the_point_estimate() -> None:
    policy = Promote(confidence=0.95)
    noisy = judge_candidate(0.81, 0.80, "maximize", policy, comparison(0.01, -0.004))
    assert not noisy.promote and "95% confidence bound -0.004" in noisy.reason and "keep the champion" in noisy.reason
    sure = judge_candidate(0.81, 0.80, "maximize", policy, comparison(0.01, 0.002))
    assert sure.promote and "1000 paired rows" in sure.reason
    relative = judge_candidate(0.81, 0.80, "maximize", replace(policy, min_relative_improvement=0.005),
                               comparison(0.01, 0.003))
    assert not relative.promote  # 0.003 / 0.80 = 0.375 % < 0.5 %


def test_confidence_rule_without_a_comparison_keeps_the_champion() -> None:
    decision = judge_candidate(0.9, 1.0, "minimize", Promote(confidence=0.9), None)
    assert not decision.promote and "needs a paired comparison" in decision.reason


def test_small_test_sets_never_replace_a_champion_but_a_first_model_is_promoted() -> None:
    policy = Promote(min_test_rows=500)
    assert not judge_candidate(0.5, 1.0, "minimize", policy, None, test_rows=48).promote
    assert "48 rows, fewer than promote.min_test_rows (500)" in judge_candidate(
        0.5, 1.0, "minimize", policy, None, test_rows=48).reason
    assert judge_candidate(0.5, None, "minimize", policy, None, test_rows=48).promote
    assert judge_candidate(0.5, 1.0, "minimize", policy, None, test_rows=500).promote


def test_a_tiny_test_set_with_a_perfect_champion_does_not_freeze_promotion() -> None:
    """48 test rows, champion at accuracy 1.0: no margin can be beaten; on_tie: promote lets an equal model in."""
    import numpy as np

    from airflow_mlprovider.evaluation.paired import paired_comparison

    y = np.arange(48) % 3
    perfect, one_miss = y.copy(), y.copy()
    one_miss[0] = 1
    for confidence in (None, 0.95):
        kept = Promote(confidence=confidence, min_relative_improvement=0.01)
        ties = replace(kept, on_tie="promote")
        tie = paired_comparison("accuracy", y, perfect, perfect, direction="maximize", confidence=confidence or 0.95)
        assert not judge_candidate(1.0, 1.0, "maximize", kept, tie.to_dict(), test_rows=48).promote
        decision = judge_candidate(1.0, 1.0, "maximize", ties, tie.to_dict(), test_rows=48)
        assert decision.promote and "ties champion 1" in decision.reason
        worse = paired_comparison("accuracy", y, one_miss, perfect, direction="maximize", confidence=0.95)
        assert not judge_candidate(worse.candidate, 1.0, "maximize", ties, worse.to_dict(), test_rows=48).promote
    # a perfect (zero) rmse is tied the same way, and min_test_rows still comes first
    assert judge_candidate(0.0, 0.0, "minimize", Promote(on_tie="promote")).promote
    assert not judge_candidate(1.0, 1.0, "maximize", Promote(on_tie="promote", min_test_rows=100), test_rows=48).promote


@given(finite, finite, st.sampled_from(["minimize", "maximize"]), margin, margin)
def test_on_tie_changes_nothing_but_ties(candidate: float, champion: float, direction: str, relative: float,
                                         absolute: float) -> None:
    keep = Promote(min_relative_improvement=relative, min_absolute_improvement=absolute)
    ties = replace(keep, on_tie="promote")
    if not math.isclose(candidate, champion, rel_tol=1e-9):
        assert judge_candidate(candidate, champion, direction, keep) == judge_candidate(candidate, champion, direction, ties)
    else:
        assert judge_candidate(candidate, champion, direction, ties).promote
