"""Monitoring benchmark: the monitor's checks (monitoring.monitor.check_window, spec defaults) on simulated
hourly serving windows. Prints false alarms per week of healthy traffic and how often each silent failure is
caught in the first interval it fills.

    python bench/monitor_sim.py [--quick] [--trials N] [--seed 1]

Traffic families (every combination): rates 0.1, 1, 10, 100 req/s, diurnal (+-70 % over 24 h); predictions
of four shapes: regression around 0 (N(0, 1)), a large mean against its spread (N(10^4, 10)), class
probabilities (Beta(2, 5)), skewed (lognormal, sigma 1). Errors: 0.1 % 5xx, 1 % 4xx; latencies lognormal
around 20 ms. The evaluation reference is 5,000 predictions of the healthy distribution (a test set).
Distribution and feature-drift checks get the first prediction and feature value of each second (what the
local server's window API samples; CloudWatch has no values, so these checks make no figure on SageMaker).

Each healthy family runs one week: 168 hourly checks, each against the 6 hours before it. Each failure is
injected for one whole interval after 6 healthy hours, `--trials` times per family: predictions x10, x0.1,
shifted by +0.5 sd, constant; 5xx at 5 %; no traffic; a feature shifted by 0.5 and 1 sd.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from airflow_mlprovider.monitoring.checks import Moments
from airflow_mlprovider.monitoring.drift import reference_bins
from airflow_mlprovider.monitoring.monitor import CHECKS, Reference, Thresholds, check_window
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.histogram import BUCKETS, upper_bound_ms

HOUR = 3600.0
BASELINE_HOURS = 6
WEEK = 168
CAPTURE_PER_HOUR = 3600  # one captured value per second at most
RATES = (0.1, 1.0, 10.0, 100.0)
SHAPES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "mean 0": lambda rng, n: rng.normal(0.0, 1.0, n),
    "mean 1e4, sd 10": lambda rng, n: rng.normal(1e4, 10.0, n),
    "probability": lambda rng, n: rng.beta(2.0, 5.0, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
}
FAILURES = ("x10", "x0.1", "shift 0.5 sd", "constant", "5xx 5 %", "traffic 0", "feature +0.5 sd", "feature +1 sd")
LATENCY_BOUNDS = np.array([upper_bound_ms(i) for i in range(BUCKETS)])


@dataclass(frozen=True)
class Family:
    rate: float
    shape: str

    @property
    def name(self) -> str:
        return f"{self.rate:g} req/s, {self.shape}"


@dataclass
class Hour:
    counts: VariantCounts
    predictions: np.ndarray  # captured
    feature: np.ndarray  # captured


def _latency_buckets(rng: np.random.Generator, n: int, median_ms: float = 20.0, sigma: float = 0.4) -> dict:
    """n lognormal latencies counted in the server's histogram buckets (multinomial over the bucket bounds)."""
    from scipy.stats import lognorm

    cdf = lognorm.cdf(LATENCY_BOUNDS, sigma, scale=median_ms)
    cdf[-1] = 1.0
    counts = rng.multinomial(n, np.diff(cdf, prepend=0.0))
    return {float(b): int(c) for b, c in zip(LATENCY_BOUNDS, counts) if c}


def _p99(buckets: dict) -> float | None:
    total, seen = sum(buckets.values()), 0
    for bound in sorted(buckets):
        seen += buckets[bound]
        if seen >= 0.99 * total:
            return bound
    return None


def simulate_hour(rng: np.random.Generator, family: Family, hour: int, failure: str | None,
                  reference: Moments) -> Hour:
    diurnal = 1.0 + 0.7 * np.sin(2 * np.pi * (hour + 0.5) / 24)
    n = 0 if failure == "traffic 0" else int(rng.poisson(family.rate * HOUR * diurnal))
    e5 = int(rng.binomial(n, 0.05 if failure == "5xx 5 %" else 0.001))
    e4 = int(rng.binomial(n - e5, 0.01))
    predictions = SHAPES[family.shape](rng, n - e5 - e4)
    if failure == "x10":
        predictions = predictions * 10
    elif failure == "x0.1":
        predictions = predictions * 0.1
    elif failure == "shift 0.5 sd":
        predictions = predictions + 0.5 * reference.sd
    elif failure == "constant":
        predictions = np.full(predictions.size, reference.mean + 0.3 * reference.sd)
    feature = rng.normal({"feature +0.5 sd": 0.5, "feature +1 sd": 1.0}.get(failure, 0.0), 1.0,
                         min(n, CAPTURE_PER_HOUR))
    buckets = _latency_buckets(rng, n - e4)  # a 400 never reaches the model
    counts = VariantCounts(
        requests=n, errors_5xx=e5, errors_4xx=e4, latency_buckets=buckets, latency_p99_ms=_p99(buckets),
        prediction_count=predictions.size, prediction_sum=float(predictions.sum()),
        prediction_sum_sq=float((predictions**2).sum()),
    )
    return Hour(counts, predictions[:CAPTURE_PER_HOUR], feature)


