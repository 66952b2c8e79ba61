"""Metric functions by name: the spec's `evaluate.metric` -> (y_true, y_pred) -> float.

sklearn is imported when a metric is called, never when this module is imported.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any

Metric = Callable[[Sequence[Any], Sequence[Any]], float]

REGRESSION_METRICS = frozenset({"rmse", "mae", "mape", "r2"})
CLASSIFICATION_METRICS = frozenset({"accuracy", "f1", "roc_auc", "log_loss"})


def _rmse(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    from sklearn.metrics import mean_squared_error

    return math.sqrt(mean_squared_error(y_true, y_pred))


def _f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    from sklearn.metrics import f1_score

    # binary labels score the positive class; more classes average per class
    return f1_score(y_true, y_pred, average="binary" if len(set(y_true) | set(y_pred)) <= 2 else "macro")


def _sklearn(name: str) -> Metric:
    def metric(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
        import sklearn.metrics

        return getattr(sklearn.metrics, name)(y_true, y_pred)

    metric.__name__ = name
    return metric


_BUILTIN: dict[str, Metric] = {
    "rmse": _rmse,
    "mae": _sklearn("mean_absolute_error"),
    "mape": _sklearn("mean_absolute_percentage_error"),
    "r2": _sklearn("r2_score"),
    "accuracy": _sklearn("accuracy_score"),
    "f1": _f1,
    "roc_auc": _sklearn("roc_auc_score"),
    "log_loss": _sklearn("log_loss"),
}


def _custom(path: str) -> Metric:
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"evaluate.metric {path!r}: cannot import module {module_name!r}: {exc}") from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"evaluate.metric {path!r}: module {module_name!r} has no function {function_name!r}")
    return function


def metric_function(name: str) -> Callable[[Sequence[Any], Sequence[Any]], float]:
    """The metric `name`: rmse, mae, mape, r2, accuracy, f1, roc_auc, log_loss, or 'module:function'."""
    if name in _BUILTIN:
        metric = _BUILTIN[name]
    elif ":" in name:
        metric = _custom(name)
    else:
        raise ValueError(
            f"unknown metric {name!r}: use one of {', '.join(_BUILTIN)} or 'module:function' "
            "naming an importable function (y_true, y_pred) -> float"
        )

    def score(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
        return float(metric(y_true, y_pred))

    return score
