"""One monitoring interval: every check of the serving champion under one false-alarm budget, and its record.

The budget: `false_alarm_rate` is the probability that a healthy model raises any alarm in one interval.
It is split evenly over the checks (Bonferroni: the union of the checks' false alarms is at most the sum of
their rates, whatever their dependence), and a multi-feature drift check splits its share over the features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from airflow_mlprovider.monitoring import checks
from airflow_mlprovider.monitoring.checks import CheckResult, Moments
from airflow_mlprovider.monitoring.drift import Bins, drift_check
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.spec.model import schema_default

#: every check of an interval; the budget is split over all of them, made or not, so it never depends on data
CHECKS = ("error_rate_5xx", "error_rate_4xx", "p99_latency_ms", "requests", "prediction_mean",
          "prediction_spread", "prediction_distribution", "feature_drift")
#: the checks that need the served predictions and requests
PREDICTION_CHECKS = CHECKS[4:]


def _default(key: str) -> Any:
    return schema_default("monitor", key)


@dataclass(frozen=True)
class Thresholds:
    """What a healthy model may do without an alarm (docs/monitoring.md; defaults in the spec schema)."""

    false_alarm_rate: float = _default("false_alarm_rate")
    error_rate_ratio: float = _default("error_rate_ratio")
    latency_p99_ratio: float = _default("latency_p99_ratio")
    volume_drop: float = _default("volume_drop")
    prediction_shift: float = _default("prediction_shift")
    prediction_spread_ratio: float = _default("prediction_spread_ratio")
    drift_psi: float = _default("drift_psi")
    min_count: int = _default("min_count")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Thresholds:
        """The known keys of `doc` (e.g. the spec's `monitor:` section); others are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})

    @property
    def alpha(self) -> float:
        """Each check's false-alarm rate."""
        return self.false_alarm_rate / len(CHECKS)


@dataclass(frozen=True)
class Reference:
    """What evaluation recorded of the champion: its test-set predictions and feature bins."""

    prediction: Moments | None
    prediction_bins: Bins | None
    features: dict[str, Bins]

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Reference:
        p = doc.get("prediction") or {}
        moments = Moments(int(p["count"]), float(p["mean"]), float(p["sd"])) if "mean" in p else None
        return cls(moments, Bins.from_dict(p["bins"]) if p.get("bins") else None,
                   {name: Bins.from_dict(b) for name, b in (doc.get("features") or {}).items()})


def check_window(
    current: VariantCounts, baseline: VariantCounts, window_s: float, baseline_s: float,
    reference: Reference | None, thresholds: Thresholds, *,
    predictions: Sequence[float] | None = None, features: Mapping[str, Sequence[float]] | None = None,
    unobserved: str | None = None,
) -> list[CheckResult]:
    """Every check of one window. `predictions` / `features`: the window's values, where the metrics source
    captures them (else the distribution checks report no evidence). `unobserved`: why the source cannot see
    predictions at all (e.g. a SageMaker endpoint without data capture): the prediction checks say so."""
    t, alpha = thresholds, thresholds.alpha
    results = [
        checks.error_rate_check("error_rate_5xx", current, baseline, "errors_5xx", t.error_rate_ratio, alpha),
        checks.error_rate_check("error_rate_4xx", current, baseline, "errors_4xx", t.error_rate_ratio, alpha),
        checks.latency_check("p99_latency_ms", current, baseline, t.latency_p99_ratio, alpha, t.min_count),
        checks.volume_check("requests", current.requests, baseline.requests, window_s, baseline_s, t.volume_drop,
                            alpha),
    ]
    if unobserved:
        return results + [CheckResult(name, None, None, False, f"{name}: not checked: {unobserved}")
                          for name in PREDICTION_CHECKS]
    moments = checks.window_moments(current)
    if reference is None or reference.prediction is None:
        results += [checks.CheckResult(name, None, None, False, f"{name}: no evaluation reference recorded")
                    for name in ("prediction_mean", "prediction_spread")]
    elif moments is not None and moments.count < t.min_count:
        results += [checks.CheckResult(name, None, None, False,
                                       f"{name}: {moments.count} predictions, fewer than {t.min_count}")
                    for name in ("prediction_mean", "prediction_spread")]
    else:
        results += [
            checks.prediction_mean_check("prediction_mean", moments, reference.prediction, t.prediction_shift, alpha),
            checks.prediction_spread_check("prediction_spread", moments, reference.prediction,
                                           t.prediction_spread_ratio, alpha),
        ]
    results.append(_distribution(reference, predictions, t, alpha))
    results.append(_feature_drift(reference, features, t, alpha))
    return results


def _distribution(reference: Reference | None, predictions: Sequence[float] | None, t: Thresholds,
                  alpha: float) -> CheckResult:
    name = "prediction_distribution"
    if reference is None or reference.prediction_bins is None:
        return CheckResult(name, None, None, False, f"{name}: no reference bins recorded")
    if predictions is None:
        return CheckResult(name, None, None, False, f"{name}: the metrics source captures no predictions")
    return drift_check(name, reference.prediction_bins, predictions, t.drift_psi, alpha, t.min_count)


def _feature_drift(reference: Reference | None, features: Mapping[str, Sequence[float]] | None, t: Thresholds,
                   alpha: float) -> CheckResult:
    """The worst feature's PSI; the check's budget is split over the features compared."""
    name = "feature_drift"
    watched = sorted(set(reference.features) & set(features)) if reference and features else []
    if not watched:
        return CheckResult(name, None, None, False, f"{name}: no captured features with reference bins")
    per_feature = [drift_check(f"{name}[{f}]", reference.features[f], features[f], t.drift_psi,
                               alpha / len(watched), t.min_count) for f in watched]
    made = [r for r in per_feature if r.value is not None]
    if not made:
        return CheckResult(name, None, None, False, f"{name}: fewer than {t.min_count} captured values per feature")
    worst = max(made, key=lambda r: r.value / r.limit)
    drifted = [r for r in made if r.alarm]
    message = (f"{name}: {len(drifted)} of {len(made)} features drifted; " + "; ".join(r.message for r in drifted)
               if drifted else f"{name}: {len(made)} features within limits; worst {worst.message}")
    return CheckResult(name, worst.value, worst.limit, bool(drifted), message)


def record(model: str, champion: str, checked_at: str, window_start: str, window_end: str,
           results: Sequence[CheckResult], series: Mapping[str, list[list[Any]]]) -> dict[str, Any]:
    """The monitoring record (COMMON contract: `monitoring/<YYYYmmddTHHMMSSZ>.json` under the model root)."""
    alarms = [r for r in results if r.alarm]
    return {
        "model": model,
        "checked_at": checked_at,
        "window_start": window_start,
        "window_end": window_end,
        "champion": champion,
        "status": "alarm" if alarms else "ok",
        "alarms": [{"check": r.check, "message": r.message} for r in alarms],
        # checks without evidence this interval (or with an infinite figure) have no figure
        "figures": {r.check: {"value": float(r.value), "limit": _json_number(r.limit)}
                    for r in results if _json_number(r.value) is not None},
        "series": {key: list(points) for key, points in series.items()},
    }


def _json_number(value: float | None) -> float | None:
    """JSON has no infinity or NaN: those become None (the message keeps the words)."""
    return None if value is None or not math.isfinite(value) else float(value)
