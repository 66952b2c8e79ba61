"""Metric functions by name: the spec's `evaluate.metric` -> (y_true, y_pred) -> float.

Classification metrics and what the prediction field must hold (docs/evaluation.md):
- accuracy, f1, f1_macro, f1_weighted: the predicted label.
  `f1` is the positive (greater) class's F1 for binary labels and the macro average for more classes;
  `f1_macro` is always the unweighted mean of the per-class F1, `f1_weighted` the mean weighted by each
  class's number of test rows (classes seen in the truth or the predictions, as scikit-learn counts them).
- roc_auc, log_loss: P(the greater label) for binary labels, or per-class probabilities for any number of
  classes (an object keyed by label, or a list in sorted label order: evaluation.probabilities). Multiclass
  roc_auc is the macro one-vs-rest AUC over the classes present in the test set.

sklearn is imported when a metric is called, never when this module is imported.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any

Metric = Callable[[Sequence[Any], Sequence[Any]], float]

REGRESSION_METRICS = frozenset({"rmse", "mae", "mape", "r2"})
CLASSIFICATION_METRICS = frozenset({"accuracy", "f1", "f1_macro", "f1_weighted", "roc_auc", "log_loss"})


def _rmse(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    from sklearn.metrics import mean_squared_error

    return math.sqrt(mean_squared_error(y_true, y_pred))


def _f1(average: str | None) -> Metric:
    def metric(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
        from sklearn.metrics import f1_score

        # None: binary labels score the positive (greater) class, more classes the macro average
        chosen = average or ("binary" if len(set(y_true) | set(y_pred)) <= 2 else "macro")
        if chosen == "binary":  # the greater label is positive, as for roc_auc: string labels work too
            return f1_score(y_true, y_pred, pos_label=max(set(y_true) | set(y_pred)), zero_division=0)
        return f1_score(y_true, y_pred, average=chosen, zero_division=0)

    return metric


def _roc_auc(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    from airflow_mlprovider.evaluation.probabilities import is_multiclass, ovr_roc_auc

    return ovr_roc_auc(y_true, y_pred) if is_multiclass(y_pred) else roc_auc_score(y_true, y_pred)


def _log_loss(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    from airflow_mlprovider.evaluation.probabilities import log_loss_rows

    return float(log_loss_rows(y_true, y_pred).mean())


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
    "f1": _f1(None),
    "f1_macro": _f1("macro"),
    "f1_weighted": _f1("weighted"),
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
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
    """The metric `name`: rmse, mae, mape, r2, accuracy, f1, f1_macro, f1_weighted, roc_auc, log_loss, or
    'module:function'."""
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
