"""The statistics on hand-computable cases."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.rollout import sequential


def brute_force_hypergeometric_llr(n_c: int, e_c: int, n_b: int, e_b: int, ratio: float) -> float:
    """log of ratio**e_c / E[ratio**X], X hypergeometric, summed exactly over the whole support."""
    draws = e_c + e_b
    support = range(max(0, draws - n_b), min(n_c, draws) + 1)
    mean = sum(Fraction(math.comb(n_c, x) * math.comb(n_b, draws - x)) * Fraction(ratio) ** x for x in support)
    return e_c * math.log(ratio) - math.log(mean / math.comb(n_c + n_b, draws))


@pytest.mark.parametrize("counts", [(100, 4, 900, 6), (10, 3, 5, 2), (50, 50, 50, 0), (5, 0, 5, 5), (400, 9, 7600, 70)])
def test_conditional_llr_without_tolerance_is_the_exact_hypergeometric_ratio(counts):
    assert sequential.conditional_llr(*counts, ratio=3.0) == pytest.approx(
        brute_force_hypergeometric_llr(*counts, 3.0), rel=1e-9)


def test_conditional_llr_is_close_to_the_binomial_on_the_request_share_when_errors_are_rare():
    # 1,000 vs 9,000 requests, 4 + 6 errors: each error is the candidate's with p0 = 0.1; ratio 3 -> p1 = 0.3/1.2.
    p0, p1 = 0.1, 0.25
    binomial = 4 * math.log(p1 / p0) + 6 * math.log((1 - p1) / (1 - p0))
    assert sequential.conditional_llr(1000, 4, 9000, 6, ratio=3.0) == pytest.approx(binomial, abs=0.01)


def test_the_exact_ratio_has_expectation_one_under_the_null():
    # E0[LR] = 1 for any margins: the property that makes the rollback test a martingale.
    n_c, n_b, draws = 30, 70, 12
    support = range(max(0, draws - n_b), min(n_c, draws) + 1)
    expectation = sum(math.comb(n_c, x) * math.comb(n_b, draws - x) / math.comb(n_c + n_b, draws)
                      * math.exp(sequential.conditional_llr(n_c, x, n_b, draws - x, 2.0)) for x in support)
    assert expectation == pytest.approx(1.0, rel=1e-9)


def binomial_expectation(n_c: int, r_c: float, n_b: int, r_b: float, log_value) -> float:
    """E[exp(log_value(x_c, x_b))], x_c ~ Bin(n_c, r_c) and x_b ~ Bin(n_b, r_b) independent, summed exactly."""
    from scipy.stats import binom

    p_c, p_b = binom.pmf(np.arange(n_c + 1), n_c, r_c), binom.pmf(np.arange(n_b + 1), n_b, r_b)
    return float(sum(p_c[x] * p_b[y] * math.exp(log_value(x, y)) for x in range(n_c + 1) for y in range(n_b + 1)
                     if p_c[x] * p_b[y] > 1e-300))


@settings(max_examples=40, deadline=None)
@given(n_c=st.integers(1, 60), n_b=st.integers(1, 120), r_b=st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2]),
       tolerance=st.sampled_from([0.001, 0.01, 0.05]), ratio=st.sampled_from([1.5, 2.0, 3.0]))
def test_the_tolerance_statistics_are_e_values_whatever_the_champions_rate(n_c, n_b, r_b, tolerance, ratio):
    """The champion's rate is unknown and free to change between windows (a shared outage): the rollback
    ratio has expectation <= 1 for a candidate at the champion's rate plus the tolerance, whatever that rate,
    and the acceptance ratio <= 1 for a candidate at the detectable increase (any share: the tilt is capped)."""
    at_tolerance = min(r_b + tolerance, 1.0)
    rollback = binomial_expectation(n_c, at_tolerance, n_b, r_b, lambda x, y: sequential.tolerance_llr(
        n_c, x, n_b, y, tolerance, ratio))
    assert rollback <= 1 + 1e-9
    detectable = min(sequential.DETECTABLE_RATIO * (r_b + tolerance), 1.0)
    accept = binomial_expectation(n_c, detectable, n_b, r_b, lambda x, y: -sequential.tolerance_acceptance_llr(
        n_c, x, n_b, y, tolerance))
    assert accept <= 1 + 1e-9


def test_the_tolerance_ratio_is_exact_for_poisson_counts():
    """Rare errors: with Poisson counts the champion's errors pay for its unknown rate exactly (E = 1)."""
    from scipy.stats import poisson

    n_c, n_b, tolerance, r_b = 50, 950, 0.01, 0.01
    x, y = np.arange(60), np.arange(120)
    p_c, p_b = poisson.pmf(x, n_c * (r_b + tolerance)), poisson.pmf(y, n_b * r_b)
    expectation = sum(p_c[i] * p_b[j] * math.exp(sequential.tolerance_llr(n_c, i, n_b, j, tolerance, 2.0))
                      for i in x for j in y)
    assert expectation == pytest.approx(1.0, rel=1e-9)


