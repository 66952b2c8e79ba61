"""Checks of one serving window against a baseline, each a one-sided test at its own false-alarm rate `alpha`.

Every check is scale-free and conditional where it can be, so its false-alarm rate holds at any traffic rate:

- error rates (5xx, 4xx): the window's errors among all errors of window + baseline are binomial with the
  window's share of the requests, inflated by the tolerated `ratio` (conditioning removes the unknown rate);
- latency: requests above the baseline's p99 vs the window's requests above `ratio` x that p99, the same
  conditional test on the histograms' exceedances (rollout.guardrails.latency_exceedances);
- volume: the window's request count against a Poisson with the baseline's rate x `drop` (the lowest
  volume still tolerated), one-sided low;
- prediction mean: the shift of the mean in the reference's standard deviations, alarmed when it is
  significantly above `shift` (so a mean of 0, of 10^6 or a probability give the same test);
- prediction spread: the ratio of standard deviations outside [1/ratio, ratio] by an F test (scale x10,
  x0.1 and constant output change the spread even when the mean is 0).

Each result states the figure, the limit it was compared with (in the figure's units) and a sentence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.guardrails import latency_exceedances, prediction_moments


@dataclass(frozen=True)
class CheckResult:
    check: str
    value: float | None  # None: no evidence in this window (the check could not be made)
    limit: float | None
    alarm: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quiet(check: str, message: str) -> CheckResult:
    return CheckResult(check, None, None, False, message)


def conditional_excess(current: int, current_trials: int, reference: int, reference_trials: int,
                       ratio: float, alpha: float) -> int | None:
    """The most events the current window may have before the alarm, given both windows' trials and the
    events of both: under "current rate <= ratio x reference rate" the current window's share of the events
    is at most Binomial(events, p) with p = ratio n_c / (ratio n_c + n_b). None when there are no events."""
    from scipy.stats import binom

    events = current + reference
    if events == 0:
        return None
    p = ratio * current_trials / (ratio * current_trials + reference_trials)
    return int(binom.isf(alpha, events, p))  # P(X > k) <= alpha


def error_rate_check(check: str, current: VariantCounts, baseline: VariantCounts, field: str,
                     ratio: float, alpha: float) -> CheckResult:
    """`field` ("errors_5xx" or "errors_4xx") of the window against the baseline's rate x `ratio`."""
    n_c, n_b = current.requests, baseline.requests
    if n_c == 0 or n_b == 0:
        return _quiet(check, f"{check}: no {'requests' if n_c == 0 else 'baseline requests'} to compare")
    e_c, e_b = getattr(current, field), getattr(baseline, field)
    rate, base = e_c / n_c, e_b / n_b
    most = conditional_excess(e_c, n_c, e_b, n_b, ratio, alpha)
    if most is None:
        return CheckResult(check, 0.0, None, False, f"{check}: no errors in the window or the baseline")
    alarm = e_c > most
    message = (f"{check}: {rate:.3%} of {n_c:,} requests vs baseline {base:.3%} of {n_b:,}; alarm above "
               f"{most / n_c:.3%} ({ratio:g} x baseline, false-alarm rate {alpha:.1e})")
    return CheckResult(check, rate, most / n_c, alarm, message)


def latency_check(check: str, current: VariantCounts, baseline: VariantCounts, ratio: float, alpha: float,
                  min_count: int) -> CheckResult:
    """p99 latency of the window against `ratio` x the baseline's, tested on the latency histograms.

    A source without histograms (CloudWatch reports a p99 only) gets the plain comparison of p99s."""
    found = latency_exceedances(ratio, baseline, current, min_count)
    if found is None:
        p_c, p_b = current.latency_p99_ms, baseline.latency_p99_ms
        if p_c is None or p_b is None or current.requests < min_count:
            return _quiet(check, f"{check}: fewer than {min_count} latencies in the window or the baseline")
        limit = ratio * p_b
        return CheckResult(check, p_c, limit, p_c > limit,
                           f"{check}: {p_c:,.1f} ms vs limit {limit:,.1f} ms ({ratio:g} x baseline {p_b:,.1f} ms)")
    most = conditional_excess(found.current_exceedances, found.current_requests,
                              found.reference_exceedances, found.reference_requests, 1.0, alpha)
    alarm = most is not None and found.current_exceedances > most
    p99 = current.latency_p99_ms if current.latency_p99_ms is not None else math.nan
    share = found.current_exceedances / found.current_requests
    message = (f"{check}: {p99:,.1f} ms; {share:.2%} of {found.current_requests:,} requests above {ratio:g} x the "
               f"baseline's p99 ({found.threshold_ms:,.1f} ms), alarm above "
               f"{(most or 0) / found.current_requests:.2%}")
    return CheckResult(check, p99, ratio * found.threshold_ms, alarm, message)


