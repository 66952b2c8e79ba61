"""The shadow stage on SageMaker: DeployOperator and ShadowOperator against moto's server (with the stand-in's
shadow variants), judged by the real ShadowTrigger on CloudWatch datapoints put into moto as SageMaker would
publish them. Each ending leaves the endpoint in a known config."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from aws_standin import Invocation

from airflow_mlprovider.operators.serving import DeployOperator
from airflow_mlprovider.operators.shadow import ShadowOperator
from airflow_mlprovider.triggers.sagemaker_endpoint import EndpointUpdateTrigger
from airflow_mlprovider.triggers.shadow import ShadowTrigger
from tests.backends.aws.test_aws_cloudwatch_metrics import _put_traffic
from tests.backends.aws.test_aws_endpoint_deferral import (  # noqa: F401  (sagemaker_model is a fixture)
    context,
    event_of,
    keeper_arguments,
    run_deferring,
    sagemaker_model,
)

CHAMPION_TRAFFIC = (1000, 5)  # requests and 5xx per minute: 0.5 %


def endpoint_variants(aws_standin, endpoint: str) -> dict[str, dict[str, float]]:
    """The endpoint's config: {"ProductionVariants" | "ShadowProductionVariants": {variant: initial weight}}."""
    sagemaker = aws_standin.client("sagemaker")
    name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    return {kind: {v["VariantName"]: v["InitialVariantWeight"] for v in config[kind]}
            for kind in ("ProductionVariants", "ShadowProductionVariants") if kind in config}


class RecordingShadowOperator(ShadowOperator):
    """The shadow operator, its notifications kept as (event, message, alert)."""

    def announce(self, model: str, event: str, message: str, alert: bool = False) -> None:
        self.announced = [*getattr(self, "announced", []), (event, message, alert)]