def test_an_error_free_champion_is_no_evidence_against_a_candidate_at_the_tolerance():
    """The plug-in this replaced smoothed the champion's rate with half an error per window: an error-free
    champion looked as if it erred, and a candidate at exactly the tolerance was rolled back 62 %."""
    # Candidate at 1 % with a 1-point tolerance, champion without errors: each window's evidence is the
    # candidate's own Poisson test against 1 %, whose mean is negative.
    n_c, n_b, tolerance = 25, 475, 0.01
    mean = sum(math.exp(-n_c * 0.01) * (n_c * 0.01) ** x / math.factorial(x)
               * sequential.tolerance_llr(n_c, x, n_b, 0, tolerance, 1.5) for x in range(20))
    assert mean < 0
    assert sequential.tolerance_llr(n_c, 2, n_b, 0, tolerance, 1.5) == pytest.approx(2 * math.log(1.5) - 0.5 * n_c * tolerance)
    # The champion's errors in the same window excuse the candidate's: a shared outage is no evidence.
    assert sequential.tolerance_llr(n_c, 5, n_b, 95, tolerance, 1.5) < 0


@pytest.mark.parametrize("counts", [(0, 0, 100, 5), (100, 0, 0, 0), (100, 0, 1000, 0)])
def test_no_errors_or_no_traffic_is_no_evidence(counts):
    assert sequential.conditional_llr(*counts, ratio=3.0) == 0.0


def evidence_per_request(statistic, share: float, rate: float, per_window: int, seed: int) -> list[float]:
    """The statistic of 4,000 simulated windows (both variants at `rate`), each per candidate request."""
    rng = np.random.default_rng(seed)
    sums = []
    for _ in range(4000):
        n_c = int(rng.binomial(per_window, share))
        e_c, e_b = int(rng.binomial(n_c, rate)), int(rng.binomial(per_window - n_c, rate))
        sums.append(statistic(n_c, e_c, per_window - n_c, e_b) / max(n_c, 1))
    return sums


def test_acceptance_drift_is_the_mean_of_the_detectable_alternatives_evidence_and_free_of_the_base_rate():
    """Acceptance is the summed conditional log-LR of the detectable increase: its drift per candidate request
    (what planning and the waiting messages extrapolate from) is that sum's mean when both variants are equal."""
    share, rate = 0.05, 0.01
    sums = evidence_per_request(lambda n_c, e_c, n_b, e_b: sequential.conditional_llr(
        n_c, e_c, n_b, e_b, sequential.DETECTABLE_RATIO), share, rate, per_window=2000, seed=4)
    drift = sequential.acceptance_drift(rate, 0.0, share)
    assert drift < 0
    assert np.mean(sums) == pytest.approx(drift, abs=4 * np.std(sums) / np.sqrt(len(sums)))
    # Relative: per error the same at a base rate 100x lower (the drift per request scales with the rate).
    assert sequential.acceptance_drift(0.0001, 0.0, share) / 0.0001 == pytest.approx(drift / rate)
    # Where the candidate serves more, evidence comes faster per second, slower per candidate request.
    assert sequential.acceptance_drift(rate, 0.0, 0.5) * 0.5 < drift * share
    assert sequential.acceptance_drift(rate, 0.0, 0.5) > drift