def merged(hours: list[Hour]) -> VariantCounts:
    buckets: dict = {}
    for h in hours:
        for bound, count in h.counts.latency_buckets:
            buckets[bound] = buckets.get(bound, 0) + count
    total = sum(h.counts.requests for h in hours)
    return VariantCounts(
        requests=total, errors_5xx=sum(h.counts.errors_5xx for h in hours),
        errors_4xx=sum(h.counts.errors_4xx for h in hours), latency_buckets=buckets, latency_p99_ms=_p99(buckets),
        prediction_count=sum(h.counts.prediction_count for h in hours),
        prediction_sum=sum(h.counts.prediction_sum for h in hours),
        prediction_sum_sq=sum(h.counts.prediction_sum_sq for h in hours),
    )


def reference_for(rng: np.random.Generator, family: Family) -> Reference:
    test_set = SHAPES[family.shape](rng, 5000)
    moments = Moments(test_set.size, float(test_set.mean()), float(test_set.std(ddof=1)))
    return Reference(moments, reference_bins(test_set), {"x": reference_bins(rng.normal(0.0, 1.0, 5000))})


def check(hours: list[Hour], reference: Reference, thresholds: Thresholds) -> list:
    current, baseline = hours[-1], hours[-1 - BASELINE_HOURS:-1]
    return check_window(current.counts, merged(baseline), HOUR, BASELINE_HOURS * HOUR, reference, thresholds,
                        predictions=current.predictions, features={"x": current.feature})


def healthy_week(rng: np.random.Generator, family: Family, thresholds: Thresholds) -> dict[str, int]:
    """False alarms per check over WEEK hourly intervals."""
    reference = reference_for(rng, family)
    hours = [simulate_hour(rng, family, h, None, reference.prediction) for h in range(BASELINE_HOURS)]
    alarms = dict.fromkeys(CHECKS, 0)
    for h in range(BASELINE_HOURS, BASELINE_HOURS + WEEK):
        hours = [*hours[-BASELINE_HOURS:], simulate_hour(rng, family, h, None, reference.prediction)]
        for result in check(hours, reference, thresholds):
            alarms[result.check] += result.alarm
    return alarms


def detection(rng: np.random.Generator, family: Family, failure: str, trials: int, thresholds: Thresholds) -> float:
    """Share of trials in which the first interval full of `failure` alarms."""
    caught = 0
    for _ in range(trials):
        reference = reference_for(rng, family)
        start = int(rng.integers(0, 24))
        hours = [simulate_hour(rng, family, start + h, None, reference.prediction) for h in range(BASELINE_HOURS)]
        hours.append(simulate_hour(rng, family, start + BASELINE_HOURS, failure, reference.prediction))
        caught += any(r.alarm for r in check(hours, reference, thresholds))
    return caught / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="rates up to 10 req/s, 5 trials")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    thresholds = Thresholds()
    rates = RATES[:-1] if args.quick else RATES
    trials = 5 if args.quick else args.trials
    families = [Family(rate, shape) for rate in rates for shape in SHAPES]
    started = time.monotonic()
    print(f"false-alarm budget {thresholds.false_alarm_rate:g} per interval over {len(CHECKS)} checks "
          f"({thresholds.alpha:.2g} each): at most {thresholds.false_alarm_rate * WEEK:.3f} false alarms per "
          f"model-week expected")
    header = f"{'family':<34} {'false alarms/week':>17} " + " ".join(f"{f:>15}" for f in FAILURES)
    print(header)
    print("-" * len(header))
    total_alarms, total_weeks = 0, 0
    worst: dict[str, float] = dict.fromkeys(FAILURES, 1.0)
    for family in families:
        alarms = healthy_week(rng, family, thresholds)
        total_alarms, total_weeks = total_alarms + sum(alarms.values()), total_weeks + 1
        caught = {f: detection(rng, family, f, trials, thresholds) for f in FAILURES}
        for f, share in caught.items():
            worst[f] = min(worst[f], share)
        noisy = ", ".join(f"{k} {v}" for k, v in alarms.items() if v)
        print(f"{family.name:<34} {sum(alarms.values()):>17} " + " ".join(f"{caught[f]:>15.0%}" for f in FAILURES)
              + (f"  ({noisy})" if noisy else ""))
    print("-" * len(header))
    print(f"healthy: {total_alarms} false alarms in {total_weeks} model-weeks ({total_weeks * WEEK} intervals); "
          f"goal 0 per week (budget {thresholds.false_alarm_rate * WEEK:.3f}/week)")
    print("caught in the first full interval, lowest share over families: "
          + ", ".join(f"{f} {share:.0%}" for f, share in worst.items()))
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
