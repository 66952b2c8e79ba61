"""Distribution drift over bins fixed from a reference's quantiles: the population stability index (PSI).

The bins are the reference's quantiles (deciles by default; ties merge bins, so class probabilities or
integer features get fewer bins), fixed once at evaluation time. A window's values are counted in the same
bins and compared with the reference's fractions:

    PSI = sum over bins (w - r) ln(w / r)      (w, r: window and reference fractions, half a count added)

With no drift, n_w n_r / (n_w + n_r) x PSI is approximately chi-square with (bins - 1) degrees of freedom,
so the alarm limit is max(`tolerance`, that quantile at 1 - alpha scaled back): a small sample cannot alarm
on noise, a large one alarms only on a drift bigger than the tolerated PSI (0.2 is the conventional
"significant shift").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_mlprovider.monitoring.checks import CheckResult

DEFAULT_BINS = 10


@dataclass(frozen=True)
class Bins:
    """Inner edges (a value v falls in bin i when edges[i-1] <= v < edges[i]), the reference's fraction
    per bin and how many reference values they were counted from."""

    edges: tuple[float, ...]
    fractions: tuple[float, ...]
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "fractions": list(self.fractions), "count": self.count}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Bins:
        return cls(tuple(map(float, doc["edges"])), tuple(map(float, doc["fractions"])), int(doc["count"]))


def finite(values: Sequence[float]) -> Any:
    """The finite values of `values` as a float array."""
    import numpy as np

    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def bin_counts(edges: Sequence[float], values: Sequence[float]) -> Any:
    import numpy as np

    return np.bincount(np.searchsorted(np.asarray(edges, dtype=float), finite(values), side="right"),
                       minlength=len(edges) + 1)


def reference_bins(values: Sequence[float], bins: int = DEFAULT_BINS) -> Bins | None:
    """Bins at the quantiles of `values` (None without two distinct finite values)."""
    import numpy as np

    array = finite(values)
    if array.size < 2 or array.min() == array.max():
        return None
    quantiles = np.quantile(array, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf")  # data values
    edges = tuple(float(e) for e in np.unique(quantiles) if e > array.min())  # the lowest bin is never empty
    counts = bin_counts(edges, array)
    return Bins(edges, tuple(float(c) / array.size for c in counts), int(array.size))


def psi(bins: Bins, values: Sequence[float]) -> tuple[float, int]:
    """(PSI of `values` against the reference bins, how many values were counted)."""
    counts = bin_counts(bins.edges, values)
    n = int(counts.sum())
    if n == 0:
        return math.nan, 0
    k = len(counts)
    total = 0.0
    for count, reference in zip(counts, bins.fractions):
        w = (count + 0.5) / (n + 0.5 * k)
        r = (reference * bins.count + 0.5) / (bins.count + 0.5 * k)
        total += (w - r) * math.log(w / r)
    return total, n


def psi_limit(bins: Bins, count: int, tolerance: float, alpha: float) -> float:
    """The PSI above which a window of `count` values alarms at false-alarm rate `alpha`."""
    from scipy.stats import chi2

    information = count * bins.count / (count + bins.count)
    return max(tolerance, float(chi2.isf(alpha, len(bins.fractions) - 1)) / information)


def drift_check(check: str, bins: Bins, values: Sequence[float], tolerance: float, alpha: float,
                min_count: int = 2) -> CheckResult:
    """PSI of a window's values against the reference bins."""
    value, n = psi(bins, values)
    if n < min_count:
        return CheckResult(check, None, None, False, f"{check}: {n} values in the window, fewer than {min_count}")
    limit = psi_limit(bins, n, tolerance, alpha)
    return CheckResult(check, value, limit, value > limit,
                       f"{check}: PSI {value:.3f} over {n:,} values and {len(bins.fractions)} reference bins, "
                       f"alarm above {limit:.3f}")
