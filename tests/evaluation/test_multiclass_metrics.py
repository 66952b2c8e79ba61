"""Metrics for every task type: macro/weighted F1, multiclass log-loss and one-vs-rest ROC AUC, and their pairing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from airflow_mlprovider.evaluation.paired import paired_comparison
from airflow_mlprovider.evaluation.probabilities import probability_columns
from airflow_mlprovider.scoring import metric_function

LABELS = ["ant", "bee", "cat", "dog"]
label_lists = st.integers(4, 60).flatmap(
    lambda n: st.tuples(*(st.lists(st.sampled_from(LABELS), min_size=n, max_size=n) for _ in range(3)))
)


@settings(max_examples=60, deadline=None)
@given(label_lists, st.sampled_from(["f1_macro", "f1_weighted", "f1"]))
def test_f1_averages_are_scikit_learns_and_pair_on_the_same_values(rows, metric) -> None:
    y, c, h = rows
    average = {"f1_macro": "macro", "f1_weighted": "weighted"}.get(metric)
    if average is None:  # f1: the greater label's F1 for two labels, the macro average for more
        classes = sorted(set(y) | set(c))
        expected = (
            sk.f1_score(y, c, pos_label=classes[-1], zero_division=0) if len(classes) <= 2
            else sk.f1_score(y, c, average="macro", zero_division=0)
        )
    else:
        expected = sk.f1_score(y, c, average=average, zero_division=0)
    assert metric_function(metric)(y, c) == pytest.approx(expected)
    # the paired comparison's point values are the same metric, even when the champion predicts other classes
    # (f1's positive class is the greatest label any model answers, so for f1 only when all see the same labels)
    result = paired_comparison(metric, y, c, h, direction="maximize", confidence=0.95)
    if metric != "f1" or set(y) | set(c) == set(y) | set(h) == set(y) | set(c) | set(h):
        assert result.candidate == pytest.approx(expected)
        assert result.champion == pytest.approx(metric_function(metric)(y, h))
    assert result.low <= result.gain + 1e-12 and result.gain <= result.high + 1e-12


def test_weighted_f1_differs_from_macro_on_imbalanced_classes() -> None:
    y = ["a"] * 90 + ["b"] * 10
    pred = ["a"] * 100  # the majority class always: a's F1 is high, b's is 0
    assert metric_function("f1_macro")(y, pred) == pytest.approx((2 * 90 / 190 + 0) / 2)
    assert metric_function("f1_weighted")(y, pred) == pytest.approx(0.9 * 2 * 90 / 190)


probabilities = st.integers(3, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 2), min_size=n, max_size=n).filter(lambda y: len(set(y)) == 3),
        st.lists(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(probabilities)
def test_multiclass_log_loss_and_ovr_auc_match_scikit_learn_in_any_form(case) -> None:
    y, raw = case
    p = np.array(raw) / np.array(raw).sum(axis=1, keepdims=True)
    as_objects = [{str(k): float(row[k]) for k in range(3)} for row in p]
    expected_loss = sk.log_loss(y, p, labels=[0, 1, 2])
    expected_auc = sk.roc_auc_score(y, p, multi_class="ovr", average="macro")
    for form in (p, p.tolist(), as_objects):
        assert metric_function("log_loss")(y, form) == pytest.approx(expected_loss, rel=1e-9)
        assert metric_function("roc_auc")(y, form) == pytest.approx(expected_auc, rel=1e-9)
    result = paired_comparison("roc_auc", y, as_objects, p[:, ::-1].tolist(), direction="maximize", confidence=0.95)
    assert result.candidate == pytest.approx(expected_auc) and result.low <= result.gain <= result.high


def test_string_labels_with_probabilities_keyed_by_label_and_a_class_missing_from_the_test_set() -> None:
    y = ["red", "blue", "red", "blue"]  # "green" is a class the model knows but the test set lacks
    p = [{"red": 0.7, "blue": 0.2, "green": 0.1}, {"red": 0.1, "blue": 0.8, "green": 0.1},
         {"red": 0.5, "blue": 0.4, "green": 0.1}, {"red": 0.6, "blue": 0.3, "green": 0.1}]
    index, matrix = probability_columns(y, p)
    assert matrix.shape == (4, 3) and list(index) == [2, 0, 2, 0]  # columns sorted: blue, green, red
    assert metric_function("log_loss")(y, p) == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.5, 0.3])))
    # green has no positives: averaged over blue and red; AUC(red) = 3/4 (0.6 < 0.5? no: red 0.7, 0.5 vs blue 0.1, 0.6)
    assert metric_function("roc_auc")(y, p) == pytest.approx((0.75 + 0.75) / 2)
    with pytest.raises(ValueError, match="no class purple"):
        metric_function("log_loss")(["purple", "red"], p[:2])


def test_a_list_of_probabilities_must_match_the_test_labels() -> None:
    with pytest.raises(ValueError, match="3 probability columns but the test labels are"):
        metric_function("log_loss")(["a", "b"], [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    # integer labels 0..k-1 index the columns even when a class is missing from the test set
    assert metric_function("log_loss")([0, 2], [[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]) == pytest.approx(
        -(np.log(0.5) + np.log(0.25)) / 2)


def test_ovr_delong_equals_binary_delong_for_two_classes() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.4).astype(int)
    c, h = rng.random(500) + 0.5 * y, rng.random(500) + 0.2 * y
    c, h = np.clip(c / 1.5, 0, 1), np.clip(h / 1.2, 0, 1)
    binary = paired_comparison("roc_auc", y, c, h, direction="maximize", confidence=0.95)
    two = paired_comparison("roc_auc", y, np.c_[1 - c, c], np.c_[1 - h, h], direction="maximize", confidence=0.95)
    assert two.gain == pytest.approx(binary.gain) and two.low == pytest.approx(binary.low, rel=1e-9)


def test_ovr_delong_variance_matches_a_row_bootstrap() -> None:
    from test_paired import multiclass

    y, c, h = multiclass(np.random.default_rng(5), 1000, 1.4, 1.0, classes=4)
    result = paired_comparison("roc_auc", y, c, h, direction="maximize", confidence=0.95)
    rng = np.random.default_rng(0)
    score = metric_function("roc_auc")
    gains = []
    for _ in range(200):
        rows = rng.integers(0, len(y), len(y))
        gains.append(score(y[rows], c[rows]) - score(y[rows], h[rows]))
    assert (result.high - result.gain) / 1.959963984540054 == pytest.approx(float(np.std(gains)), rel=0.2)
