"""Evaluate: candidate and champion scored on the same test rows; decide: promote or stop.

The scoring itself (batch and per-request paths, the serving contract, the paired comparison) is
`evaluation/`, free of Airflow; these operators read and write the store and the registry around it.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperatorLink, SkipMixin
from airflow.sdk.exceptions import AirflowFailException

from airflow_mlprovider.monitoring.reference import record_reference
from airflow_mlprovider.operators.base import LifecycleOperator, join_uri, run_interval
from airflow_mlprovider.operators.register import candidate_version
from airflow_mlprovider.registry.rules import PromotionDecision, judge_candidate, may_replace
from airflow_mlprovider.registry.store import ModelRegistry, version_id_for
from airflow_mlprovider.spec.model import Promote, metric_direction


class EvaluationReportLink(BaseOperatorLink):
    """The evaluate task's "Evaluation report" button: report.html of its run (XCom `report_uri`).

    A local artifact root links the file:// URI (a browser on the same machine opens it); an s3:// one links the
    object's page in the S3 console (from which it opens or downloads; a presigned URL would expire).
    """

    name = "Evaluation report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_mlprovider.evaluation.report import report_link

        uri = XCom.get_value(ti_key=ti_key, key="report_uri")
        return report_link(uri) if uri else ""


def judge_evaluation(evaluation: dict[str, Any], direction: str | None, rule: Promote) -> PromotionDecision:
    """The promotion rule applied to an evaluation result (the decide task's verdict, shown by the report too)."""
    champion = evaluation["champion"]
    return judge_candidate(
        _metric_or_nan(evaluation["candidate"]["value"]),
        None if champion is None else _metric_or_nan(champion["value"]),
        metric_direction(evaluation["candidate"]["metric"], direction),
        rule,
        evaluation.get("comparison"),
        evaluation.get("test_rows"),
    )


class EvaluateOperator(LifecycleOperator):
    """The candidate (and the registry's champion, if any) scored on the same rows of the test set.

    Models whose module defines `load_batch` are scored on the whole test set in one call each, and a
    deterministic sample of `request_check_rows` rows also goes through predict(request) and must agree.
    Otherwise a deterministic sample of `max_rows` rows goes through predict(request). Every response of the
    sample is validated against the response schema (a candidate violation fails the task). Artifacts are
    verified against their registry digest and their framework release before anything is loaded. The
    result carries the paired comparison with the champion (gain and interval, see docs/evaluation.md).

    :param test_uri: the test Parquet, e.g. `split.output["test_uri"]`; templated.
    :param artifact_uri: the candidate's artifact folder, e.g. `train.output["artifact_uri"]`; templated.
    :param manifest_digest: the candidate's manifest digest, e.g. `train.output["manifest_digest"]`; templated.
    :param registry_uri: the model's registry root (`<artifact_root>/<model>`): its champion is scored too.
    :param output_prefix: folder URI for metrics.json and diagnostic plots; templated.
    :param label_column: the test set's truth column (removed from each request).
    :param metric: rmse, mae, mape, r2, accuracy, f1, f1_macro, f1_weighted, roc_auc,
        log_loss or "module:function".
    :param response_schema: path of the response JSON Schema.
    :param prediction_field: the response field compared with the label.
    :param direction: "maximize" or "minimize" (built-in metrics know theirs).
    :param max_rows: without load_batch, score at most this many test rows (a seeded sample).
    :param request_check_rows: with load_batch, this many rows also go through predict(request).
    :param confidence: the confidence of the reported interval of the gain (the promotion rule's, if any).
    :param promote_rule: the promotion rule's fields (`spec.model.Promote`), for the verdict the report shows;
        None: the report has no verdict (decide still judges).
    :return: `{"rows", "test_rows", "candidate": {"metric", "value", "schema_violations", "path"},
        "champion": {...} | None, "comparison": {"gain", "low", "high", "confidence", "method", ...} | None,
        "metrics_uri", "plots", "report_uri"}`; report.html (self-contained) and report.md are written beside
        metrics.json, and the task's "Evaluation report" extra link opens report.html.
    """

    template_fields: Sequence[str] = ("test_uri", "artifact_uri", "manifest_digest", "registry_uri", "output_prefix")
    operator_extra_links = (EvaluationReportLink(),)

    def __init__(
        self, *, test_uri: str, artifact_uri: str, manifest_digest: str, registry_uri: str, output_prefix: str,
        label_column: str, metric: str, response_schema: str, prediction_field: str = "prediction",
        direction: str | None = None, max_rows: int = 5000, request_check_rows: int = 100,
        confidence: float | None = None, promote_rule: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.promote_rule = promote_rule
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
        self.request_check_rows = request_check_rows
        self.confidence = confidence

    def execute(self, context: Any) -> dict[str, Any]:
        import jsonschema
        import pandas as pd

        from airflow_mlprovider.diagnostics import problem_kind, write_diagnostics
        from airflow_mlprovider.evaluation.compare import ContractViolation, EvaluationSettings, evaluate
        from airflow_mlprovider.evaluation.predictions import load_model
        from airflow_mlprovider.scoring import metric_function

        store = self.store(self.registry_uri)
        champion = ModelRegistry(store, self.registry_uri).champion()
        schema = json.loads(Path(self.response_schema).read_text())
        validator = jsonschema.validators.validator_for(schema)(schema)
        settings = EvaluationSettings(
            label=self.label_column, metric=self.metric, direction=self.direction,
            prediction_field=self.prediction_field, max_rows=self.max_rows,
            request_check_rows=self.request_check_rows, confidence=self.confidence,
        )

        with tempfile.TemporaryDirectory(prefix="mlprovider-evaluate-") as tmp:
            local = Path(tmp)

            def loaded(artifact_uri: str, digest: str, name: str) -> Any:
                self.store(artifact_uri).get_dir(artifact_uri, str(local / name))
                return load_model(local / name, expected_digest=digest)

            self.store(self.test_uri).get_file(self.test_uri, str(local / "test.parquet"))
            test = pd.read_parquet(local / "test.parquet")
            with self.failing_without_retry_on_user_errors():  # load() raising again on a retry helps nobody
                candidate = loaded(self.artifact_uri, self.manifest_digest, "candidate")
                champion_model = None if champion is None else loaded(
                    champion.artifact_uri, champion.manifest_digest, "champion"
                )
            try:
                result, y_true, y_pred = evaluate(
                    test, candidate, champion_model, validator, settings, metric_function(self.metric), self.log.info
                )
            except ContractViolation as exc:
                raise AirflowFailException(
                    f"candidate {self.artifact_uri} breaks the serving contract of {self.response_schema}: {exc}"
                ) from None
            except ValueError as exc:  # no label column, an empty test set: retrying changes nothing
                raise AirflowFailException(str(exc)) from None
            # what the monitor compares this version's serving with, once it is the champion (docs/monitoring.md)
            record_reference(store, self.registry_uri, version_id_for(context["run_id"], run_interval(context)[1]),
                             y_pred, test.drop(columns=[self.label_column]))
            if champion is not None:
                result["champion"]["version_id"] = champion.version_id
                if result["champion"]["schema_violations"]:  # a champion that breaks the contract is replaceable
                    self.log.warning("champion %s: %s", champion.version_id, "; ".join(result["champion"]["messages"]))

            plots, pngs = [], {}
            out = self.store(self.output_prefix)
            for path in write_diagnostics(problem_kind(self.metric, y_true), y_true, y_pred, local / "plots"):
                uri = join_uri(self.output_prefix, path.name)
                out.put_file(str(path), uri)
                plots.append(uri)
                pngs[path.name] = path.read_bytes()
        result["metrics_uri"] = join_uri(self.output_prefix, "metrics.json")
        result["plots"] = plots
        metrics_file = {**result, "direction": self.direction}
        out.write_bytes(result["metrics_uri"], json.dumps(metrics_file, indent=2).encode())
        result["report_uri"] = self._write_report(result, pngs, context, out)
        self.log.info("evaluation: %s", json.dumps(result))
        return result

    def _write_report(self, result: dict[str, Any], pngs: dict[str, bytes], context: Any, out: Any) -> str:
        """report.md and report.html beside metrics.json, the headline in the task log; the HTML's URI."""
        from airflow_mlprovider.evaluation.report import headline, render_html, render_markdown

        verdict = None
        if self.promote_rule is not None:
            decision = judge_evaluation(result, self.direction, Promote(**self.promote_rule))
            verdict = {"promote": decision.promote, "reason": decision.reason}
        model, run_id = self.registry_uri.rstrip("/").rsplit("/", 1)[-1], context["run_id"]  # <root>/<model>
        markdown = render_markdown(model, run_id, result, verdict, list(pngs))
        out.write_bytes(join_uri(self.output_prefix, "report.md"), markdown.encode())
        report_uri = join_uri(self.output_prefix, "report.html")
        out.write_bytes(report_uri, render_html(model, run_id, result, verdict, pngs).encode())
        self.log.info("%s\n%s\nreport: %s", headline(result, verdict), markdown, report_uri)
        return report_uri


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
    :param confidence: promote only when the margins hold for the lower end of the gain's interval at this
        confidence (the evaluation's paired comparison); None: for the point estimates.
    :param min_test_rows: below this many test rows no candidate replaces a champion.
    :param on_tie: "keep" or "promote": what a candidate whose metric equals the champion's does.
    :param spec_digest: recorded with the version (the factory passes the spec's hash).
    :return: `{"promote", "reason", "version_id"}`.
    """

    template_fields: Sequence[str] = ("artifact_uri", "evaluation", "registry_uri")

    def __init__(
        self, *, model: str, registry_uri: str, artifact_uri: str, evaluation: dict[str, Any],
        direction: str | None = None, min_relative_improvement: float = 0.0, min_absolute_improvement: float = 0.0,
        first_model_threshold: float | None = None, confidence: float | None = None, min_test_rows: int = 0,
        on_tie: str = "keep", spec_digest: str = "", **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.registry_uri = registry_uri
        self.artifact_uri = artifact_uri
        self.evaluation = evaluation
        self.direction = direction
        self.rule = Promote(
            min_relative_improvement, min_absolute_improvement, first_model_threshold, confidence, min_test_rows,
            on_tie,
        )
        self.spec_digest = spec_digest

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.evaluation.report import headline

        evaluation = self.evaluation
        store = self.store(self.registry_uri)
        registry = ModelRegistry(store, self.registry_uri)
        candidate = candidate_version(self.model, self.artifact_uri, evaluation, context, store, self.spec_digest)
        champion = evaluation["champion"]
        decision = judge_evaluation(evaluation, self.direction, self.rule)
        promote, reason, event = decision.promote, decision.reason, "rejected"
        if promote:
            allowed, why = may_replace(registry.champion(), candidate)
            if not allowed:
                promote, reason, event = False, why, "not_promoted_backfill"
        result = {"promote": promote, "reason": reason, "version_id": candidate.version_id}
        self.notifier.event(
            self.model, "decide", f"{candidate.version_id}: {reason}\n{headline(evaluation, result)}",
            link=evaluation.get("report_uri"),
        )
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
