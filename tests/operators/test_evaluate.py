from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, DownstreamTasksSkipped

from airflow_mlprovider.artifacts import TamperedArtifactError
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.evaluation.predictions import json_safe
from airflow_mlprovider.operators.evaluate import DecideOperator, EvaluateOperator
from airflow_mlprovider.operators.register import candidate_version
from tests.registry.run_fixtures import make_artifact, make_context, make_spec, make_test_set, registry_of, utc

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def digest_of(artifact_uri: str) -> str:
    return json.loads(FilesystemArtifactStore().read_bytes(f"{artifact_uri}/MANIFEST.json"))["digest"]


def evaluate(spec: dict, context: dict, *, manifest_digest: str | None = None) -> dict:
    """EvaluateOperator built from the spec's values and the upstream results (split, train) of the context."""
    results, ev = context["ti"].xcoms, spec["evaluate"]
    artifact_uri = results["train"]["artifact_uri"]
    return EvaluateOperator(
        task_id="evaluate", test_uri=results["split"]["test_uri"], artifact_uri=artifact_uri,
        manifest_digest=manifest_digest or digest_of(artifact_uri),
        registry_uri=f"{spec['artifact_root']}/{spec['model']}",
        output_prefix=f"{spec['artifact_root']}/{spec['model']}/runs/{run_key(context['run_id'])}/evaluation",
        label_column=ev["label"], metric=ev["metric"], response_schema=spec["code"]["response_schema"],
        max_rows=ev.get("max_rows", 5000),
    ).execute(context)


def crown(spec: dict, tmp_path: Path, *, bias: float, day: int, broken: bool = False) -> str:
    """Register and promote a champion trained up to 2024-01-`day`; returns its version id."""
    artifact_uri = make_artifact(tmp_path, f"champion-{day}", bias=bias, broken=broken)
    evaluation = {"candidate": {"metric": "rmse", "value": abs(bias - 1.0), "schema_violations": 0}}
    context = make_context({}, utc(2024, 1, day), run_id=f"champion-run-{day}")
    registry = registry_of(spec)
    version = registry.register(
        candidate_version(spec["model"], artifact_uri, evaluation, context, FilesystemArtifactStore()))
    assert registry.promote(version.version_id, "seeded champion").promoted
    return version.version_id


@pytest.fixture
def spec(tmp_path: Path) -> dict:
    return make_spec(tmp_path)


@pytest.fixture
def upstream(tmp_path: Path) -> dict:
    return {"split": {"test_uri": make_test_set(tmp_path)}, "train": {"artifact_uri": make_artifact(tmp_path, "candidate")}}


def test_first_model_is_scored_alone_with_plots_and_metrics_file(spec, upstream) -> None:
    context = make_context(upstream, utc(2024, 1, 10))
    result = evaluate(spec, context)
    assert result["candidate"] == {"metric": "rmse", "value": 0.0, "schema_violations": 0, "path": "per-row"}
    assert result["champion"] is None and result["comparison"] is None and result["rows"] == result["test_rows"] == 40
    store = FilesystemArtifactStore()
    run = f"{spec['artifact_root']}/linear/runs/scheduled__2024-01-10T00_00_00_00_00/evaluation"
    assert result["metrics_uri"] == f"{run}/metrics.json"
    written = json.loads(store.read_bytes(result["metrics_uri"]))
    assert written["candidate"] == result["candidate"] and written["direction"] == "minimize"
    assert result["plots"] == [f"{run}/predicted_vs_actual.png", f"{run}/residuals.png"]
    for uri in result["plots"]:
        assert store.read_bytes(uri)[:8] == PNG_SIGNATURE
    # the readable report beside it: no verdict without the rule, plots embedded (HTML) or linked (Markdown)
    assert result["report_uri"] == f"{run}/report.html"
    page = store.read_bytes(result["report_uri"]).decode()
    assert "rmse: candidate 0 (no champion yet)" in page and page.count("data:image/png;base64,") == 2
    markdown = store.read_bytes(f"{run}/report.md").decode()
    assert "![residuals.png](residuals.png)" in markdown and "## Verdict" not in markdown


