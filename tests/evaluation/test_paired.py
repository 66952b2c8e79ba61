"""The paired comparison: the point values are the metrics' own, and the bound holds its confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from airflow_mlprovider.evaluation.paired import paired_comparison
from airflow_mlprovider.scoring import metric_function


def regression(rng: np.random.Generator, n: int, noise_c: float, noise_h: float):
    y = rng.normal(20, 3, n)
    shared = rng.normal(0, 1, n)  # both models miss the same hard rows: the pairing must use it
    return y, y + shared + rng.normal(0, noise_c, n), y + shared + rng.normal(0, noise_h, n)


def binary(rng: np.random.Generator, n: int, signal_c: float, signal_h: float):
    y = (rng.random(n) < 0.3).astype(int)
    score_c = 1 / (1 + np.exp(-(signal_c * y + rng.normal(0, 1, n) - 0.5)))
    score_h = 1 / (1 + np.exp(-(signal_h * y + rng.normal(0, 1, n) - 0.5)))
    return y, score_c, score_h


def labels(rng: np.random.Generator, n: int, right_c: float, right_h: float, classes: int = 4):
    y = rng.integers(0, classes, n)
    c = np.where(rng.random(n) < right_c, y, rng.integers(0, classes, n))
    h = np.where(rng.random(n) < right_h, y, rng.integers(0, classes, n))
    return y, c, h


def multiclass(rng: np.random.Generator, n: int, signal_c: float, signal_h: float, classes: int = 3):
    """Per-class probabilities (softmax of a signal on the true class plus noise), rows sharing a difficulty."""
    y = rng.integers(0, classes, n)
    hard = rng.normal(0, 1, n)[:, None]

    def probabilities(signal: float):
        logits = signal * np.eye(classes)[y] + hard * rng.normal(0, 1, (n, classes)) + rng.normal(0, 1, (n, classes))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return y, probabilities(signal_c), probabilities(signal_h)


CASES = {
    "rmse": ("minimize", lambda rng, n, better: regression(rng, n, 1.0 - better, 1.0)),
    "mae": ("minimize", lambda rng, n, better: regression(rng, n, 1.0 - better, 1.0)),
    "mape": ("minimize", lambda rng, n, better: regression(rng, n, 1.0 - better, 1.0)),
    "r2": ("maximize", lambda rng, n, better: regression(rng, n, 1.0 - better, 1.0)),
    "roc_auc": ("maximize", lambda rng, n, better: binary(rng, n, 1.0 + 3 * better, 1.0)),
    "log_loss": ("minimize", lambda rng, n, better: binary(rng, n, 1.0 + 3 * better, 1.0)),
    "accuracy": ("maximize", lambda rng, n, better: labels(rng, n, 0.6 + better, 0.6)),
    "f1": ("maximize", lambda rng, n, better: labels(rng, n, 0.6 + better, 0.6)),
    "f1-binary": ("maximize", lambda rng, n, better: labels(rng, n, 0.6 + better, 0.6, classes=2)),
    "f1_weighted": ("maximize", lambda rng, n, better: labels(rng, n, 0.6 + better, 0.6)),
    "roc_auc-multiclass": ("maximize", lambda rng, n, better: multiclass(rng, n, 1.0 + 3 * better, 1.0)),
    "log_loss-multiclass": ("minimize", lambda rng, n, better: multiclass(rng, n, 1.0 + 3 * better, 1.0)),
}


def _metric(case: str) -> str:
    return case.split("-")[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_point_values_are_the_metrics_own(case: str) -> None:
    direction, make = CASES[case]
    y, c, h = make(np.random.default_rng(3), 400, 0.3)
    score = metric_function(_metric(case))
    result = paired_comparison(_metric(case), y, c, h, direction=direction, confidence=0.95, score=score)
    assert result.candidate == pytest.approx(score(y, c), rel=1e-9)
    assert result.champion == pytest.approx(score(y, h), rel=1e-9)
    sign = 1 if direction == "maximize" else -1
    assert result.gain == pytest.approx(sign * (score(y, c) - score(y, h)), rel=1e-9, abs=1e-12)
    assert result.low <= result.gain <= result.high and result.rows == 400


@pytest.mark.parametrize("case", sorted(CASES))
def test_equal_models_rarely_clear_the_bound_and_better_ones_do(case: str) -> None:
    """Over 400 test sets: equal quality -> interval above 0 in <= 5 % (2.5 % expected); clearly better -> ~always."""
    direction, make = CASES[case]
    rng = np.random.default_rng(11)
    score = metric_function(_metric(case))

    def share_cleared(better: float) -> float:
        cleared = 0
        for _ in range(400):
            y, c, h = make(rng, 600, better)
            cleared += paired_comparison(_metric(case), y, c, h, direction=direction, confidence=0.95, score=score).low > 0
        return cleared / 400

    assert share_cleared(0.0) <= 0.05  # the goal at confidence 0.95
    assert share_cleared(0.3) >= 0.9


def test_delong_variance_matches_a_row_bootstrap() -> None:
    y, c, h = binary(np.random.default_rng(5), 3000, 1.2, 1.0)
    delong = paired_comparison("roc_auc", y, c, h, direction="maximize", confidence=0.95)
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(400):
        rows = rng.integers(0, len(y), len(y))
        gains.append(sk.roc_auc_score(y[rows], c[rows]) - sk.roc_auc_score(y[rows], h[rows]))
    bootstrap_se = float(np.std(gains))
    delong_se = (delong.high - delong.gain) / 1.959963984540054
    assert delong.method == "DeLong" and delong_se == pytest.approx(bootstrap_se, rel=0.15)


def test_custom_metric_is_bootstrapped_over_rows() -> None:
    y, c, h = regression(np.random.default_rng(2), 2000, 0.3, 1.5)
    result = paired_comparison(
        "tests.x:medae", y, c, h, direction="minimize", confidence=0.9, score=sk.median_absolute_error
    )
    assert result.method == "paired bootstrap over rows" and result.low > 0


def test_multiclass_probabilities_for_log_loss() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 500)
    c = rng.dirichlet([1, 1, 1], 500)
    c[np.arange(500), y] += 2
    c /= c.sum(axis=1, keepdims=True)
    h = rng.dirichlet([1, 1, 1], 500)
    result = paired_comparison("log_loss", y, c, h, direction="minimize", confidence=0.95)
    assert result.candidate == pytest.approx(sk.log_loss(y, c)) and result.low > 0


def test_rows_must_pair() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_comparison("rmse", [1, 2, 3], [1, 2], [1, 2, 3], direction="minimize", confidence=0.95)
    with pytest.raises(ValueError, match="score function"):
        paired_comparison("m:f", [1, 2, 3], [1, 2, 3], [1, 2, 3], direction="minimize", confidence=0.95)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=2, max_size=60),
    st.sampled_from(["rmse", "mae", "r2"]),
)
def test_the_bound_brackets_the_gain_on_any_rows(rows, metric) -> None:
    y, c, h = (np.array(column) for column in zip(*rows))
    if metric == "r2" and np.var(y) == 0:
        return
    result = paired_comparison(metric, y, c, h, direction="minimize", confidence=0.95)
    assert result.low <= result.gain + 1e-9 and result.gain <= result.high + 1e-9 or math.isinf(result.low)


@pytest.mark.parametrize(("metric", "direction"), [("roc_auc", "maximize"), ("log_loss", "minimize")])
def test_string_class_labels_score_the_greater_label_as_positive(metric: str, direction: str) -> None:
    y, c, h = binary(np.random.default_rng(8), 400, 2.0, 1.0)
    named = np.where(y == 1, "yes", "no")  # "yes" > "no": the positive class, as scikit-learn takes it
    result = paired_comparison(metric, named, c, h, direction=direction, confidence=0.95)
    assert result.candidate == pytest.approx(metric_function(metric)(y, c))
