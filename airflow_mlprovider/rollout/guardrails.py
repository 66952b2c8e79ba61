"""Guardrails beyond error rates, as sequential tests on the same window as the champion, free of scale.

A model can answer 200 and be wrong (prediction shift) or slow (latency). Each guardrail gives, for one
window, the log-likelihood ratio of each of its alternatives (the rollback side, mixed like the error
classes' alternatives) and of its acceptance alternative (the "not worse" side); decide() sums them over
the windows of the rollout exactly as it does for the error classes.

- prediction: the difference of mean predictions in units of their pooled standard deviation (Welch-type
  z with the window's own variances), tested for a shift of `prediction_shift` standard deviations either
  way. The predictions' scale and location never enter: a mean of 0, a mean of 10^6 with a spread of 1,
  class probabilities all give the same test.
- latency: exceedances of the champion's p99. Under the limit (candidate latencies at most
  `latency_p99_ratio` x the champion's), a candidate request exceeds ratio x the champion's p99 no more
  often than a champion request exceeds its p99, so the candidate's share of those exceedances is a
  coin-flip test on the window's request shares, exactly like the error classes: binomial, scale-free,
  no ratio of noisy quantiles. Thresholds are bucket bounds of the histogram, rounded so that
  quantisation can only make the test more lenient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from airflow_mlprovider.rollout import sequential
from airflow_mlprovider.rollout.counts import VariantCounts

# (ratio of the candidate's exceedance rate to the champion's, prior weight). A candidate 2x slower than the
# limit exceeds several times more often (5x-20x for common latency shapes), so these catch it in a few hundred
# requests; the first is also the acceptance alternative.
LATENCY_ALTERNATIVES: tuple[tuple[float, float], ...] = ((2.0, 0.5), (6.0, 0.5))
LATENCY_QUANTILE = 0.99
# The z statistic is capped so that two constant but different predictions give a large, finite ratio.
_MAX_Z = 50.0


@dataclass(frozen=True)
class WindowEvidence:
    """One window's evidence of one guardrail: rollback log-LRs per alternative, the acceptance log-LR,
    and a sentence with the numbers."""

    rollback: list[float]
    accept: float
    summary: str


def prediction_evidence(
    shift: float, champion: VariantCounts, candidate: VariantCounts, min_count: int
) -> WindowEvidence | None:
    """The prediction test on one window; None until both variants reported min_count predictions."""
    moments = [prediction_moments(v) for v in (candidate, champion)]
    if any(m is None or m[0] < max(min_count, 2) for m in moments):
        return None
    (n_c, mean_c, var_c), (n_b, mean_b, var_b) = moments
    pooled_sd = math.sqrt(((n_c - 1) * var_c + (n_b - 1) * var_b) / (n_c + n_b - 2))
    se = math.sqrt(var_c / n_c + var_b / n_b)
    diff = mean_c - mean_b
    if se > 0:
        # Welch's standard error; in units of the pooled standard deviation the information is n_c n_b/(n_c+n_b).
        z = max(-_MAX_Z, min(_MAX_Z, diff / se))
    else:
        z = 0.0 if diff == 0 else math.copysign(_MAX_Z, diff)
    information = n_c * n_b / (n_c + n_b)
    # With equal variances z = d * sqrt(information) for a shift of d pooled standard deviations.
    d = z / math.sqrt(information)
    rollback = [sequential.gaussian_shift_llr(information, sign * d, shift) for sign in (1, -1)]
    effect = diff / pooled_sd if pooled_sd > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    summary = (f"candidate mean prediction {mean_c:.4g} vs champion {mean_b:.4g} over {n_c:,} vs {n_b:,} "
               f"predictions: shift {effect:+.2f} standard deviations (guardrail {shift:g})")
    return WindowEvidence(rollback, max(rollback), summary)


def latency_evidence(
    limit: float, champion: VariantCounts, candidate: VariantCounts, min_count: int
) -> WindowEvidence | None:
    """The latency test on one window; None until both variants reported min_count latencies and the
    champion's p99 is a bucket bound with buckets above it to compare."""
    found = latency_exceedances(limit, champion, candidate, min_count)
    if found is None:
        return None
    rollback = [sequential.conditional_llr(found.current_requests, found.current_exceedances,
                                           found.reference_requests, found.reference_exceedances, r)
                for r, _ in LATENCY_ALTERNATIVES]
    n_c, n_b = found.current_requests, found.reference_requests
    summary = (f"candidate requests above {limit:g} x the champion's p99 ({found.threshold_ms:,.1f} ms): "
               f"{found.current_exceedances / n_c:.2%} vs champion above its p99: "
               f"{found.reference_exceedances / n_b:.2%}, over {n_c:,} vs {n_b:,} requests (limit {limit:g})")
    return WindowEvidence(rollback, rollback[0], summary)


@dataclass(frozen=True)
class Exceedances:
    """Requests above the reference's p99 (`threshold_ms`) and, for the current traffic, above `limit` x it:
    under "current latencies at most limit x the reference's", the current exceedance rate is at most the
    reference's (a conditional binomial test; also the monitor's latency check)."""

    threshold_ms: float
    reference_requests: int
    reference_exceedances: int
    current_requests: int
    current_exceedances: int


def latency_exceedances(
    limit: float, reference: VariantCounts, current: VariantCounts, min_count: int
) -> Exceedances | None:
    """The exceedance counts of two latency histograms; None until both hold min_count latencies."""
    cand, champ = current.latency_buckets, reference.latency_buckets
    n_c, n_b = sum(c for _, c in cand), sum(c for _, c in champ)
    if min(n_c, n_b) < max(min_count, 1):
        return None
    rank, seen, threshold = math.ceil(LATENCY_QUANTILE * n_b), 0, None
    for bound, count in champ:
        seen += count
        if seen >= rank:
            threshold = bound
            break
    # The candidate's threshold: the smallest bound of its histogram at or above limit x the champion's p99,
    # so that every candidate request counted is surely above limit x threshold.
    cand_bounds = [b for b, _ in cand if b >= limit * threshold * (1 - 1e-9)]
    cand_threshold = cand_bounds[0] if cand_bounds else math.inf
    e_c = sum(c for b, c in cand if b > cand_threshold)
    e_b = sum(c for b, c in champ if b > threshold)
    return Exceedances(threshold, n_b, e_b, n_c, e_c)


def prediction_moments(counts: VariantCounts) -> tuple[int, float, float] | None:
    """(count, mean, variance) of the predictions, or None if they are missing or not finite."""
    n, total, squares = counts.prediction_count, counts.prediction_sum, counts.prediction_sum_sq
    try:
        n = int(n)
    except (TypeError, ValueError, OverflowError):
        return None
    if n < 2 or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (total, squares)):
        return None
    mean = total / n
    variance = max(0.0, (squares - total * mean) / (n - 1))
    return n, mean, variance
