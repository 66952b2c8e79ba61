"""The shadow verdict: agreement free of the predictions' scale, the rollout's error and latency tests, waiting."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.agreement import AgreementCounts
from airflow_mlprovider.shadow_verdict import comparison, judge
from airflow_mlprovider.spec.model import Shadow

POLICY = Shadow(min_requests=200, max_duration_s=600.0)


def mirrored(live: list[float], shadow: list[float]) -> AgreementCounts:
    counts = AgreementCounts(mirrored=len(live))
    for a, b in zip(live, shadow):
        counts.add_pair(a, b)
    return counts


def served(n: int, errors_5xx: int = 0) -> VariantCounts:
    return VariantCounts(requests=n, errors_5xx=errors_5xx, latency_buckets=[[5.0, n - errors_5xx]])


def regression(n: int, location: float, scale: float, offset_sd: float, noise_sd: float, seed: int) -> AgreementCounts:
    """Champion predictions location + scale * N(0, 1); the candidate's: the same plus offset and noise (in sd)."""
    rng = random.Random(seed)
    live = [location + scale * rng.gauss(0, 1) for _ in range(n)]
    shadow = [x + scale * (offset_sd + noise_sd * rng.gauss(0, 1)) for x in live]
    return mirrored(live, shadow)


@settings(max_examples=40, deadline=None)
@given(location=st.floats(-1e9, 1e9), log_scale=st.floats(-6, 6), seed=st.integers(0, 2**16))
def test_the_difference_verdict_is_free_of_the_predictions_scale(location: float, log_scale: float, seed: int) -> None:
    """An agreeing candidate (0.1 sd of noise) passes and one offset by 3 sd fails, in cents or in billions:
    the figures are those of the same predictions at location 0 and scale 1."""
    scale = max(10**log_scale, abs(location) * 1e-6)  # a spread double precision can hold at that location
    for offset_sd, action in ((0, "pass"), (3, "fail")):
        unit = judge(POLICY, "difference", served(300), served(300), regression(300, 0, 1, offset_sd, 0.1, seed), 60)
        scaled = judge(POLICY, "difference", served(300), served(300),
                       regression(300, location, scale, offset_sd, 0.1, seed), 60)
        assert unit.action == scaled.action == action, scaled.reason
        assert scaled.figures["relative_difference"] == pytest.approx(unit.figures["relative_difference"], rel=1e-6)
        # 0.1 sd of noise: E|N(0, 0.1)| = 0.08; an offset of 3 sd: about 3 (the sd is estimated from 300)
        assert unit.figures["relative_difference"] == pytest.approx(0.08 if offset_sd == 0 else 3.0, rel=0.25)


def test_an_offset_either_way_fails() -> None:
    for offset in (-1.0, 1.0):
        verdict = judge(POLICY, "difference", served(300), served(300), regression(300, 50, 10, offset, 0, 1), 60)
        assert verdict.action == "fail"
        assert verdict.figures["mean_difference"] == pytest.approx(10 * offset)


def test_a_constant_champion_is_scaled_by_its_mean_and_a_zero_one_allows_no_difference() -> None:
    assert judge(POLICY, "difference", served(300), served(300), mirrored([100.0] * 300, [101.0] * 300), 60).action == "pass"
    assert judge(POLICY, "difference", served(300), served(300), mirrored([100.0] * 300, [160.0] * 300), 60).action == "fail"
    assert judge(POLICY, "difference", served(300), served(300), mirrored([0.0] * 300, [0.0] * 300), 60).action == "pass"
    zero = judge(POLICY, "difference", served(300), served(300), mirrored([0.0] * 300, [1e-9] * 300), 60)
    assert zero.action == "fail" and zero.figures["relative_difference"] == float("inf")


@pytest.mark.parametrize(("flipped", "action"), [(0, "pass"), (20, "pass"), (40, "fail"), (300, "fail")])
def test_class_agreement(flipped: int, action: str) -> None:
    live = ["yes", "no"] * 150
    shadow = [("no" if label == "yes" else "yes") if i < flipped else label for i, label in enumerate(live)]
    verdict = judge(POLICY, "class", served(300), served(300), mirrored(live, shadow), 60)
    assert verdict.action == action, verdict.reason
    assert verdict.figures["agreement_rate"] == pytest.approx(1 - flipped / 300)


