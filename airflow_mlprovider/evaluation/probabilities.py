"""Class probabilities as a model answers them, turned into (truth column per row, probability matrix).

A classifier's prediction field holds, per row, one of:
- a number: P(the greater label) of a binary label (scikit-learn's positive class);
- an object {"<label>": P(label), ...}: one probability per class, keyed by the label's text (JSON keys are
  strings, so the label 2 is the key "2"); the robust form for multiclass;
- a list of numbers: one probability per class, in the sorted order of the class labels (scikit-learn's
  `predict_proba` columns). Its columns are matched to the test labels when the test set holds every class, or
  when the labels are the integers 0 .. k-1.

numpy is imported inside the functions: nothing heavy at DAG-parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: probabilities are clipped like scikit-learn's log_loss before taking logs
PROBABILITY_EPS = 1e-15


def is_multiclass(y_pred: Sequence[Any]) -> bool:
    """Whether the predictions are per-class probabilities (objects or lists) rather than one score a row."""
    if len(y_pred) == 0:
        return False
    first = y_pred[0]
    return isinstance(first, dict) or getattr(first, "ndim", 0) >= 1 or isinstance(first, (list, tuple))


def probability_columns(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[Any, Any]:
    """(index, matrix): the truth of row i is column index[i] of matrix, which holds one row of probabilities each.

    Raises ValueError when a label has no column, naming the label and the classes answered.
    """
    import numpy as np

    y = np.asarray(y_true)
    if isinstance(y_pred[0], dict):
        classes = sorted({str(key) for row in y_pred for key in row})
        matrix = np.array([[float(row.get(key, 0.0)) for key in classes] for row in y_pred], dtype=float)
        column = {key: i for i, key in enumerate(classes)}
        missing = sorted({str(v) for v in y.tolist()} - column.keys())
        if missing:
            raise ValueError(
                f"the predicted probabilities have no class {', '.join(missing)} (classes answered: "
                f"{', '.join(classes)}): key each probability by its label's text"
            )
        return np.array([column[str(v)] for v in y.tolist()], dtype=int), matrix
    matrix = np.asarray([np.asarray(row, dtype=float) for row in y_pred], dtype=float)
    if matrix.ndim != 2:
        raise ValueError("per-class probabilities must have the same number of classes on every row")
    labels = np.unique(y)
    if len(labels) == matrix.shape[1]:
        return np.searchsorted(labels, y), matrix
    if np.issubdtype(y.dtype, np.integer) and labels.min() >= 0 and labels.max() < matrix.shape[1]:
        return y.astype(int), matrix
    raise ValueError(
        f"{matrix.shape[1]} probability columns but the test labels are {labels.tolist()}: with a class missing "
        "from the test set, answer an object keyed by label ({\"<label>\": probability, ...})"
    )


def most_probable_labels(y_true: Sequence[Any], y_pred: Sequence[Any]) -> list[Any]:
    """Each row's most probable class, as a truth label (a confusion matrix of per-class probabilities)."""
    import numpy as np

    index, matrix = probability_columns(y_true, y_pred)
    by_column: dict[int, Any] = {int(i): label for i, label in zip(index.tolist(), list(y_true))}
    if isinstance(y_pred[0], dict):  # a class absent from the truth keeps its key's text
        keys = sorted({str(key) for row in y_pred for key in row})
        by_column = {k: by_column.get(k, key) for k, key in enumerate(keys)}
    return [by_column.get(int(k), int(k)) for k in np.argmax(matrix, axis=1)]


def log_loss_rows(y_true: Sequence[Any], y_pred: Sequence[Any]) -> Any:
    """Per-row log loss: binary scores (P(the greater label)) or per-class probabilities (normalised per row)."""
    import numpy as np

    y = np.asarray(y_true)
    if not is_multiclass(y_pred):
        labels = np.unique(y)
        positive = labels[-1] if len(labels) else 1
        q = np.clip(np.asarray(y_pred, dtype=float), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
        return -np.where(y == positive, np.log(q), np.log1p(-q))
    index, matrix = probability_columns(y, y_pred)
    q = np.clip(matrix, PROBABILITY_EPS, None)
    q = q / q.sum(axis=1, keepdims=True)
    return -np.log(q[np.arange(len(index)), index])


def scored_classes(index: Any, matrix: Any) -> list[int]:
    """The columns one-vs-rest ROC AUC averages over: classes with both positives and negatives in the test set."""
    import numpy as np

    counts = np.bincount(index, minlength=matrix.shape[1])
    return [k for k in range(matrix.shape[1]) if 0 < counts[k] < len(index)]


def ovr_roc_auc(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Macro one-vs-rest ROC AUC: the mean over classes of AUC(this class vs the others, P(this class))."""
    from sklearn.metrics import roc_auc_score

    index, matrix = probability_columns(y_true, y_pred)
    classes = scored_classes(index, matrix)
    if not classes:
        raise ValueError("roc_auc needs at least two classes in the test set")
    return sum(roc_auc_score(index == k, matrix[:, k]) for k in classes) / len(classes)