def judged(m, aws_standin, candidate_per_minute: tuple[int, int],
           captured: Callable[[str, str, float], None] | None = None) -> tuple[ShadowOperator, dict[str, Any], dict]:
    """Deploy a candidate for a shadow stage, start it, and let the ShadowTrigger judge 8 minutes of mirrored
    traffic: the shadow operator, what deploy returned and the verdict event. `captured(champion, candidate,
    started)` writes both variants' data capture of the mirrored minutes (the endpoint then captures all calls)."""
    if captured is not None:
        m.hosting = dataclasses.replace(m.hosting, data_capture_percent=100)
    champion, candidate = m.register(2), m.register(3)
    m.registry.promote(champion.version_id, "first model")
    deployed, _ = run_deferring(
        DeployOperator(task_id="deploy", version_id=candidate.version_id, shadow=True, **keeper_arguments(m)),
        context())
    assert endpoint_variants(aws_standin, m.endpoint) == {  # health-checkable: TargetVariant needs a production one
        "ProductionVariants": {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}}

    shadow = RecordingShadowOperator(
        task_id="shadow", endpoint=m.endpoint, sagemaker=m.hosting, aws_conn_id=m.spec.aws_conn_id, deferrable=True,
        candidate=deployed["candidate"], champion=deployed["champion"], generation=deployed["generation"],
        shadow_policy={"min_requests": 2000, "check_interval": "0.05s"}, metric="rmse", model=m.spec.model,
    )
    with pytest.raises(TaskDeferred) as switching:
        shadow.execute(context())
    assert isinstance(switching.value.trigger, EndpointUpdateTrigger)
    assert switching.value.method_name == "mirror_started"
    with pytest.raises(TaskDeferred) as mirroring:
        shadow.mirror_started(context(), event_of(switching.value.trigger))
    assert isinstance(mirroring.value.trigger, ShadowTrigger)
    assert endpoint_variants(aws_standin, m.endpoint) == {
        "ProductionVariants": {deployed["champion"]: 100.0}, "ShadowProductionVariants": {deployed["candidate"]: 100.0}}

    # the mirror has run for 12 minutes: SageMaker published 8 whole minutes of both variants, 4 or more minutes ago
    started = 60 * (time.time() // 60) - 12 * 60
    _put_traffic(aws_standin.client("cloudwatch"), m.endpoint, started + 60, 8,
                 {deployed["champion"]: CHAMPION_TRAFFIC, deployed["candidate"]: candidate_per_minute})
    if captured is not None:
        captured(deployed["champion"], deployed["candidate"], started)
    _, kwargs = mirroring.value.trigger.serialize()
    verdict = event_of(ShadowTrigger(**{**kwargs, "started_at": started}))
    assert verdict["figures"]["candidate"]["requests"] == verdict["figures"]["champion"]["requests"] == 8000
    return shadow, deployed, verdict


def concluded(shadow: ShadowOperator, verdict: dict[str, Any]) -> dict[str, Any]:
    """execute_complete with the verdict, then the wait for the endpoint change it starts, as the triggerer would."""
    with pytest.raises(TaskDeferred) as changing:
        shadow.execute_complete(context(), verdict)
    assert isinstance(changing.value.trigger, EndpointUpdateTrigger) and changing.value.method_name == "concluded"
    return shadow.concluded(context(), event_of(changing.value.trigger))


def test_a_candidate_with_more_5xx_is_blocked_and_its_shadow_removed(sagemaker_model, aws_standin) -> None:
    m = sagemaker_model
    shadow, deployed, verdict = judged(m, aws_standin, (1000, 60))  # 6 % 5xx against the champion's 0.5 %
    assert verdict["action"] == "fail" and "candidate 5xx 6.00% of 8,000 vs champion 0.50% of 8,000" in verdict["reason"]
    assert "prediction agreement not measured" in verdict["figures"]["agreement_summary"]
    with pytest.raises(AirflowFailException, match="shadow stage failed: candidate 5xx"):
        concluded(shadow, verdict)
    (start, _), (fail, alert) = [(message, alert) for _, message, alert in shadow.announced]
    assert "prediction agreement and latency are not judged on SageMaker" in start
    assert alert and f"{deployed['candidate']} removed; {deployed['champion']} keeps serving 100 %" in fail
    assert endpoint_variants(aws_standin, m.endpoint) == {"ProductionVariants": {deployed["champion"]: 100.0}}
    models = aws_standin.client("sagemaker").list_models(NameContains=m.endpoint)["Models"]
    assert [model["ModelName"] for model in models if deployed["candidate"] in model["ModelName"]] == []


def test_a_healthy_candidate_passes_and_returns_as_a_production_variant_at_zero(sagemaker_model, aws_standin) -> None:
    m = sagemaker_model
    shadow, deployed, verdict = judged(m, aws_standin, CHAMPION_TRAFFIC)
    assert verdict["action"] == "pass"
    result = concluded(shadow, verdict)
    assert result["action"] == "pass" and result["figures"]["candidate"]["errors_5xx"] == 40
    # what the rollout starts from, as after a deploy without a shadow stage
    assert endpoint_variants(aws_standin, m.endpoint) == {
        "ProductionVariants": {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}}
    assert shadow.serving.describe(m.endpoint) == {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}


@pytest.mark.parametrize("shift", [0.0, 3.0])
def test_with_data_capture_the_predictions_are_compared_on_requests_paired_by_body(
    sagemaker_model, aws_standin, shift: float
) -> None:
    """Both variants' capture of the mirrored requests (other event ids, a second later): a candidate whose
    answers are 3 champion standard deviations off is blocked, one answering alike passes."""
    m = sagemaker_model

    def captured(champion: str, candidate: str, started: float) -> None:
        calls = [(started + 60 + i * 0.2, json.dumps({"x": i % 500, "store": i % 7})) for i in range(2400)]
        answer = lambda body, offset: json.dumps({"prediction": json.loads(body)["x"] / 100 + offset})  # noqa: E731
        assert aws_standin.capture_invocations(m.endpoint, champion, [
            Invocation(t, body, answer(body, 0.0)) for t, body in calls]) == 2400
        assert aws_standin.capture_invocations(m.endpoint, candidate, [
            Invocation(t + 1, body, answer(body, shift * 1.44)) for t, body in calls]) == 2400  # sd of x/100: 1.44

    shadow, deployed, verdict = judged(m, aws_standin, CHAMPION_TRAFFIC, captured)
    figures = verdict["figures"]
    assert figures["pairs"] == figures["mirrored"] == 2400
    if shift:
        assert verdict["action"] == "fail" and "mean |candidate - champion|" in verdict["reason"]
        assert figures["relative_difference"] > 2.9
    else:
        assert verdict["action"] == "pass", verdict["reason"]
        assert figures["mean_abs_difference"] == 0.0
    start = shadow.announced[0][1]
    assert "predictions compared by difference on the requests both variants' data capture holds" in start
