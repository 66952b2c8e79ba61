"""The AWS example's generated DAG run whole with dag.test() on the cloud backends: extract from Snowflake
(fakesnow, through the real connector), training as a SageMaker job, artifacts and registry on S3, a SageMaker
endpoint with production variants, and the rollout judged on CloudWatch's per-variant metrics (all moto's server).

The metrics that SageMaker would publish are put into moto's CloudWatch by a thread following the endpoint's
weights: a candidate with a high error rate is rolled back; one as good as the champion, with a shadow stage, is
health-checked as a production variant, shadows the champion as a SageMaker shadow variant (the thread plays its
mirrored traffic too), passes, and is rolled out from a production variant at 0 % to completion. (One test, three
runs: each run waits for whole CloudWatch minutes.)
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backends.aws.test_aws_sagemaker_serving import forget_endpoint
from tests.integration.aws_fixtures import (  # noqa: F401  (fixtures)
    AWS_EXAMPLES,
    MODEL,
    aws_dags_folder,
    aws_standin,
    s3_bucket,
    sagemaker_metrics,
    snowflake_sales,
)
from tests.integration.conftest import build, edit_spec, states

SHADOW = {"min_requests": 300, "check_interval": 1, "max_duration": "4m"}


@pytest.fixture(autouse=True)
def no_example_endpoint(aws_standin) -> None:
    """Each test starts without the example's endpoint (moto's server, and so the endpoint, outlive a test)."""
    forget_endpoint(aws_standin.client("sagemaker"), yaml.safe_load(
        (AWS_EXAMPLES / f"{MODEL}.model.yaml").read_text())["serving"]["endpoint"])


def _configure(*, max_iter: int, **sections: dict):
    def edit(doc: dict) -> None:
        doc.update(sections)
        doc["code"]["params"] = {"max_iter": max_iter, "learning_rate": 0.1}
        doc["promote"] = {"min_relative_improvement": 0}
        # A fast policy for a test: two steps, checks every second, small minimum counts; the example's guardrail.
        doc["rollout"] = {
            "steps": [50, 100], "check_interval": 1, "min_requests": 60, "step_timeout": "4m", "timeout": "8m",
            "guardrails": {"latency_p99_ratio": 1.5},
        }

    return edit


def _run_dag(folder: Path, day: int, max_iter: int, standin, **sections: dict) -> Any:
    """One run of the DAG for 2025-06-<day> (with extra spec `sections`); the candidate's health check gets
    answers (moto runs no model). The DagRun."""
    from airflow_mlprovider.operators.serving import HEALTH_CHECK_EXAMPLES

    edit_spec(folder, MODEL, _configure(max_iter=max_iter, **sections))
    standin.queue_invoke_results(
        [{"Body": json.dumps({"prediction": 100.0}), "ContentType": "application/json"}] * HEALTH_CHECK_EXAMPLES
    )
    return build(folder, MODEL).test(logical_date=datetime(2025, 6, day, tzinfo=timezone.utc))


def _run(folder: Path, day: int, max_iter: int, standin, **sections: dict) -> dict[str, str]:
    """The run's state and its tasks' states."""
    run = _run_dag(folder, day, max_iter, standin, **sections)
    return {"state": str(run.state), **states(run)}


def _sagemaker_resources(standin, endpoint: str) -> tuple[list[str], list[str], dict[str, str]]:
    """(the endpoint's configs, its models, its variant -> model) in moto's SageMaker (shared by the session:
    names tell this endpoint's resources apart)."""
    sagemaker = standin.client("sagemaker")
    listed = sagemaker.list_endpoint_configs(NameContains=endpoint)["EndpointConfigs"]
    configs = [c["EndpointConfigName"] for c in listed]
    models = [m["ModelName"] for m in sagemaker.list_models(NameContains=endpoint)["Models"]]
    current = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=current)["ProductionVariants"]
    return configs, models, {v["VariantName"]: v["ModelName"] for v in variants}


def test_cloudwatch_metrics_roll_back_a_bad_candidate_and_a_good_one_shadows_then_completes(
    aws_dags_folder: Path, aws_standin, snowflake_sales: int, sagemaker_metrics
) -> None:
    from airflow_mlprovider.backends import serving_for, store_for
    from airflow_mlprovider.operators.serving import variant_name
    from airflow_mlprovider.registry.store import ModelRegistry
    from airflow_mlprovider.spec import load_spec_file

    spec = load_spec_file(aws_dags_folder / f"{MODEL}.model.yaml")
    assert (spec.platform, spec.train.compute, spec.warehouse.type) == ("aws", "sagemaker", "snowflake")
    registry, serving = ModelRegistry(store_for(spec), spec.model_root), serving_for(spec)
    endpoint = spec.serving.endpoint

    # 1. A weak first model: nothing to compare with, it is finalized at 100 % at once.
    first = _run(aws_dags_folder, 1, 3, aws_standin)
    assert first["state"] == "success", first
    champion = registry.champion()
    assert champion is not None and champion.artifact_uri.startswith(spec.artifact_root)
    champion_variant = variant_name(champion.version_id)
    assert serving.describe(endpoint) == {champion_variant: 100.0}

    # 2. A better model whose variant fails 12 % of its requests while the champion fails 1 %: rolled back.
    sagemaker_metrics.default_error_rate = 0.12
    sagemaker_metrics.error_rates = {champion_variant: 0.01}
    bad = _run(aws_dags_folder, 2, 200, aws_standin)
    assert bad["rollout.rollback"] == "success" and bad["rollout.finalize"] == "skipped", bad
    assert registry.champion().version_id == champion.version_id
    assert serving.describe(endpoint) == {champion_variant: 100.0}
    (rolled_back,) = [v for v in registry.versions() if v.version_id != champion.version_id]
    rollback = registry.events(rolled_back.version_id)[-1]
    # decided on the error rates, not forced by a failure, a timeout or missing metrics
    assert rollback["event"] == "rolled_back" and rollback["details"]["decided"] is True, rollback
    assert "5xx" in rollback["reason"] and "log-likelihood ratio" in rollback["reason"], rollback
    configs, models, variants = _sagemaker_resources(aws_standin, endpoint)
    assert list(variants) == [champion_variant]
    assert len(configs) == 1 and models == list(variants.values()), (configs, models)
    assert sagemaker_metrics.mirrored_to == set()

    # 3. A better model as reliable as the champion (1 % errors each), with a shadow stage: health-checked as a
    # production variant, mirrored as a SageMaker shadow variant and judged (errors from CloudWatch, predictions
    # from both variants' data capture: the example captures 10 %), then every step passes and it is finalized.
    sagemaker_metrics.default_error_rate = 0.01
    sagemaker_metrics.error_rates = {}
    run = _run_dag(aws_dags_folder, 3, 200, aws_standin, shadow=SHADOW)
    good = {"state": str(run.state), **states(run)}
    assert good["state"] == "success", good
    assert good["promote.health_check"] == good["shadow.shadow"] == good["rollout.finalize"] == "success", good
    [shadow_task] = [ti for ti in run.get_task_instances() if ti.task_id == "shadow.shadow"]
    verdict = shadow_task.xcom_pull(task_ids="shadow.shadow")
    assert verdict["figures"]["pairs"] > 0 and verdict["figures"]["mean_abs_difference"] == 0.0, verdict
    new_champion = registry.champion()
    assert new_champion.version_id not in {champion.version_id, rolled_back.version_id}
    new_variant = variant_name(new_champion.version_id)
    assert sagemaker_metrics.mirrored_to == {new_variant}
    promoted = registry.events(new_champion.version_id)[-1]
    # the decision is final at the last partial step (50 %), compared with the champion in the same windows
    assert promoted["event"] == "promoted" and "rollout completed: step 50% passed" in promoted["reason"], promoted
    assert serving.describe(endpoint) == {new_variant: 100.0}
    configs, models, variants = _sagemaker_resources(aws_standin, endpoint)
    assert list(variants) == [new_variant]
    assert len(configs) == 1 and models == list(variants.values()), (configs, models)
    current = aws_standin.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert "ShadowProductionVariants" not in current
    job_names = spec.model.replace("_", "-")  # training jobs are named after the model, in SageMaker's characters
    jobs = aws_standin.client("sagemaker").list_training_jobs(NameContains=job_names)["TrainingJobSummaries"]
    assert [j["TrainingJobStatus"] for j in jobs] == ["Completed"] * 3, "each run trained in a SageMaker job"