def test_the_report_shows_both_models_the_interval_and_the_rules_verdict(spec, upstream, tmp_path) -> None:
    from dataclasses import asdict

    from airflow_mlprovider.operators.evaluate import EvaluationReportLink
    from airflow_mlprovider.spec.model import Promote

    champion_id = crown(spec, tmp_path, bias=0.5, day=5)
    context = make_context(upstream, utc(2024, 1, 10))
    results, ev = context["ti"].xcoms, spec["evaluate"]
    operator = EvaluateOperator(
        task_id="evaluate", test_uri=results["split"]["test_uri"], artifact_uri=results["train"]["artifact_uri"],
        manifest_digest=digest_of(results["train"]["artifact_uri"]), registry_uri=f"{spec['artifact_root']}/linear",
        output_prefix=f"{spec['artifact_root']}/linear/runs/r/evaluation", label_column=ev["label"],
        metric=ev["metric"], response_schema=spec["code"]["response_schema"], confidence=0.95,
        promote_rule=asdict(Promote(confidence=0.95, min_relative_improvement=0.01)),
    )
    assert [link.name for link in operator.operator_extra_links] == ["Evaluation report"]
    assert isinstance(operator.operator_extra_links[0], EvaluationReportLink)
    result = operator.execute(context)
    markdown = FilesystemArtifactStore().read_bytes(result["report_uri"].replace(".html", ".md")).decode()
    assert f"| version | this run | {champion_id} |" in markdown
    assert "| rmse | 0 | 0.5 |" in markdown and "95% interval [" in markdown
    assert "## Verdict\n\nPromote: candidate 0 vs champion 0.5 (minimize) on 40 paired rows" in markdown
    page = FilesystemArtifactStore().read_bytes(result["report_uri"]).decode()
    assert '<p class="promote"><b>Promote</b>' in page and "-&gt; PROMOTE" in page


def test_report_links_open_local_files_and_s3_objects_in_the_console() -> None:
    from airflow_mlprovider.evaluation.report import report_link

    assert report_link("file:///a/b/report.html") == "file:///a/b/report.html"
    assert report_link("s3://bucket/m/runs/r 1/evaluation/report.html") == (
        "https://s3.console.aws.amazon.com/s3/object/bucket?prefix=m/runs/r%201/evaluation/report.html")


def test_candidate_and_champion_scored_on_the_same_rows(spec, upstream, tmp_path) -> None:
    champion_id = crown(spec, tmp_path, bias=0.0, day=5)  # predicts 2x: off by exactly 1 everywhere
    result = evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    assert result["candidate"]["value"] == 0.0
    assert result["champion"] == {
        "metric": "rmse", "value": 1.0, "schema_violations": 0, "messages": [], "path": "per-row",
        "version_id": champion_id,
    }
    comparison = result["comparison"]
    assert comparison["rows"] == 40 and comparison["gain"] == 1.0 and 0 < comparison["low"] <= 1.0


def test_sample_is_deterministic_and_bounded(tmp_path) -> None:
    spec = make_spec(tmp_path, evaluate={"metric": "mae", "label": "y", "max_rows": 25})
    upstream = {"split": {"test_uri": make_test_set(tmp_path, rows=300)},
                "train": {"artifact_uri": make_artifact(tmp_path, "candidate", bias=0.5)}}
    first = evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    again = evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    assert first["rows"] == 25 and first == again
    assert first["candidate"]["value"] == pytest.approx(0.5)


def test_candidate_breaking_the_response_schema_fails_evaluation(spec, tmp_path) -> None:
    upstream = {"split": {"test_uri": make_test_set(tmp_path)},
                "train": {"artifact_uri": make_artifact(tmp_path, "broken", broken=True)}}
    with pytest.raises(AirflowFailException, match="breaks the serving contract .*: 40 of 40") as failure:
        evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    assert "row 0: $.prediction: 'not a number' is not of type 'number'" in str(failure.value)
    assert str(failure.value).count("row ") == 5  # the first five messages, not all forty


def test_champion_breaking_the_contract_is_reported_not_fatal(spec, upstream, tmp_path) -> None:
    # e.g. the response schema was tightened since the champion was trained
    crown(spec, tmp_path, bias=0.0, day=5, broken=True)
    result = evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    assert result["champion"]["value"] is None and result["champion"]["schema_violations"] == 40
    assert len(result["champion"]["messages"]) == 5
    context = evaluated_context(spec, upstream, 10)
    decision = decide_in_dag(spec, context).execute(context)
    assert decision["promote"] and "champion metric is nan" in decision["reason"]


def test_missing_label_names_the_columns(tmp_path, upstream) -> None:
    spec = make_spec(tmp_path, evaluate={"metric": "rmse", "label": "target"})
    with pytest.raises(AirflowFailException, match="'target' is not a test set column; columns: x, day, store"):
        evaluate(spec, make_context(upstream, utc(2024, 1, 10)))


