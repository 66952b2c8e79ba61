"""Evaluate: candidate and champion scored on the same test rows through their own predict(); decide: promote or stop.

Evaluation goes through the serving contract: each test row becomes a JSON request (label removed), each
response is validated against the response schema, and the prediction field is compared with the label.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from collections.abc import Sequence

from airflow.sdk import SkipMixin
from airflow.sdk.exceptions import AirflowFailException

from airflow_mlprovider.operators.base import LifecycleOperator, join_uri
from airflow_mlprovider.operators.register import candidate_version
from airflow_mlprovider.registry.rules import judge_candidate, may_replace
from airflow_mlprovider.registry.store import ModelRegistry
from airflow_mlprovider.spec.model import Promote, metric_direction

#: schema violation messages kept per variant (the count is always complete)
MAX_MESSAGES = 5
#: the seed of the test-set sample: the same rows on every run and retry
SAMPLE_SEED = 0


@dataclass
class Answers:
    """One predictor's answers to the evaluation requests."""

    y_pred: list[Any] = field(default_factory=list)
    violations: int = 0
    messages: list[str] = field(default_factory=list)

    def violation(self, message: str) -> None:
        self.violations += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)


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


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _answer(predict: Any, requests: list[dict[str, Any]], validator: Any, prediction_field: str) -> Answers:
    """Call predict() per request as the endpoint would, validating every response."""
    from jsonschema.exceptions import best_match
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    answers = Answers()
    # one row gains nothing from OpenMP/BLAS threads, and on a busy worker their start-up costs ~10x the
    # prediction itself (measured: HistGradientBoostingRegressor, 2 cores, 280 ms -> 15 ms a row)
    with threadpool_limits(limits=1):
        for row, request in enumerate(requests):
            try:
                response = predict(request)
            except Exception as exc:  # noqa: BLE001 - a failing row is counted and reported like a bad response
                answers.violation(f"row {row}: predict() raised {type(exc).__name__}: {exc}")
                continue
            if not isinstance(response, dict):
                answers.violation(f"row {row}: predict() returned {type(response).__name__}, not a JSON object")
                continue
            error = best_match(validator.iter_errors(response))
            if error is not None:
                answers.violation(f"row {row}: {error.json_path}: {error.message}")
            elif prediction_field not in response:
                answers.violation(f"row {row}: response has no {prediction_field!r} field (evaluate.prediction_field)")
            else:
                answers.y_pred.append(response[prediction_field])
    return answers


