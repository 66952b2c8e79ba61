"""The AWS example's DAG with a shadow stage, run whole with dag.test() on moto: the candidate is health-checked as a
production variant, shadows the champion as a SageMaker shadow variant (the metrics thread plays its mirrored
traffic into CloudWatch as SageMaker publishes it), passes, and is rolled out from a production variant at 0 %."""

from __future__ import annotations

from pathlib import Path

from tests.integration.aws_fixtures import (  # noqa: F401  (fixtures)
    MODEL,
    aws_dags_folder,
    aws_standin,
    s3_bucket,
    sagemaker_metrics,
    snowflake_sales,
)
from tests.integration.test_aws_lifecycle import _run, _sagemaker_resources

SHADOW = {"min_requests": 300, "check_interval": 1, "max_duration": "4m"}


def test_a_candidate_shadows_the_champion_on_sagemaker_then_is_rolled_out(
    aws_dags_folder: Path, aws_standin, snowflake_sales: int, sagemaker_metrics
) -> None:
    from airflow_mlprovider.backends import serving_for, store_for
    from airflow_mlprovider.operators.serving import variant_name
    from airflow_mlprovider.registry.store import ModelRegistry
    from airflow_mlprovider.spec import load_spec_file

    spec = load_spec_file(aws_dags_folder / f"{MODEL}.model.yaml")
    registry, serving = ModelRegistry(store_for(spec), spec.model_root), serving_for(spec)
    endpoint = spec.serving.endpoint

    # 1. The first model: nothing to shadow, it is finalized at 100 % at once.
    first = _run(aws_dags_folder, 1, 3, aws_standin, shadow=SHADOW)
    assert first["state"] == "success" and first["shadow.shadow"] == "success", first
    champion = variant_name(registry.champion().version_id)
    assert sagemaker_metrics.mirrored_to == set()

    # 2. A better model, as reliable as the champion: mirrored, judged, then rolled out and finalized.
    second = _run(aws_dags_folder, 2, 200, aws_standin, shadow=SHADOW)
    assert second["state"] == "success", second
    assert second["promote.health_check"] == second["shadow.shadow"] == second["rollout.finalize"] == "success", second
    new_champion = registry.champion()
    candidate = variant_name(new_champion.version_id)
    assert candidate != champion and sagemaker_metrics.mirrored_to == {candidate}
    assert registry.events(new_champion.version_id)[-1]["event"] == "promoted"
    assert serving.describe(endpoint) == {candidate: 100.0}
    configs, models, variants = _sagemaker_resources(aws_standin, endpoint)
    assert list(variants) == [candidate]
    assert len(configs) == 1 and models == list(variants.values()), (configs, models)
    current = aws_standin.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert "ShadowProductionVariants" not in current