@pytest.mark.parametrize("rate", [0.0, 0.01])
def test_acceptance_drift_with_a_tolerance_is_the_mean_of_its_evidence(rate):
    share, tolerance = 0.05, 0.01
    sums = evidence_per_request(lambda n_c, e_c, n_b, e_b: sequential.tolerance_acceptance_llr(
        n_c, e_c, n_b, e_b, tolerance), share, rate, per_window=500, seed=5)
    drift = sequential.acceptance_drift(rate, tolerance, share)
    assert drift < 0
    assert np.mean(sums) == pytest.approx(drift, abs=4 * np.std(sums) / np.sqrt(len(sums)))


def test_negligible_rates_are_shown_by_the_champions_requests():
    # No error: log(4) per error, 0.75 x NEGLIGIBLE_RATE per request.
    rate = sequential.NEGLIGIBLE_RATE
    assert sequential.negligible_llr(16_000, 0) == pytest.approx(-16_000 * 0.75 * rate)
    assert sequential.negligible_llr(16_000, 2) == pytest.approx(2 * math.log(4) - 16_000 * 0.75 * rate)
    # A champion at the rarest supported base rate (0.05 %) is never shown negligible: its drift is positive.
    assert sequential.negligible_drift(0.0005) > 0 > sequential.negligible_drift(0.0)


def test_gaussian_shift_llr_is_the_normal_likelihood_ratio():
    # information 100, observed shift 0.3 sd, alternative 0.5 sd: 100 * (0.5 * 0.3 - 0.125).
    assert sequential.gaussian_shift_llr(100, 0.3, 0.5) == pytest.approx(100 * (0.15 - 0.125))


def test_log_mixture():
    assert sequential.log_mixture([0.0, 0.0], [0.4, 0.6]) == pytest.approx(0.0)
    assert sequential.log_mixture([1000.0, 0.0], [0.5, 0.5]) == pytest.approx(1000 + math.log(0.5))


def test_wald_expected_sample_size_matches_the_textbook_figures():
    assert sequential.wald_expected_sample_size(0.01, 0.03, 0.01, 0.05) == pytest.approx(317, abs=1)
    assert sequential.wald_expected_sample_size(0.01, 0.015, 0.01, 0.05) == pytest.approx(3816, abs=2)


SHARES = {"5xx": 0.8, "4xx": 0.2}


def test_allocated_log_lr_starts_as_the_share_weighted_mixture_of_the_classes():
    start = sequential.start_allocation(SHARES)
    assert sequential.allocated_log_lr({"5xx": 2.0, "4xx": 0.0}, SHARES, start) == pytest.approx(
        math.log(0.8 * math.exp(2.0) + 0.2))


def test_reallocate_moves_the_capital_of_idle_classes_and_keeps_the_statistic_continuous():
    start = sequential.start_allocation(SHARES)
    assert sequential.reallocate(start, [], {"5xx": 0.0, "4xx": 0.0}, 0.0) is start
    assert sequential.reallocate(start, ["4xx", "5xx"], {"5xx": 1.0, "4xx": 0.5}, 0.9) is start
    log_lr = sequential.allocated_log_lr({"5xx": 2.0, "4xx": 0.0}, SHARES, start)
    only_5xx = sequential.reallocate(start, ["5xx"], {"5xx": 2.0, "4xx": 0.0}, log_lr)
    # Same value at the reallocation, then it grows with the 5xx evidence alone.
    assert sequential.allocated_log_lr({"5xx": 2.0, "4xx": 0.0}, SHARES, only_5xx) == pytest.approx(log_lr)
    assert sequential.allocated_log_lr({"5xx": 3.0, "4xx": 0.0}, SHARES, only_5xx) == pytest.approx(log_lr + 1.0)
    both = sequential.reallocate(only_5xx, ["5xx", "4xx"], {"5xx": 3.0, "4xx": 0.0}, log_lr + 1.0)
    grown = sequential.allocated_log_lr({"5xx": 3.0, "4xx": 2.0}, SHARES, both)
    assert grown == pytest.approx(log_lr + 1.0 + math.log(0.8 + 0.2 * math.exp(2.0)))
