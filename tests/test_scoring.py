from __future__ import annotations

import math

import pytest

from airflow_mlprovider.scoring import metric_function
from airflow_mlprovider.spec.model import ModelSpec, metric_direction

Y_TRUE = [1.0, 2.0, 4.0]
Y_PRED = [2.0, 2.0, 1.0]  # errors 1, 0, -3


@pytest.mark.parametrize(
    ("name", "y_true", "y_pred", "expected"),
    [
        ("rmse", Y_TRUE, Y_PRED, math.sqrt((1 + 0 + 9) / 3)),
        ("mae", Y_TRUE, Y_PRED, (1 + 0 + 3) / 3),
        ("mape", Y_TRUE, Y_PRED, (1 / 1 + 0 / 2 + 3 / 4) / 3),
        # r2 = 1 - SS_res / SS_tot; mean 7/3, SS_tot = (16 + 1 + 25) / 9 = 42/9
        ("r2", Y_TRUE, Y_PRED, 1 - 10 / (42 / 9)),
        ("accuracy", [0, 1, 1, 0], [0, 1, 0, 0], 0.75),
        # tp 1, fp 0, fn 1: precision 1, recall 1/2
        ("f1", [0, 1, 1, 0], [0, 1, 0, 0], 2 * 1 * 0.5 / 1.5),
        # macro f1 over 3 classes: a (tp 1, fp 2) 1/2; b (tp 1, fn 1) 2/3; c never predicted 0
        ("f1", ["a", "b", "b", "c"], ["a", "b", "a", "a"], (1 / 2 + 2 / 3 + 0) / 3),
        # positives {0.8, 0.4}, negatives {0.1, 0.6}: pairs ranked right 3 of 4
        ("roc_auc", [1, 1, 0, 0], [0.8, 0.4, 0.1, 0.6], 0.75),
        ("log_loss", [1, 0], [0.8, 0.4], -(math.log(0.8) + math.log(0.6)) / 2),
    ],
)
def test_builtin_metrics_match_hand_computed_values(name, y_true, y_pred, expected) -> None:
    value = metric_function(name)(y_true, y_pred)
    assert isinstance(value, float)
    assert value == pytest.approx(expected)


def test_custom_metric_by_module_path() -> None:
    assert metric_function("statistics:correlation")([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)


def test_unknown_metric_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown metric 'rsme': use one of rmse, mae, mape"):
        metric_function("rsme")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'"):
        metric_function("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="module 'math' has no function 'nope'"):
        metric_function("math:nope")


def test_metric_direction_builtin_and_explicit() -> None:
    assert metric_direction("rmse") == "minimize" and metric_direction("roc_auc") == "maximize"
    assert metric_direction("pkg.mod:cost", "minimize") == "minimize"
    assert metric_direction("pkg.mod:gain") == "maximize"
    with pytest.raises(ValueError, match="direction must be 'maximize' or 'minimize'"):
        metric_direction("rmse", "down")
    spec = ModelSpec.from_dict({
        "model": "m", "data": {"sql": "select 1", "split": {"by": "hash", "column": "id"}},
        "code": {"module": "/m.py", "request_schema": "/req.json", "response_schema": "/resp.json"},
        "evaluate": {"metric": "mae", "label": "y"},
    }, "/m.model.yaml")
    assert spec.evaluate.direction == "minimize"
