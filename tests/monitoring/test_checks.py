"""The monitor's checks: each alarms on what it is for, stays quiet on a healthy window, and is free of scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from airflow_mlprovider.monitoring import checks
from airflow_mlprovider.monitoring.checks import Moments
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.histogram import bucket_of, upper_bound_ms

ALPHA = 1e-5


def histogram(latencies_ms) -> list[list[float]]:
    counts: dict[int, int] = {}
    for latency in latencies_ms:
        index = bucket_of(latency)
        counts[index] = counts.get(index, 0) + 1
    return [[upper_bound_ms(i), n] for i, n in sorted(counts.items())]


def traffic(requests: int, errors_5xx: int = 0, errors_4xx: int = 0, latencies=None, predictions=None) -> VariantCounts:
    predictions = np.asarray([] if predictions is None else predictions, dtype=float)
    return VariantCounts(
        requests=requests, errors_5xx=errors_5xx, errors_4xx=errors_4xx,
        latency_buckets=histogram(latencies if latencies is not None else []),
        latency_p99_ms=float(np.quantile(latencies, 0.99)) if latencies is not None and len(latencies) else None,
        prediction_count=len(predictions), prediction_sum=float(predictions.sum()),
        prediction_sum_sq=float((predictions**2).sum()),
    )


def test_error_spike_alarms_and_the_baseline_rate_does_not():
    baseline = traffic(60_000, errors_5xx=60)  # 0.1 %
    assert not checks.error_rate_check("5xx", traffic(10_000, errors_5xx=12), baseline, "errors_5xx", 2, ALPHA).alarm
    spike = checks.error_rate_check("5xx", traffic(10_000, errors_5xx=80), baseline, "errors_5xx", 2, ALPHA)
    assert spike.alarm and spike.value == pytest.approx(0.008) and spike.limit < 0.008


def test_error_check_tests_against_the_baseline_not_a_raw_threshold():
    """5 % errors is normal for a model whose baseline has 5 %; 1 % is an alarm for one whose baseline has 0.01 %."""
    assert not checks.error_rate_check("4xx", traffic(10_000, errors_4xx=500), traffic(60_000, errors_4xx=3000),
                                       "errors_4xx", 2, ALPHA).alarm
    assert checks.error_rate_check("4xx", traffic(10_000, errors_4xx=100), traffic(60_000, errors_4xx=6),
                                   "errors_4xx", 2, ALPHA).alarm


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(1e-4, 0.3), n=st.integers(50, 100_000), seed=st.integers(0, 2**31))
def test_error_check_false_alarm_rate_holds_at_any_rate(rate, n, seed):
    """200 healthy windows (same rate as the baseline): at alpha 1e-3 the chance of >= 3 alarms is ~1e-6."""
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(200):
        current, base = rng.binomial(n, rate), rng.binomial(6 * n, rate)
        alarms += checks.error_rate_check("5xx", traffic(n, current), traffic(6 * n, base), "errors_5xx", 1.0,
                                          1e-3).alarm
    assert alarms < 3


def test_latency_regression_alarms_from_the_histograms():
    rng = np.random.default_rng(1)
    baseline = traffic(20_000, latencies=rng.lognormal(np.log(20), 0.3, 20_000))
    healthy = traffic(3_000, latencies=rng.lognormal(np.log(20), 0.3, 3_000))
    slow = traffic(3_000, latencies=rng.lognormal(np.log(100), 0.3, 3_000))
    assert not checks.latency_check("p99", healthy, baseline, 2, ALPHA, 30).alarm
    result = checks.latency_check("p99", slow, baseline, 2, ALPHA, 30)
    assert result.alarm and result.value > result.limit


def test_latency_without_histograms_compares_p99s():
    """CloudWatch reports a p99 only."""
    base = VariantCounts(requests=1000, latency_p99_ms=50.0)
    assert checks.latency_check("p99", VariantCounts(requests=500, latency_p99_ms=150.0), base, 2, ALPHA, 30).alarm
    assert not checks.latency_check("p99", VariantCounts(requests=500, latency_p99_ms=70.0), base, 2, ALPHA, 30).alarm


@pytest.mark.parametrize("rate", [0.1, 1.0, 100.0])
def test_traffic_to_zero_alarms_and_normal_traffic_does_not(rate):
    hour, baseline_s = 3600.0, 6 * 3600.0
    base = int(rate * baseline_s)
    assert checks.volume_check("requests", 0, base, hour, baseline_s, 0.1, ALPHA).alarm
    assert not checks.volume_check("requests", int(rate * hour * 0.5), base, hour, baseline_s, 0.1, ALPHA).alarm


def test_volume_check_says_when_the_baseline_is_too_thin_to_tell_an_outage():
    result = checks.volume_check("requests", 0, 6, 3600.0, 6 * 3600.0, 0.1, ALPHA)
    assert not result.alarm and "too little baseline traffic" in result.message


@settings(max_examples=80, deadline=None)
@given(scale=st.floats(1e-6, 1e6), offset=st.floats(-1e6, 1e6), shift=st.floats(-2, 2), n=st.integers(30, 5000))
def test_prediction_mean_check_is_free_of_scale_and_location(scale, offset, shift, n):
    """The same standardised window gives the same figure and verdict whatever the predictions' units."""
    assume(abs(offset) <= 1e8 * scale)  # beyond that float64 itself cannot hold the shift
    reference = Moments(2000, 0.0, 1.0)
    window = Moments(n, shift, 1.0)
    base = checks.prediction_mean_check("mean", window, reference, 0.2, ALPHA)
    moved = checks.prediction_mean_check(
        "mean", Moments(n, offset + scale * shift, scale), Moments(2000, offset, scale), 0.2, ALPHA
    )
    assert moved.alarm == base.alarm or abs(abs(base.value) - base.limit) < 1e-6
    assert moved.value == pytest.approx(base.value, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(("factor", "offset_sd", "alarm"), [
    (1.0, 0.0, False), (1.0, 0.05, False), (10.0, 0.0, True), (0.1, 0.0, True), (1.0, 0.5, True), (0.0, 0.0, True),
])
@pytest.mark.parametrize("mean", [0.0, 1e6, 0.3])
def test_silent_failures_alarm_on_mean_or_spread(factor, offset_sd, alarm, mean):
    rng = np.random.default_rng(7)
    sd = 0.1 if mean == 0.3 else 1.0
    reference = rng.normal(mean, sd, 5000)
    served = rng.normal(mean, sd, 2000)
    window = served * factor + offset_sd * sd if mean == 0 else mean + (served - mean) * factor + offset_sd * sd
    if factor == 0:
        window = np.full(2000, mean + 0.37 * sd)  # a constant output
    ref = Moments(len(reference), float(reference.mean()), float(reference.std(ddof=1)))
    win = Moments(len(window), float(window.mean()), float(window.std(ddof=1)))
    results = [checks.prediction_mean_check("mean", win, ref, 0.2, ALPHA),
               checks.prediction_spread_check("spread", win, ref, 2.0, ALPHA)]
    assert any(r.alarm for r in results) == alarm, [r.message for r in results]


def test_window_moments_read_the_window_sums():
    values = [1.0, 2.0, 3.0, 4.0]
    moments = checks.window_moments(traffic(4, predictions=values))
    assert moments == Moments(4, 2.5, pytest.approx(math.sqrt(np.var(values, ddof=1))))
    assert checks.window_moments(traffic(4)) is None
