"""Candidate vs champion on one test set: the same rows, the metric, and the paired confidence bound.

What the evaluate stage computes, without Airflow: the operator reads the test set and the artifacts and
hands them here; `bench/evaluate_scale.py` calls the same function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_mlprovider.evaluation.paired import paired_comparison
from airflow_mlprovider.evaluation.predictions import Answers, LoadedModel, paired_predictions, sample_positions, score_model

#: the confidence of the reported interval when the promotion rule does not ask for one
REPORTED_CONFIDENCE = 0.95
#: the diagnostic plots draw at most this many rows (a deterministic sample): a 1 M-point scatter says no more
PLOT_ROWS = 20_000


class ContractViolation(ValueError):
    """The candidate's answers break the serving contract (schema, prediction field, batch/per-row agreement)."""


@dataclass(frozen=True)
class EvaluationSettings:
    label: str
    metric: str
    direction: str
    prediction_field: str
    max_rows: int  # rows sent through predict(request) when a model has no batch function
    request_check_rows: int  # rows also sent through predict(request) when both models have one
    confidence: float | None  # the promotion rule's, if it asks for one


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _request_positions(rows: int, models: Sequence[LoadedModel], settings: EvaluationSettings) -> list[int]:
    """Rows for predict(request): a small contract check when every model scores in batch, else the sample scored."""
    batch = all(m.predict_batch is not None for m in models)
    return sample_positions(rows, settings.request_check_rows if batch else settings.max_rows)


def _labels(test: Any, label: str, positions: Sequence[int]) -> list[Any]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    from airflow_mlprovider.evaluation.predictions import json_safe

    column = test[label]
    values = column.iloc[list(positions)] if len(positions) != len(column) else column
    if is_numeric_dtype(values) or is_bool_dtype(values):  # already JSON's numbers: no per-value conversion
        return values.tolist()
    return [json_safe(v) for v in values.tolist()]


def evaluate(
    test: Any,
    candidate: LoadedModel,
    champion: LoadedModel | None,
    validator: Any,
    settings: EvaluationSettings,
    metric: Callable[[Sequence[Any], Sequence[Any]], float],
    log: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """Score both models on the same rows of `test`.

    Returns the evaluation (small, JSON-able: the XCom value) and the candidate's (labels, predictions) on at
    most PLOT_ROWS of the scored rows, for the diagnostic plots. Raises ContractViolation when the candidate
    breaks the contract.
    """
    import time

    if settings.label not in test.columns:
        columns = ", ".join(map(str, test.columns))
        raise ValueError(f"evaluate.label {settings.label!r} is not a test set column; columns: {columns}")
    if test.empty:
        raise ValueError("the test set is empty: nothing to evaluate (see data.split.test)")
    features = test.drop(columns=[settings.label])
    models = [candidate] if champion is None else [candidate, champion]
    positions = _request_positions(len(test), models, settings)

    started = time.monotonic()
    cand = score_model(candidate, features, validator, settings.prediction_field, positions)
    log(f"candidate: {len(cand.positions)} rows scored ({cand.path}) in {time.monotonic() - started:.1f}s")
    if cand.violations:
        raise ContractViolation(
            f"{cand.violations} of {len(positions)} checked responses break the contract: " + "; ".join(cand.messages)
        )
    result: dict[str, Any] = {"test_rows": len(test), "champion": None, "comparison": None}
    champ: Answers | None = None
    if champion is not None:
        started = time.monotonic()
        champ = score_model(champion, features, validator, settings.prediction_field, positions)
        log(f"champion: {len(champ.positions)} rows scored ({champ.path}) in {time.monotonic() - started:.1f}s")

    if champ is None or champ.violations:
        rows, cand_pred = cand.positions, cand.predictions
    else:
        rows, cand_pred, champ_pred = paired_predictions(cand, champ)
    y_true = _labels(test, settings.label, rows)
    result["rows"] = len(rows)
    result["candidate"] = {
        "metric": settings.metric,
        "value": _finite_or_none(metric(y_true, cand_pred)),
        "schema_violations": 0,
        "path": cand.path,
    }
    if champ is not None:
        # a champion that breaks the contract on today's data is replaceable: no value, no comparison
        result["champion"] = {
            "metric": settings.metric,
            "value": None if champ.violations else _finite_or_none(metric(y_true, champ_pred)),
            "schema_violations": champ.violations,
            "messages": champ.messages,
            "path": champ.path,
        }
        if not champ.violations:
            comparison = paired_comparison(
                settings.metric, y_true, cand_pred, champ_pred,
                direction=settings.direction, confidence=settings.confidence or REPORTED_CONFIDENCE, score=metric,
            )
            result["comparison"] = comparison.to_dict()
    plotted = sample_positions(len(y_true), PLOT_ROWS)
    return result, [y_true[i] for i in plotted], [cand_pred[i] for i in plotted]
