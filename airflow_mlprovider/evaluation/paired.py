"""How sure is "the candidate is better"? A confidence bound on the metric difference, rows paired.

Candidate and champion are scored on the same test rows, so the comparison is paired: the per-row
differences cancel the rows' shared difficulty and the bound is far tighter than comparing two
independent estimates. The method depends on the metric:

| metric                     | method                                                                  |
| -------------------------- | ----------------------------------------------------------------------- |
| mae, mape, accuracy, log_loss | mean of per-row loss differences, normal interval (CLT)              |
| rmse                       | paired squared-error differences over rmse_c + rmse_h (delta method)   |
| r2                         | mean squared-error difference over the test set's variance (CLT)        |
| roc_auc (binary scores)    | DeLong's paired test (structural components from mid-ranks)            |
| roc_auc (class probabilities) | DeLong per class, macro one-vs-rest, influence summed per row        |
| f1, f1_macro, f1_weighted  | paired bootstrap over the (truth, candidate, champion) confusion cells  |
| anything else              | paired bootstrap over rows                                              |

[low, high] is the two-sided interval at `confidence`: for a candidate no better than the champion,
`low > 0` happens with probability at most (1 - confidence) / 2, so a rule that promotes only when `low`
clears the margin promotes an equal candidate at most 2.5 % of the time at confidence 0.95.
numpy (and scipy for ranks) are imported inside the functions: nothing heavy at DAG-parse time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

#: bootstrap resamples: the bound's Monte Carlo error is ~1 % of the gain's spread at 2,000
BOOTSTRAP_RESAMPLES = 2000
#: resamples of the generic row bootstrap, which re-computes a (possibly slow) metric on every resample
ROW_BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class PairedComparison:
    """Candidate vs champion on the same rows; `gain` > 0 means the candidate is better."""

    metric: str
    rows: int
    candidate: float
    champion: float
    gain: float  # in metric units, positive = candidate better, whatever the metric's direction
    low: float  # the two-sided `confidence` interval of the true gain is [low, high]
    high: float
    confidence: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(self).items()}


def _z(confidence: float) -> float:
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def _normal(metric: str, n: int, cand: float, champ: float, gain: float, se: float, confidence: float, method: str):
    half = _z(confidence) * se
    return PairedComparison(metric, n, cand, champ, gain, gain - half, gain + half, confidence, method)


def _mean_difference(metric: str, loss_c, loss_h, confidence: float, scale: float = 1.0) -> PairedComparison:
    """Loss-per-row metrics (lower loss is better): gain = mean(champion loss - candidate loss) / scale."""
    import numpy as np

    d = (loss_h - loss_c) / scale
    n = len(d)
    se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return _normal(
        metric, n, float(np.mean(loss_c)), float(np.mean(loss_h)), float(np.mean(d)), se, confidence,
        "paired per-row differences, normal interval",
    )


def _rmse(y, c, h, confidence: float) -> PairedComparison:
    """rmse_h - rmse_c = (mse_h - mse_c) / (rmse_h + rmse_c): the paired mse difference's interval, scaled.

    (The delta method to first order, and still defined when a model is perfect: a zero rmse has no derivative.)
    """
    import numpy as np

    se_c, se_h = (y - c) ** 2, (y - h) ** 2
    n = len(y)
    rmse_c, rmse_h = math.sqrt(float(se_c.mean())), math.sqrt(float(se_h.mean()))
    scale = rmse_c + rmse_h
    d = se_h - se_c
    se = float(np.std(d, ddof=1)) / math.sqrt(n) / scale if scale > 0 else 0.0
    return _normal("rmse", n, rmse_c, rmse_h, rmse_h - rmse_c, se, confidence,
                   "paired squared-error differences over the rmse sum (delta method)")


def _r2(y, c, h, confidence: float) -> PairedComparison:
    import numpy as np

    variance = float(np.var(y))
    if variance == 0:
        raise ValueError("r2 is undefined on a test set whose labels are all equal")
    comparison = _mean_difference("r2", (y - c) ** 2, (y - h) ** 2, confidence, scale=variance)
    # r2 = 1 - mse / variance: the "losses" reported above are mse/variance; report r2 itself
    return PairedComparison(
        "r2", comparison.rows, 1 - comparison.candidate / variance, 1 - comparison.champion / variance,
        comparison.gain, comparison.low, comparison.high, confidence, comparison.method,
    )


def _delong_components(scores, positive):
    """DeLong's structural components: per positive, the share of negatives it outranks (v10); per negative,
    the share of positives above it (v01); ties count one half. mean(v10) == mean(v01) == the AUC."""
    from scipy.stats import rankdata

    m, n = int(positive.sum()), int((~positive).sum())
    all_ranks = rankdata(scores)
    v10 = (all_ranks[positive] - rankdata(scores[positive])) / n
    v01 = 1 - (all_ranks[~positive] - rankdata(scores[~positive])) / m
    return v10, v01


def _delong(y, c, h, confidence: float) -> PairedComparison:
    """DeLong, DeLong & Clarke-Pearson (1988): paired AUC difference with its variance from mid-ranks."""
    import numpy as np

    positive = y == np.unique(y)[-1]  # the greater label, as scikit-learn takes it (any sortable labels)
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("roc_auc needs both classes in the test set")

    v10_c, v01_c = _delong_components(c.astype(float), positive)
    v10_h, v01_h = _delong_components(h.astype(float), positive)
    auc_c, auc_h = float(v10_c.mean()), float(v10_h.mean())
    s10 = np.cov(np.vstack([v10_c, v10_h]), ddof=1) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01_c, v01_h]), ddof=1) if n > 1 else np.zeros((2, 2))
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ s10 @ contrast) / m + float(contrast @ s01 @ contrast) / n
    return _normal("roc_auc", m + n, auc_c, auc_h, auc_c - auc_h, math.sqrt(max(variance, 0.0)), confidence, "DeLong")


def _ovr_delong(y, c, h, confidence: float) -> PairedComparison:
    """Macro one-vs-rest AUC of per-class probabilities: DeLong's components per class, averaged per row.

    Each row moves every class's AUC (as a positive of its own class, a negative of the others); the variance
    of the macro gain is the sum over rows of the squared mean influence, which is DeLong's variance for one
    class and keeps the covariance between classes that share rows.
    """
    import numpy as np

    from airflow_mlprovider.evaluation.probabilities import probability_columns, scored_classes

    index_c, matrix_c = probability_columns(y, c)
    index_h, matrix_h = probability_columns(y, h)
    if not np.array_equal(index_c, index_h) or matrix_c.shape != matrix_h.shape:
        raise ValueError("candidate and champion answer different classes: their one-vs-rest AUCs do not pair")
    classes = scored_classes(index_c, matrix_c)
    if not classes:
        raise ValueError("roc_auc needs at least two classes in the test set")
    influence = np.zeros(len(y))
    auc_c = auc_h = 0.0
    for k in classes:
        positive = index_c == k
        m, n = int(positive.sum()), int((~positive).sum())
        v10_c, v01_c = _delong_components(matrix_c[:, k], positive)
        v10_h, v01_h = _delong_components(matrix_h[:, k], positive)
        auc_c, auc_h = auc_c + float(v10_c.mean()), auc_h + float(v10_h.mean())
        d10, d01 = v10_c - v10_h, v01_c - v01_h
        # sqrt(m (m - 1)): the sum of squares is then DeLong's unbiased variance for a single class
        influence[positive] += (d10 - d10.mean()) / math.sqrt(m * max(m - 1, 1))
        influence[~positive] += (d01 - d01.mean()) / math.sqrt(n * max(n - 1, 1))
    k = len(classes)
    se = math.sqrt(float(np.sum((influence / k) ** 2)))
    return _normal("roc_auc", len(y), auc_c / k, auc_h / k, (auc_c - auc_h) / k, se, confidence,
                   f"DeLong per class, macro one-vs-rest over {k} classes")


def _f1_from_confusion(confusion, average: str):
    """F1 per bootstrap draw from confusion matrices shaped (draws, classes, classes) [truth, predicted].

    average: "binary" (the greater label), "macro" (mean over the classes in the truth or the predictions)
    or "weighted" (weighted by the truth's count per class), as scikit-learn computes them.
    """
    import numpy as np

    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    predicted = confusion.sum(axis=1)
    actual = confusion.sum(axis=2)
    denominator = predicted + actual
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    if average == "binary":
        return f1[:, -1]
    if average == "weighted":
        return (f1 * actual).sum(axis=1) / np.maximum(actual.sum(axis=1), 1)
    present = denominator > 0  # a class only the other model predicts is not this model's class
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _f1(metric: str, y, c, h, confidence: float) -> PairedComparison:
    """Paired bootstrap on the joint (truth, candidate, champion) cells: exact resampling at any row count."""
    import numpy as np

    labels = np.unique(np.concatenate([y, c, h]))
    k = len(labels)
    average = {"f1_macro": "macro", "f1_weighted": "weighted"}.get(metric) or ("binary" if k <= 2 else "macro")
    cells = (np.searchsorted(labels, y) * k + np.searchsorted(labels, c)) * k + np.searchsorted(labels, h)
    counts = np.bincount(cells, minlength=k**3)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.vstack([counts[None, :], rng.multinomial(len(y), counts / counts.sum(), size=BOOTSTRAP_RESAMPLES)])
    joint = draws.reshape(-1, k, k, k)  # [draw, truth, candidate, champion]
    f1_c = _f1_from_confusion(joint.sum(axis=3), average)
    f1_h = _f1_from_confusion(joint.sum(axis=2), average)
    return _bootstrap_result(
        metric, len(y), f1_c[0], f1_h[0], f1_c[0] - f1_h[0], f1_c[1:] - f1_h[1:], confidence,
        "paired bootstrap over confusion cells",
    )


def _bootstrap_result(
    metric: str, n: int, cand: float, champ: float, gain: float, gains, confidence: float, method: str
) -> PairedComparison:
    """Percentile bounds of the resampled gains (positive = candidate better)."""
    import numpy as np

    low, high = np.quantile(gains, [(1 - confidence) / 2, (1 + confidence) / 2])
    return PairedComparison(
        metric, n, float(cand), float(champ), float(gain), float(low), float(high), confidence, method
    )


def _row_bootstrap(
    metric: str, score: Callable[[Sequence[Any], Sequence[Any]], float], direction: str, y, c, h, confidence: float
) -> PairedComparison:
    import numpy as np

    sign = 1.0 if direction == "maximize" else -1.0
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(y)
    gains = []
    for _ in range(ROW_BOOTSTRAP_RESAMPLES):
        rows = rng.integers(0, n, n)
        gains.append(sign * (score(y[rows], c[rows]) - score(y[rows], h[rows])))
    cand, champ = score(y, c), score(y, h)
    return _bootstrap_result(
        metric, n, cand, champ, sign * (cand - champ), np.asarray(gains), confidence, "paired bootstrap over rows"
    )


def _array(predictions: Sequence[Any]):
    """Predictions as an array: numbers 1-D, per-class lists 2-D, per-class objects a 1-D array of dicts."""
    import numpy as np

    if len(predictions) and isinstance(predictions[0], dict):
        array = np.empty(len(predictions), dtype=object)
        array[:] = list(predictions)
        return array
    return np.asarray(predictions)


def paired_comparison(
    metric: str,
    y_true: Sequence[Any],
    candidate: Sequence[Any],
    champion: Sequence[Any],
    *,
    direction: str,
    confidence: float,
    score: Callable[[Sequence[Any], Sequence[Any]], float] | None = None,
) -> PairedComparison:
    """The candidate's gain over the champion on the same rows, with a one-sided bound at `confidence`.

    `score` is the metric function, needed only for metrics without a closed form (custom ones): they are
    bootstrapped over rows. Probabilities for roc_auc and log_loss are one score a row (binary) or per-class
    lists / objects keyed by label (evaluation.probabilities).
    """
    import numpy as np

    from airflow_mlprovider.evaluation.probabilities import is_multiclass, log_loss_rows

    y, c, h = np.asarray(y_true), _array(candidate), _array(champion)
    if not (len(y) == len(c) == len(h)):
        raise ValueError(f"paired rows differ in length: truth {len(y)}, candidate {len(c)}, champion {len(h)}")
    if len(y) < 2:
        raise ValueError("a paired comparison needs at least 2 rows")
    if metric == "rmse":
        return _rmse(y.astype(float), c.astype(float), h.astype(float), confidence)
    if metric == "r2":
        return _r2(y.astype(float), c.astype(float), h.astype(float), confidence)
    if metric == "mae":
        y, c, h = y.astype(float), c.astype(float), h.astype(float)
        return _mean_difference(metric, np.abs(y - c), np.abs(y - h), confidence)
    if metric == "mape":
        y, c, h = y.astype(float), c.astype(float), h.astype(float)
        denominator = np.maximum(np.abs(y), np.finfo(float).eps)  # scikit-learn's guard against y = 0
        return _mean_difference(metric, np.abs(y - c) / denominator, np.abs(y - h) / denominator, confidence)
    if metric == "accuracy":
        # loss = 1 - correct, so gain = candidate accuracy - champion accuracy
        comparison = _mean_difference(metric, (y != c).astype(float), (y != h).astype(float), confidence)
        return PairedComparison(
            metric, comparison.rows, 1 - comparison.candidate, 1 - comparison.champion,
            comparison.gain, comparison.low, comparison.high, confidence, comparison.method,
        )
    if metric == "log_loss":
        return _mean_difference(metric, log_loss_rows(y, c), log_loss_rows(y, h), confidence)
    if metric == "roc_auc" and is_multiclass(c):
        return _ovr_delong(y, c, h, confidence)
    if metric == "roc_auc" and len(np.unique(y)) == 2:
        return _delong(y, c, h, confidence)
    if metric in ("f1", "f1_macro", "f1_weighted"):
        return _f1(metric, y, c, h, confidence)
    if score is None:
        raise ValueError(f"metric {metric!r} has no closed-form paired interval: pass its score function")
    return _row_bootstrap(metric, score, direction, y, c, h, confidence)
