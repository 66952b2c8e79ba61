"""Guardrails beyond error rates: latency and the predictions themselves (a model can answer 200 and be wrong)."""

from __future__ import annotations

import math

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.policy import RolloutPolicy


def guardrail_breach(policy: RolloutPolicy, champion: VariantCounts, candidate: VariantCounts) -> str | None:
    """Why the candidate breaks a guardrail in this window, or None. Judged only when both variants served
    min_requests, so a handful of slow or odd requests never decides anything."""
    if min(champion.requests, candidate.requests) < policy.min_requests:
        return None
    if policy.latency_p99_ratio is not None:
        c, b = candidate.latency_p99_ms, champion.latency_p99_ms
        if _finite(c) and _finite(b) and b > 0 and c / b > policy.latency_p99_ratio:
            return (f"candidate p99 latency {c:,.0f} ms vs champion {b:,.0f} ms: ratio {c / b:.2f} > "
                    f"{policy.latency_p99_ratio:g} allowed")
    if policy.prediction_shift is not None:
        c, b = candidate.prediction_mean, champion.prediction_mean
        if _finite(c) and _finite(b):
            # Relative to the champion's mean; absolute when that mean is 0 (nothing to scale by).
            shift = abs(c - b) / abs(b) if b != 0 else abs(c - b)
            if shift > policy.prediction_shift:
                return (f"candidate mean prediction {c:.4g} vs champion {b:.4g}: shift {shift:.1%} > "
                        f"{policy.prediction_shift:.1%} allowed")
    return None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
