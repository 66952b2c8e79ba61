"""Diagnostic plots of an evaluation, written as PNG files.

regression:      predicted vs actual, residual histogram
classification:  ROC curve (binary labels with scores), confusion matrix (of the most probable class for
                 per-class probabilities)

matplotlib (Agg backend: no display on a worker), numpy and sklearn are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_mlprovider.scoring import CLASSIFICATION_METRICS, REGRESSION_METRICS

#: a custom metric's labels with at most this many distinct integral values are read as classes
MAX_CLASSES = 20


def problem_kind(metric: str, y_true: Sequence[Any]) -> str:
    """'regression' or 'classification': from a built-in metric, else from the labels themselves."""
    if metric in REGRESSION_METRICS:
        return "regression"
    if metric in CLASSIFICATION_METRICS:
        return "classification"
    values = set(y_true)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and not (len(values) <= MAX_CLASSES and all(float(v).is_integer() for v in values)):
        return "regression"
    return "classification"


def write_diagnostics(kind: str, y_true: Sequence[Any], y_pred: Sequence[Any], out_dir: str | Path) -> list[Path]:
    """Write the plots for `kind` into `out_dir`; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "regression":
        return [_predicted_vs_actual(y_true, y_pred, out), _residuals(y_true, y_pred, out)]
    if kind == "classification":
        return _classification(y_true, y_pred, out)
    raise ValueError(f"unknown problem kind {kind!r}: use 'regression' or 'classification'")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(6, 5), dpi=100)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _predicted_vs_actual(y_true: Sequence[float], y_pred: Sequence[float], out: Path) -> Path:
    plt, fig, ax = _figure()
    ax.scatter(y_true, y_pred, s=8, alpha=0.5)
    low, high = min(min(y_true), min(y_pred)), max(max(y_true), max(y_pred))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", label="perfect")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    ax.legend()
    return _save(plt, fig, out / "predicted_vs_actual.png")


def _residuals(y_true: Sequence[float], y_pred: Sequence[float], out: Path) -> Path:
    plt, fig, ax = _figure()
    ax.hist([p - t for t, p in zip(y_true, y_pred)], bins=40)
    ax.axvline(0, color="grey", linestyle="--")
    ax.set(xlabel="predicted - actual", ylabel="rows", title="Residuals")
    return _save(plt, fig, out / "residuals.png")


def _classification(y_true: Sequence[Any], y_pred: Sequence[Any], out: Path) -> list[Path]:
    from airflow_mlprovider.evaluation.probabilities import is_multiclass, most_probable_labels

    if is_multiclass(y_pred):  # per-class probabilities: the confusion matrix of the most probable class
        return [_confusion_matrix(y_true, most_probable_labels(y_true, y_pred), out)]
    classes = sorted(set(y_true))
    scores = all(isinstance(p, float) for p in y_pred) and not set(y_pred) <= set(classes)
    if scores and len(classes) == 2:
        # probability of the positive (larger) class: a ROC curve, and labels at the 0.5 threshold
        positive, negative = classes[1], classes[0]
        labels = [positive if p >= 0.5 else negative for p in y_pred]
        return [_roc_curve(y_true, y_pred, positive, out), _confusion_matrix(y_true, labels, out)]
    return [_confusion_matrix(y_true, y_pred, out)]


def _roc_curve(y_true: Sequence[Any], y_score: Sequence[float], positive: Any, out: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y_true, y_score, pos_label=positive)
    auc = roc_auc_score([y == positive for y in y_true], y_score)
    plt, fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return _save(plt, fig, out / "roc_curve.png")


def _confusion_matrix(y_true: Sequence[Any], y_pred: Sequence[Any], out: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt, fig, ax = _figure()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False)
    ax.set_title("Confusion matrix")
    return _save(plt, fig, out / "confusion_matrix.png")