def test_an_artifact_not_matching_the_given_manifest_digest_is_refused(spec, upstream) -> None:
    with pytest.raises(TamperedArtifactError, match="not the registered digest f00d"):
        evaluate(spec, make_context(upstream, utc(2024, 1, 10)), manifest_digest="f00d")


@pytest.mark.parametrize("damage, failure", [
    ("{not json", AirflowFailException),  # load() raises JSONDecodeError on every try: not retried
    (None, FileNotFoundError),  # an OS-level error, even inside load(): the task keeps its retries
])
def test_an_error_in_load_fails_without_retries_unless_it_is_os_level(spec, upstream, damage, failure) -> None:
    from airflow_mlprovider.artifacts import write_manifest

    folder = Path(upstream["train"]["artifact_uri"].removeprefix("file://"))
    params = folder / "model" / "params.json"
    if damage is None:
        params.unlink()
    else:
        params.write_text(damage)
    write_manifest(folder)  # a consistent artifact whose load() fails
    with pytest.raises(failure) as raised:
        evaluate(spec, make_context(upstream, utc(2024, 1, 5)))
    if failure is AirflowFailException:
        assert "load() in" in str(raised.value) and "raised JSONDecodeError" in str(raised.value)
        assert "not retried" in str(raised.value)


def test_json_safe_cells() -> None:
    assert json_safe(np.int64(3)) == 3 and type(json_safe(np.int64(3))) is int
    assert json_safe(np.float32(0.5)) == 0.5 and json_safe(float("nan")) is None
    assert json_safe(pd.Timestamp("2024-01-02 03:04:05")) == "2024-01-02T03:04:05"
    assert json_safe(pd.NaT) is None and json_safe(pd.NA) is None and json_safe(None) is None
    assert json_safe(date(2024, 1, 2)) == "2024-01-02" and json_safe(Decimal("1.25")) == 1.25
    assert json_safe(np.array([1, 2])) == [1, 2] and json_safe(np.bool_(True)) is True
    assert json_safe("text") == "text" and not math.isnan(json_safe(1.0))


# --- decide -------------------------------------------------------------------------------------------------