class EvaluateOperator(LifecycleOperator):
    """The candidate (and the registry's champion, if any) scored on the same deterministic sample of the test set.

    Each test row becomes a request (label removed) to the artifact's own predict(); every response is
    validated against the response schema (a candidate violation fails the task) and its prediction field
    compared with the label. Artifacts are verified against their manifest digest before loading.

    :param test_uri: the test Parquet, e.g. `split.output["test_uri"]`; templated.
    :param artifact_uri: the candidate's artifact folder, e.g. `train.output["artifact_uri"]`; templated.
    :param manifest_digest: the candidate's manifest digest, e.g. `train.output["manifest_digest"]`; templated.
    :param registry_uri: the model's registry root (`<artifact_root>/<model>`): its champion is scored too.
    :param output_prefix: folder URI for metrics.json and diagnostic plots; templated.
    :param label_column: the test set's truth column (removed from each request).
    :param metric: rmse, mae, mape, r2, accuracy, f1, roc_auc, log_loss or "module:function".
    :param response_schema: path of the response JSON Schema.
    :param prediction_field: the response field compared with the label.
    :param direction: "maximize" or "minimize" (built-in metrics know theirs).
    :param max_rows: score at most this many test rows (a seeded sample).
    :return: `{"rows", "candidate": {"metric", "value", "schema_violations"}, "champion": {...} | None,
        "metrics_uri", "plots"}`.
    """

    template_fields: Sequence[str] = ("test_uri", "artifact_uri", "manifest_digest", "registry_uri", "output_prefix")

    def __init__(
        self, *, test_uri: str, artifact_uri: str, manifest_digest: str, registry_uri: str, output_prefix: str,
        label_column: str, metric: str, response_schema: str, prediction_field: str = "prediction",
        direction: str | None = None, max_rows: int = 5000, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.test_uri = test_uri
        self.artifact_uri = artifact_uri
        self.manifest_digest = manifest_digest
        self.registry_uri = registry_uri
        self.output_prefix = output_prefix
        self.label_column = label_column
        self.metric = metric
        self.response_schema = response_schema
        self.prediction_field = prediction_field
        self.direction = metric_direction(metric, direction)
        self.max_rows = max_rows

    def execute(self, context: Any) -> dict[str, Any]:
        import jsonschema
        import pandas as pd

        from airflow_mlprovider.artifacts import load_predictor
        from airflow_mlprovider.diagnostics import problem_kind, write_diagnostics
        from airflow_mlprovider.scoring import metric_function

        store = self.store(self.registry_uri)
        champion = ModelRegistry(store, self.registry_uri).champion()
        schema = json.loads(Path(self.response_schema).read_text())
        validator = jsonschema.validators.validator_for(schema)(schema)
        metric = metric_function(self.metric)

        with tempfile.TemporaryDirectory(prefix="mlprovider-evaluate-") as tmp:
            local = Path(tmp)
            self.store(self.test_uri).get_file(self.test_uri, str(local / "test.parquet"))
            test = pd.read_parquet(local / "test.parquet")
            if self.label_column not in test.columns:
                columns = ", ".join(map(str, test.columns))
                raise AirflowFailException(f"label {self.label_column!r} is not a test set column; columns: {columns}")
            if test.empty:
                raise AirflowFailException("the test set is empty: nothing to evaluate (see the split's test fraction)")
            if len(test) > self.max_rows:
                test = test.sample(n=self.max_rows, random_state=SAMPLE_SEED).sort_index()
            y_true = [json_safe(v) for v in test[self.label_column].tolist()]
            requests = [
                {str(k): json_safe(v) for k, v in row.items()}
                for row in test.drop(columns=[self.label_column]).astype(object).to_dict("records")
            ]

            def answers_of(artifact_uri: str, digest: str, name: str) -> Answers:
                self.store(artifact_uri).get_dir(artifact_uri, str(local / name))
                predict = load_predictor(local / name, expected_digest=digest)
                return _answer(predict, requests, validator, self.prediction_field)

            candidate = answers_of(self.artifact_uri, self.manifest_digest, "candidate")
            if candidate.violations:
                raise AirflowFailException(
                    f"candidate {self.artifact_uri} breaks the serving contract: {candidate.violations} of "
                    f"{len(requests)} responses fail {self.response_schema}: " + "; ".join(candidate.messages)
                )
            result: dict[str, Any] = {
                "rows": len(requests),
                "candidate": {
                    "metric": self.metric,
                    "value": _finite_or_none(metric(y_true, candidate.y_pred)),
                    "schema_violations": 0,
                },
                "champion": None,
            }
            if champion is not None:
                answers = answers_of(champion.artifact_uri, champion.manifest_digest, "champion")
                if answers.violations:  # a champion that breaks the contract on today's data is replaceable
                    self.log.warning("champion %s: %s", champion.version_id, "; ".join(answers.messages))
                result["champion"] = {
                    "metric": self.metric,
                    "value": None if answers.violations else _finite_or_none(metric(y_true, answers.y_pred)),
                    "schema_violations": answers.violations,
                    "messages": answers.messages,
                    "version_id": champion.version_id,
                }

            kind = problem_kind(self.metric, y_true)
            plots = []
            out = self.store(self.output_prefix)
            for path in write_diagnostics(kind, y_true, candidate.y_pred, local / "plots"):
                uri = join_uri(self.output_prefix, path.name)
                out.put_file(str(path), uri)
                plots.append(uri)
        result["metrics_uri"] = join_uri(self.output_prefix, "metrics.json")
        result["plots"] = plots
        metrics_file = {**result, "direction": self.direction}
        out.write_bytes(result["metrics_uri"], json.dumps(metrics_file, indent=2).encode())
        self.log.info("evaluation: %s", json.dumps(result))
        return result


def _metric_or_nan(value: float | None) -> float:
    return math.nan if value is None else value


class DecideOperator(LifecycleOperator, SkipMixin):
    """Promote or stop: the metric margins (judge_candidate) and the backfill rule (may_replace) must both allow it.

    A rejected candidate is registered with a 'rejected' (or 'not_promoted_backfill') event, so it stays
    findable, and every downstream task is skipped; this task itself succeeds, like ShortCircuitOperator.

    :param model: the model's name.
    :param registry_uri: the model's registry root.
    :param artifact_uri: the candidate's artifact folder (`train.output["artifact_uri"]`); templated.
    :param evaluation: the evaluation result (`evaluate.output`); templated.
    :param direction: "maximize" or "minimize" (None: the built-in metric's).
    :param min_relative_improvement: required gain as a fraction of the champion's metric.
    :param min_absolute_improvement: required gain in metric units.
    :param first_model_threshold: the bar a first model must clear (None: any first model is promoted).
    :param spec_digest: recorded with the version (the factory passes the spec's hash).
    :return: `{"promote", "reason", "version_id"}`.
    """

    template_fields: Sequence[str] = ("artifact_uri", "evaluation", "registry_uri")

    def __init__(
        self, *, model: str, registry_uri: str, artifact_uri: str, evaluation: dict[str, Any],
        direction: str | None = None, min_relative_improvement: float = 0.0, min_absolute_improvement: float = 0.0,
        first_model_threshold: float | None = None, spec_digest: str = "", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.registry_uri = registry_uri
        self.artifact_uri = artifact_uri
        self.evaluation = evaluation
        self.direction = direction
        self.rule = Promote(min_relative_improvement, min_absolute_improvement, first_model_threshold)
        self.spec_digest = spec_digest

    def execute(self, context: Any) -> dict[str, Any]:
        evaluation = self.evaluation
        store = self.store(self.registry_uri)
        registry = ModelRegistry(store, self.registry_uri)
        candidate = candidate_version(self.model, self.artifact_uri, evaluation, context, store, self.spec_digest)
        champion = evaluation["champion"]
        decision = judge_candidate(
            _metric_or_nan(evaluation["candidate"]["value"]),
            None if champion is None else _metric_or_nan(champion["value"]),
            metric_direction(evaluation["candidate"]["metric"], self.direction),
            self.rule,
        )
        promote, reason, event = decision.promote, decision.reason, "rejected"
        if promote:
            allowed, why = may_replace(registry.champion(), candidate)
            if not allowed:
                promote, reason, event = False, why, "not_promoted_backfill"
        result = {"promote": promote, "reason": reason, "version_id": candidate.version_id}
        self.announce(self.model, "decide", f"{candidate.version_id}: {reason}")
        if promote:
            return result

        registry.register(candidate)
        if not any(e["event"] == event for e in registry.events(candidate.version_id)):  # a retry records it once
            registry.record(
                candidate.version_id,
                event,
                reason,
                candidate=evaluation["candidate"]["value"],
                champion=None if champion is None else champion["value"],
                champion_version=None if champion is None else champion["version_id"],
            )
        downstream = [t for t in self.get_flat_relatives(upstream=False) if not t.is_teardown]
        if downstream:
            # skip() ends execute with DownstreamTasksSkipped, before Airflow would push the return value
            self.push_result(context, result)
            self.skip(ti=context["ti"], tasks=downstream)
        return result