def volume_check(check: str, current_requests: int, baseline_requests: int, window_s: float, baseline_s: float,
                 drop: float, alpha: float) -> CheckResult:
    """Too few requests: the window's count against Poisson(baseline rate x window x `drop`), one-sided."""
    from scipy.stats import poisson

    if baseline_requests == 0:
        return _quiet(check, f"{check}: no baseline traffic to compare with")
    tolerated = baseline_requests * window_s / baseline_s * drop
    # the alarm sounds at or below `least`: the largest count whose lower tail is within alpha (-1: never)
    least = int(poisson.ppf(alpha, tolerated))
    if poisson.cdf(least, tolerated) > alpha:
        least -= 1
    alarm = current_requests <= least
    expected = tolerated / drop
    message = (f"{check}: {current_requests:,} requests vs {expected:,.1f} expected from the baseline; alarm at "
               f"or below {max(least, -1):,} ({drop:g} x expected, false-alarm rate {alpha:.1e})"
               + ("" if least >= 0 else "; too little baseline traffic to tell an outage in one window"))
    return CheckResult(check, float(current_requests), float(least), alarm, message)


@dataclass(frozen=True)
class Moments:
    count: int
    mean: float
    sd: float


def window_moments(counts: VariantCounts) -> Moments | None:
    """The window's prediction count, mean and standard deviation (None without two finite predictions)."""
    found = prediction_moments(counts)
    return None if found is None else Moments(found[0], found[1], math.sqrt(found[2]))


def prediction_mean_check(check: str, current: Moments | None, reference: Moments, shift: float,
                          alpha: float) -> CheckResult:
    """The mean's shift in reference standard deviations, alarmed when significantly beyond `shift`."""
    from scipy.stats import norm

    if current is None or current.count < 2:
        return _quiet(check, f"{check}: fewer than 2 predictions in the window")
    scale = reference.sd if reference.sd > 0 else current.sd
    diff = current.mean - reference.mean
    if scale == 0:  # both constant: any difference is a change of the output
        alarm = abs(diff) > 1e-9 * max(1.0, abs(reference.mean))
        return CheckResult(check, math.copysign(math.inf, diff) if alarm else 0.0, shift, alarm,
                           f"{check}: constant predictions {current.mean:.6g} vs reference {reference.mean:.6g}")
    effect = diff / scale
    standard_error = math.sqrt(current.sd**2 / current.count + reference.sd**2 / max(reference.count, 1)) / scale
    limit = shift + norm.isf(alpha / 2) * standard_error
    message = (f"{check}: mean {current.mean:.6g} over {current.count:,} predictions vs reference "
               f"{reference.mean:.6g} (sd {reference.sd:.4g}): shift {effect:+.3f} sd, alarm beyond {limit:.3f} sd")
    return CheckResult(check, effect, limit, abs(effect) > limit, message)


def prediction_spread_check(check: str, current: Moments | None, reference: Moments, ratio: float,
                            alpha: float) -> CheckResult:
    """The ratio of standard deviations (window / reference), alarmed outside [1/ratio, ratio] by an F test."""
    from scipy.stats import f as f_dist

    if current is None or current.count < 2 or reference.count < 2:
        return _quiet(check, f"{check}: fewer than 2 predictions in the window")
    if reference.sd == 0:
        alarm = current.sd > 0
        return CheckResult(check, math.inf if alarm else 1.0, ratio, alarm,
                           f"{check}: reference predictions are constant; window sd {current.sd:.4g}")
    observed = current.sd / reference.sd
    df = (current.count - 1, reference.count - 1)
    high = ratio * math.sqrt(f_dist.isf(alpha / 2, *df))
    low = math.sqrt(f_dist.ppf(alpha / 2, *df)) / ratio
    alarm = observed > high or observed < low
    message = (f"{check}: sd {current.sd:.4g} vs reference {reference.sd:.4g} (ratio {observed:.3g}), "
               f"alarm outside [{low:.3g}, {high:.3g}]")
    return CheckResult(check, observed, high if observed >= 1 else low, alarm, message)
