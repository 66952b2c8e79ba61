"""A model's predictions on a test set: in one batch when the model offers it, else one request at a time.

The serving contract is always exercised: a deterministic sample of rows goes through `predict(request)`
exactly as the endpoint would call it, and every response is validated against the response schema.
With `load_batch`, the whole test set is also scored in one call, and the two paths must agree on the
sampled rows (numbers within BATCH_RTOL / BATCH_ATOL, anything else exactly): a batch path that
computes something else than the served one would otherwise be evaluated instead of the real model.

pandas, numpy and jsonschema are imported inside the functions that run in tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow_mlprovider.artifacts import MODEL_DIR, import_verified_code
from airflow_mlprovider.user_code import calling_user_code

#: per-row and batch predictions agree when |batch - row| <= BATCH_ATOL + BATCH_RTOL * |row|
BATCH_RTOL = 1e-6
BATCH_ATOL = 1e-9
#: schema violation messages kept per model (the count is always complete)
MAX_MESSAGES = 5
#: the seed of the test-set samples: the same rows on every run and retry
SAMPLE_SEED = 0


@dataclass(frozen=True)
class LoadedModel:
    """A registered artifact's served function and, when its module defines load_batch, its batch function."""

    predict: Callable[[dict[str, Any]], dict[str, Any]]
    predict_batch: Callable[[Any], Any] | None


def load_model(artifact_dir: str | Path, expected_digest: str | None = None) -> LoadedModel:
    """Check the artifact (registry digest, framework release), import its code once, call load() and load_batch()."""
    from airflow_mlprovider.backends.aws.framework_version import check_framework_version

    check_framework_version(artifact_dir)  # before anything is unpickled
    module = import_verified_code(artifact_dir, expected_digest)
    model_dir = str(Path(artifact_dir) / MODEL_DIR)
    with calling_user_code(f"load() in {module.__file__}"):
        functions = {"load": module.load(model_dir)}
    load_batch = getattr(module, "load_batch", None)
    if callable(load_batch):
        with calling_user_code(f"load_batch() in {module.__file__}"):
            functions["load_batch"] = load_batch(model_dir)
    for name, function in functions.items():
        if not callable(function):
            raise TypeError(f"{module.__file__}: {name}() must return a function, got {type(function).__name__}")
    return LoadedModel(functions["load"], functions.get("load_batch"))


def json_safe(value: Any) -> Any:
    """A DataFrame cell as a JSON value: timestamps as ISO strings, numpy scalars as Python, missing as None."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (datetime, date, time)):  # pd.Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def requests_of(features: Any) -> list[dict[str, Any]]:
    """The JSON requests the endpoint would receive for these rows (label already removed)."""
    return [{str(k): json_safe(v) for k, v in row.items()} for row in features.astype(object).to_dict("records")]


def sample_positions(rows: int, size: int) -> list[int]:
    """A deterministic, sorted sample of row positions (all of them when there are at most `size`)."""
    import numpy as np

    if rows <= size:
        return list(range(rows))
    return sorted(np.random.default_rng(SAMPLE_SEED).choice(rows, size=size, replace=False).tolist())


@dataclass
class Answers:
    """One model's predictions at `positions` (test-set row positions), and what broke the contract."""

    positions: list[int]
    predictions: list[Any] = field(default_factory=list)
    path: str = "per-row"  # or "batch"
    violations: int = 0
    messages: list[str] = field(default_factory=list)

    def violation(self, message: str) -> None:
        self.violations += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)


