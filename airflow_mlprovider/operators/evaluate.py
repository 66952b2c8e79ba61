"""EVALUATE: score candidate and champion on the same test rows through their own predict(); DECIDE: promote or stop.

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

from airflow.sdk.exceptions import AirflowFailException
from airflow.providers.standard.utils.skipmixin import SkipMixin

from airflow_mlprovider.operators.base import EVALUATE, SPLIT, TRAIN, ModelSpecOperator
from airflow_mlprovider.operators.register import candidate_version
from airflow_mlprovider.registry.rules import judge_candidate, may_replace
from airflow_mlprovider.registry.store import ModelRegistry
from airflow_mlprovider.scoring import direction_of

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


class EvaluateOperator(ModelSpecOperator):
    """Candidate (and champion, if any) scored on the same deterministic sample of the test set."""

    def execute(self, context: Any) -> dict[str, Any]:
        import jsonschema
        import pandas as pd

        from airflow_mlprovider.artifacts import load_predictor
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.diagnostics import problem_kind, write_diagnostics
        from airflow_mlprovider.scoring import metric_function

        spec = self.model_spec
        ev = spec.evaluate
        ti = context["ti"]
        store = store_for(spec)
        champion = ModelRegistry(store, spec.model_root).champion()
        schema = json.loads(Path(spec.code.response_schema).read_text())
        validator = jsonschema.validators.validator_for(schema)(schema)
        metric = metric_function(ev.metric)

        with tempfile.TemporaryDirectory(prefix="mlprovider-evaluate-") as tmp:
            local = Path(tmp)
            store.get_file(ti.xcom_pull(task_ids=SPLIT)["test_uri"], str(local / "test.parquet"))
            test = pd.read_parquet(local / "test.parquet")
            if ev.label not in test.columns:
                columns = ", ".join(map(str, test.columns))
                raise AirflowFailException(f"evaluate.label {ev.label!r} is not a test set column; columns: {columns}")
            if test.empty:
                raise AirflowFailException("the test set is empty: nothing to evaluate (see data.split.test)")
            if len(test) > ev.max_rows:
                test = test.sample(n=ev.max_rows, random_state=SAMPLE_SEED).sort_index()
            y_true = [json_safe(v) for v in test[ev.label].tolist()]
            requests = [
                {str(k): json_safe(v) for k, v in row.items()}
                for row in test.drop(columns=[ev.label]).astype(object).to_dict("records")
            ]

            def answers_of(artifact_uri: str, name: str) -> Answers:
                store.get_dir(artifact_uri, str(local / name))
                return _answer(load_predictor(local / name), requests, validator, ev.prediction_field)

            candidate_uri = ti.xcom_pull(task_ids=TRAIN)["artifact_uri"]
            candidate = answers_of(candidate_uri, "candidate")
            if candidate.violations:
                raise AirflowFailException(
                    f"candidate {candidate_uri} breaks the serving contract: {candidate.violations} of {len(requests)} "
                    f"responses fail {spec.code.response_schema}: " + "; ".join(candidate.messages)
                )
            result: dict[str, Any] = {
                "rows": len(requests),
                "candidate": {
                    "metric": ev.metric,
                    "value": _finite_or_none(metric(y_true, candidate.y_pred)),
                    "schema_violations": 0,
                },
                "champion": None,
            }
            if champion is not None:
                answers = answers_of(champion.artifact_uri, "champion")
                if answers.violations:  # a champion that breaks the contract on today's data is replaceable
                    self.log.warning("champion %s: %s", champion.version_id, "; ".join(answers.messages))
                result["champion"] = {
                    "metric": ev.metric,
                    "value": None if answers.violations else _finite_or_none(metric(y_true, answers.y_pred)),
                    "schema_violations": answers.violations,
                    "messages": answers.messages,
                    "version_id": champion.version_id,
                }

            kind = problem_kind(ev.metric, y_true)
            plots = []
            for path in write_diagnostics(kind, y_true, candidate.y_pred, local / "plots"):
                uri = self.run_uri(context, "evaluation", path.name)
                store.put_file(str(path), uri)
                plots.append(uri)
        result["metrics_uri"] = self.run_uri(context, "evaluation", "metrics.json")
        result["plots"] = plots
        metrics_file = {**result, "direction": direction_of(spec)}
        store.write_bytes(result["metrics_uri"], json.dumps(metrics_file, indent=2).encode())
        self.log.info("evaluation: %s", json.dumps(result))
        return result


def _metric_or_nan(value: float | None) -> float:
    return math.nan if value is None else value


class DecideOperator(ModelSpecOperator, SkipMixin):
    """Promote or stop: the metric margins (judge_candidate) and the backfill rule (may_replace) must both allow it.

    A rejected candidate is registered with a 'rejected' (or 'not_promoted_backfill') event, so it stays
    findable, and every downstream task is skipped — this task itself succeeds, like ShortCircuitOperator.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.notifications.lifecycle import notify

        spec = self.model_spec
        ti = context["ti"]
        evaluation = ti.xcom_pull(task_ids=EVALUATE)
        store = store_for(spec)
        registry = ModelRegistry(store, spec.model_root)
        candidate = candidate_version(self, context, store)
        champion = evaluation["champion"]
        decision = judge_candidate(
            _metric_or_nan(evaluation["candidate"]["value"]),
            None if champion is None else _metric_or_nan(champion["value"]),
            direction_of(spec),
            spec.promote,
        )
        promote, reason, event = decision.promote, decision.reason, "rejected"
        if promote:
            allowed, why = may_replace(registry.champion(), candidate)
            if not allowed:
                promote, reason, event = False, why, "not_promoted_backfill"
        result = {"promote": promote, "reason": reason, "version_id": candidate.version_id}
        notify(spec, "decide", f"{candidate.version_id}: {reason}")
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
            ti.xcom_push(key="return_value", value=result)
            self.skip(ti=ti, tasks=downstream)
        return result