def decide_in_dag(spec: dict, context: dict) -> DecideOperator:
    """Decide on the context's train and evaluate results, with two downstream tasks as the generated DAG has."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    results = context["ti"].xcoms
    with DAG("linear", schedule=None, start_date=utc(2024, 1, 1)):
        decide = DecideOperator(
            task_id="decide", model=spec["model"], registry_uri=f"{spec['artifact_root']}/{spec['model']}",
            artifact_uri=results["train"]["artifact_uri"], evaluation=results["evaluate"],
            **spec.get("promote", {}),
        )
        decide >> EmptyOperator(task_id="register") >> EmptyOperator(task_id="deploy")
    return decide


def evaluated_context(spec: dict, upstream: dict, day: int) -> dict:
    context = make_context(upstream, utc(2024, 1, day))
    context["ti"].xcoms["evaluate"] = evaluate(spec, context)
    return context


def test_better_candidate_proceeds(spec, upstream, tmp_path) -> None:
    crown(spec, tmp_path, bias=0.0, day=5)
    context = evaluated_context(spec, upstream, 10)
    result = decide_in_dag(spec, context).execute(context)
    assert result["promote"] and "candidate 0 vs champion 1 (minimize)" in result["reason"]
    assert result["version_id"].startswith("20240110T000000-")
    assert context["ti"].pushed == {}
    assert registry_of(spec).get(result["version_id"]) is None  # REGISTER records it, not DECIDE


def test_the_decision_is_notified_with_the_figures_and_the_report(spec, upstream, tmp_path, caplog) -> None:
    import logging

    crown(spec, tmp_path, bias=0.0, day=5)
    context = evaluated_context(spec, upstream, 10)
    with caplog.at_level(logging.INFO, logger="airflow_mlprovider.notifications.lifecycle"):
        decide_in_dag(spec, context).execute(context)
    [message] = [r.getMessage() for r in caplog.records if "] decide:" in r.getMessage()]
    assert "rmse: candidate 0 vs champion" in message and "-> PROMOTE" in message
    assert message.endswith(f"report: {context['ti'].xcoms['evaluate']['report_uri']}")


def test_worse_candidate_is_registered_rejected_and_downstream_skipped(spec, tmp_path) -> None:
    champion_id = crown(spec, tmp_path, bias=1.0, day=5)  # a perfect champion
    upstream = {"split": {"test_uri": make_test_set(tmp_path)},
                "train": {"artifact_uri": make_artifact(tmp_path, "candidate", bias=3.0)}}
    context = evaluated_context(spec, upstream, 10)
    decide = decide_in_dag(spec, context)
    for _attempt in range(2):  # a retried DECIDE records the rejection once
        with pytest.raises(DownstreamTasksSkipped) as skipped:
            decide.execute(context)
    assert sorted(skipped.value.tasks) == ["deploy", "register"]
    result = context["ti"].pushed["return_value"]
    assert not result["promote"] and "keep the champion" in result["reason"]
    registry = registry_of(spec)
    assert registry.get(result["version_id"]).metric_value == 2.0
    [event] = registry.events(result["version_id"])
    assert event["event"] == "rejected" and event["reason"] == result["reason"]
    assert event["details"] == {"candidate": 2.0, "champion": 0.0, "champion_version": champion_id}
    assert registry.champion().version_id == champion_id


def test_better_backfill_is_not_promoted(spec, upstream, tmp_path) -> None:
    champion_id = crown(spec, tmp_path, bias=0.0, day=20)
    context = evaluated_context(spec, upstream, 10)  # better metric, older data
    with pytest.raises(DownstreamTasksSkipped):
        decide_in_dag(spec, context).execute(context)
    result = context["ti"].pushed["return_value"]
    assert not result["promote"] and "a backfill" in result["reason"]
    registry = registry_of(spec)
    assert [e["event"] for e in registry.events(result["version_id"])] == ["not_promoted_backfill"]
    assert registry.champion().version_id == champion_id


def test_first_model_below_the_bar_is_rejected(tmp_path, upstream) -> None:
    spec = make_spec(tmp_path, promote={"first_model_threshold": 0.1})
    upstream["train"] = {"artifact_uri": make_artifact(tmp_path, "weak", bias=2.0)}
    context = evaluated_context(spec, upstream, 10)
    with pytest.raises(DownstreamTasksSkipped):
        decide_in_dag(spec, context).execute(context)
    assert "does not clear first_model_threshold (<= 0.1)" in context["ti"].pushed["return_value"]["reason"]


def test_a_model_with_load_batch_is_scored_on_every_row(spec, tmp_path) -> None:
    """The batch path: all 3,000 rows scored, 100 checked through predict(request), paired with the champion."""
    upstream = {"split": {"test_uri": make_test_set(tmp_path, rows=3000)},
                "train": {"artifact_uri": make_artifact(tmp_path, "candidate", batch=True)}}
    champion = make_artifact(tmp_path, "champion-batch", bias=0.5, batch=True)
    registry = registry_of(spec)
    version = registry.register(candidate_version(
        spec["model"], champion, {"candidate": {"metric": "rmse", "value": 0.5, "schema_violations": 0}},
        make_context({}, utc(2024, 1, 5)),
        FilesystemArtifactStore()))
    registry.promote(version.version_id, "seeded champion")
    result = evaluate(spec, make_context(upstream, utc(2024, 1, 10)))
    assert result["rows"] == result["comparison"]["rows"] == 3000
    assert result["candidate"]["path"] == result["champion"]["path"] == "batch"
    assert result["comparison"]["gain"] == pytest.approx(0.5)


def test_decide_with_confidence_judges_the_interval(tmp_path, upstream) -> None:
    spec = make_spec(tmp_path, promote={"confidence": 0.95})
    champion_id = crown(spec, tmp_path, bias=0.0, day=5)
    context = make_context(upstream, utc(2024, 1, 10))
    context["ti"].xcoms["evaluate"] = {  # better on the point estimate, within the noise
        "test_rows": 40, "rows": 40,
        "candidate": {"metric": "rmse", "value": 0.9, "schema_violations": 0},
        "champion": {"metric": "rmse", "value": 1.0, "schema_violations": 0, "version_id": champion_id},
        "comparison": {"rows": 40, "gain": 0.1, "low": -0.05, "high": 0.25, "confidence": 0.95, "method": "DeLong"},
    }
    with pytest.raises(DownstreamTasksSkipped):
        decide_in_dag(spec, context).execute(context)
    reason = context["ti"].pushed["return_value"]["reason"]
    assert "95% confidence bound -0.05" in reason and "keep the champion" in reason


def test_small_test_sets_do_not_replace_a_champion(tmp_path, upstream) -> None:
    spec = make_spec(tmp_path, promote={"min_test_rows": 100})
    crown(spec, tmp_path, bias=0.0, day=5)
    context = evaluated_context(spec, upstream, 10)  # 40 rows, a far better candidate
    with pytest.raises(DownstreamTasksSkipped):
        decide_in_dag(spec, context).execute(context)
    assert "40 rows, fewer than promote.min_test_rows (100)" in context["ti"].pushed["return_value"]["reason"]