def answer_requests(
    predict: Callable[[dict[str, Any]], dict[str, Any]],
    requests: Sequence[dict[str, Any]],
    positions: Sequence[int],
    validator: Any,
    prediction_field: str,
) -> tuple[Answers, dict[int, Any]]:
    """Call predict() per request as the endpoint would; returns the answers and {position: prediction}."""
    from jsonschema.exceptions import best_match
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    answers = Answers(positions=[])
    by_position: dict[int, Any] = {}
    # one row gains nothing from OpenMP/BLAS threads, and on a busy worker their start-up costs ~10x the
    # prediction itself (measured: HistGradientBoostingRegressor, 2 cores, 280 ms -> 15 ms a row)
    with threadpool_limits(limits=1):
        for position, request in zip(positions, requests):
            try:
                response = predict(request)
            except Exception as exc:  # noqa: BLE001 - a failing row is counted and reported like a bad response
                answers.violation(f"row {position}: predict() raised {type(exc).__name__}: {exc}")
                continue
            if not isinstance(response, dict):
                answers.violation(f"row {position}: predict() returned {type(response).__name__}, not a JSON object")
                continue
            error = best_match(validator.iter_errors(response))
            if error is not None:
                answers.violation(f"row {position}: {error.json_path}: {error.message}")
            elif prediction_field not in response:
                answers.violation(
                    f"row {position}: response has no {prediction_field!r} field (evaluate.prediction_field)"
                )
            else:
                answers.positions.append(position)
                answers.predictions.append(response[prediction_field])
                by_position[position] = response[prediction_field]
    return answers, by_position


def _batch_values(output: Any, prediction_field: str, rows: int) -> list[Any]:
    """predict_batch's output as one prediction per row: a sequence, an array, a Series or a DataFrame."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        if prediction_field not in output.columns:
            raise ValueError(f"predict_batch returned a DataFrame without the {prediction_field!r} column")
        output = output[prediction_field]
    values = output.tolist() if isinstance(output, (pd.Series, np.ndarray)) else list(output)
    if len(values) != rows:
        raise ValueError(f"predict_batch returned {len(values)} predictions for {rows} rows")
    return values


def agree(row: Any, batch: Any) -> bool:
    """Whether a per-row and a batch prediction are the same (numbers, and lists or objects of them, within tolerance)."""
    if isinstance(row, (list, tuple)) and isinstance(batch, (list, tuple)):
        return len(row) == len(batch) and all(agree(r, b) for r, b in zip(row, batch))
    if isinstance(row, dict) and isinstance(batch, dict):  # e.g. per-class probabilities keyed by label
        return row.keys() == batch.keys() and all(agree(row[k], batch[k]) for k in row)
    numeric = (int, float)
    if isinstance(row, numeric) and isinstance(batch, numeric) and not isinstance(row, bool):
        return abs(float(batch) - float(row)) <= BATCH_ATOL + BATCH_RTOL * abs(float(row))
    return row == batch


def score_model(
    model: LoadedModel,
    features: Any,
    validator: Any,
    prediction_field: str,
    request_positions: Sequence[int],
) -> Answers:
    """Predict the test rows `features` (label removed).

    Every position in `request_positions` goes through predict(request) with schema validation. With a batch
    function, all rows are also predicted in one call and must agree with predict() on those positions; the
    answers then cover every row. Without one, the answers cover the requested positions only.
    """
    requests = requests_of(features.iloc[list(request_positions)])
    answers, by_position = answer_requests(model.predict, requests, request_positions, validator, prediction_field)
    if model.predict_batch is None:
        return answers
    try:
        values = _batch_values(model.predict_batch(features), prediction_field, len(features))
    except Exception as exc:  # noqa: BLE001 - reported with the model's other contract violations
        answers.violation(f"predict_batch() raised {type(exc).__name__}: {exc}")
        return answers
    batch = Answers(positions=list(range(len(values))), predictions=values, path="batch")
    batch.violations, batch.messages = answers.violations, answers.messages
    for position, row_value in by_position.items():
        if not agree(row_value, batch.predictions[position]):
            batch.violation(
                f"row {position}: predict() answered {row_value!r} but predict_batch() {batch.predictions[position]!r} "
                f"(tolerance {BATCH_RTOL:g} relative + {BATCH_ATOL:g} absolute)"
            )
    return batch


def paired_predictions(candidate: Answers, champion: Answers) -> tuple[list[int], list[Any], list[Any]]:
    """The rows both models answered, and each model's predictions on exactly those rows."""
    if candidate.positions == champion.positions:  # both batch: every row, in order
        return candidate.positions, candidate.predictions, champion.predictions
    shared = sorted(set(candidate.positions) & set(champion.positions))
    cand = dict(zip(candidate.positions, candidate.predictions))
    champ = dict(zip(champion.positions, champion.predictions))
    return shared, [cand[p] for p in shared], [champ[p] for p in shared]