def test_string_predictions_in_difference_mode_fail_saying_what_to_do() -> None:
    verdict = judge(POLICY, "difference", served(300), served(300), mirrored(["a"] * 300, ["a"] * 300), 60)
    assert verdict.action == "fail" and "shadow.compare: class" in verdict.reason


def test_a_candidate_with_more_errors_fails_and_one_as_good_passes() -> None:
    agreement = regression(280, 0, 1, 0, 0.05, 3)
    worse = judge(POLICY, "difference", served(1000, errors_5xx=5), served(300, errors_5xx=20), agreement, 60)
    assert worse.action == "fail" and "5xx" in worse.reason
    same = judge(POLICY, "difference", served(1000, errors_5xx=10), served(300, errors_5xx=3), agreement, 60)
    assert same.action == "pass", same.reason


def test_a_candidate_that_always_fails_is_judged_after_min_requests() -> None:
    verdict = judge(POLICY, "difference", served(300), served(300, errors_5xx=300), AgreementCounts(mirrored=300), 60)
    assert verdict.action == "fail" and "5xx" in verdict.reason and "answered 200 by both" in verdict.reason


def test_latency_is_judged_only_when_asked() -> None:
    slow = VariantCounts(requests=300, latency_buckets=[[10.0, 1], [50.0, 299]])  # nearly all 10x the champion's
    agreement = regression(300, 0, 1, 0, 0.05, 4)
    assert judge(POLICY, "difference", served(300), slow, agreement, 60).action == "pass"
    strict = Shadow(min_requests=200, max_duration_s=600.0, latency_p99_ratio=2.0)
    champion = VariantCounts(requests=300, latency_buckets=[[5.0, 297], [6.0, 3]])
    verdict = judge(strict, "difference", champion, slow, agreement, 60)
    assert verdict.action == "fail" and "p99" in verdict.reason


def test_waits_for_min_requests_then_fails_at_max_duration() -> None:
    agreement = regression(50, 0, 1, 0, 0.05, 5)
    assert judge(POLICY, "difference", served(50), served(50), agreement, 60).action == "wait"
    late = judge(POLICY, "difference", served(50), served(50), agreement, 600)
    assert late.action == "fail" and "50 of 200" in late.reason


def test_auto_comparison_follows_the_metric() -> None:
    assert comparison("auto", "accuracy") == comparison("auto", "f1") == "class"
    assert comparison("auto", "rmse") == comparison("auto", "roc_auc") == comparison("auto", "m:f") == "difference"
    assert comparison("class", "rmse") == "class"


def test_without_predictions_errors_and_latency_are_still_judged() -> None:
    """CloudWatch sees no predictions: the verdict rests on errors (and latency) alone, and says so."""
    passed = judge(POLICY, "difference", served(1000), served(300), None, 60)
    assert passed.action == "pass" and "not measured" in passed.reason
    failed = judge(POLICY, "difference", served(1000), served(300, errors_5xx=30), None, 60)
    assert failed.action == "fail" and "5xx" in failed.reason


def test_latency_without_histograms_is_reported_not_judged() -> None:
    """CloudWatch gives each variant's p99 but no histogram: the figures say latency was not judged, and a pass
    does not claim it was."""
    strict = Shadow(min_requests=200, max_duration_s=600.0, latency_p99_ratio=2.0)
    champion, slow = VariantCounts(requests=300, latency_p99_ms=5.0), VariantCounts(requests=300, latency_p99_ms=50.0)
    verdict = judge(strict, "difference", champion, slow, None, 60)
    assert verdict.action == "pass" and verdict.reason.endswith("errors within tolerance")
    assert verdict.figures["latency"].startswith("not judged") and "50.0 ms vs champion 5.0 ms" in verdict.figures["latency"]
    with_histograms = judge(strict, "difference", served(300), served(300), None, 60)
    assert with_histograms.reason.endswith("errors and latency within tolerance")
