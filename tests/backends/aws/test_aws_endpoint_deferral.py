"""SageMaker endpoint changes defer to the triggerer: the serving operators against moto's server.

The stand-in keeps an endpoint Updating until a status poll sees it (tests/aws_standin.py), so a trigger event
of success means the amazon provider's endpoint waiter really waited for InService.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_mlprovider.artifacts import write_manifest
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing
from airflow_mlprovider.backends.base import StaleFenceError
from airflow_mlprovider.operators.rollout import RolloutOperator
from airflow_mlprovider.operators.serving import DeployOperator, RollbackOperator, variant_name
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion
from airflow_mlprovider.triggers.rollout import RolloutTrigger
from airflow_mlprovider.triggers.sagemaker_endpoint import EndpointUpdateTrigger
from tests.operators.test_serving import FakeTI

@pytest.fixture
def sagemaker_model(aws_spec, aws_standin, toy_model_dir, tmp_path, monkeypatch):
    """The toy spec's hosting, registry and a way to register versions with artifacts on S3."""
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", "0.01")
    spec = aws_spec()
    registry = ModelRegistry(S3ArtifactStore(spec.aws_conn_id), spec.model_root)

    def register(day: int) -> ModelVersion:
        folder = tmp_path / f"artifact-{day}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "mean.json").write_text(json.dumps({"mean": float(day)}))
        (folder / "code").mkdir()
        shutil.copy(toy_model_dir / "toy_model.py", folder / "code" / "toy_model.py")
        digest = write_manifest(folder)["digest"]
        uri = f"{spec.model_root}/runs/run-{day}/artifact"
        S3ArtifactStore(spec.aws_conn_id).put_dir(str(folder), uri)
        return registry.register(ModelVersion(
            version_id=f"202601{day:02d}T000000-{day:08x}", model=spec.model, run_id=f"run-{day}", artifact_uri=uri,
            data_interval_start=f"2026-01-{day - 1:02d}T00:00:00+00:00",
            data_interval_end=f"2026-01-{day:02d}T00:00:00+00:00", metric="rmse", metric_value=1.0,
            manifest_digest=digest,
        ))

    # moto's server lives for the session: each test its own endpoint, removed afterwards with what it used
    endpoint = f"defer-{uuid.uuid4().hex[:8]}"
    yield SimpleNamespace(spec=spec, hosting=SageMakerHosting.from_spec(spec), registry=registry, register=register,
                          endpoint=endpoint)
    sagemaker = aws_standin.client("sagemaker")
    if sagemaker.list_endpoints(NameContains=endpoint)["Endpoints"]:
        sagemaker.delete_endpoint(EndpointName=endpoint)
    for config in sagemaker.list_endpoint_configs(NameContains=endpoint)["EndpointConfigs"]:
        sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
    for model in sagemaker.list_models(NameContains=endpoint)["Models"]:
        sagemaker.delete_model(ModelName=model["ModelName"])


def keeper_arguments(m) -> dict[str, Any]:
    spec, hosting = m.spec, m.hosting
    return {"endpoint": m.endpoint, "sagemaker": hosting, "aws_conn_id": spec.aws_conn_id, "model": spec.model,
            "registry_uri": spec.model_root, "request_schema": spec.code.request_schema,
            "response_schema": spec.code.response_schema, "deferrable": True}


def context() -> dict[str, Any]:
    return {"ti": FakeTI({}), "run_id": "manual__defer"}


def event_of(trigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def run_deferring(operator, run_context: dict[str, Any]) -> tuple[Any, list[EndpointUpdateTrigger]]:
    """execute(), then every deferral's trigger run against moto and execute_complete() with its event, as the
    triggerer and a worker would, until the operator returns. The result and the triggers deferred to."""
    triggers = []
    try:
        return operator.execute(run_context), triggers
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        trigger = pending.trigger
        assert isinstance(trigger, EndpointUpdateTrigger) and pending.method_name == "execute_complete"
        triggers.append(trigger)
        try:
            return operator.execute_complete(run_context, event_of(trigger)), triggers
        except TaskDeferred as deferred:
            pending = deferred


def generation_of(m) -> int:
    uri = f"{m.spec.model_root}/endpoints/{m.endpoint}/generation.json"
    return json.loads(S3ArtifactStore().read_bytes(uri))["generation"]


def test_deploy_defers_on_the_endpoint_update_and_fences_once(sagemaker_model, aws_standin) -> None:
    m = sagemaker_model
    spec, hosting, registry, register, endpoint = m.spec, m.hosting, m.registry, m.register, m.endpoint
    champion, candidate = register(2), register(3)
    registry.promote(champion.version_id, "first model")
    sagemaker = aws_standin.client("sagemaker")

    announced: list[tuple[str, str, bool]] = []
    recording = type("DeployOperator", (DeployOperator,), {
        "announce": lambda self, model, event, message, alert=False: announced.append((event, message, alert))})
    deploy = recording(task_id="deploy", version_id=candidate.version_id, **keeper_arguments(m),
                       rollout_policy={"guardrails": {"prediction_shift": 0.5}})
    result, triggers = run_deferring(deploy, context())

    # the champion's endpoint is created, then updated to add the candidate: two waits, each in the triggerer
    assert [t.change["kind"] for t in triggers] == ["config", "config"]
    trigger = triggers[0]
    assert isinstance(trigger, EndpointUpdateTrigger) and trigger.job_type == "endpoint"  # the amazon provider's
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlprovider.triggers.sagemaker_endpoint.EndpointUpdateTrigger"
    assert EndpointUpdateTrigger(**json.loads(json.dumps(kwargs))).serialize() == (classpath, kwargs)
    assert result["generation"] == generation_of(m) == triggers[-1].resume["generation"]  # fenced once
    assert result["candidate"] == variant_name(candidate.version_id)
    assert SageMakerServing(hosting, spec.aws_conn_id).describe(endpoint) == {
        variant_name(champion.version_id): 100.0, variant_name(candidate.version_id): 0.0}
    configs = sagemaker.list_endpoint_configs(NameContains=endpoint)["EndpointConfigs"]
    assert len(configs) == 1  # the replaced config was deleted on resume (finish_change)
    # announced once, after the last wait; CloudWatch has no predictions: the guardrail cannot be judged
    assert [event for event, _, _ in announced].count("deploy") == 1
    [(message, alert)] = [(message, alert) for event, message, alert in announced if event == "deploy.guardrails"]
    assert alert and "prediction_shift cannot be judged on SageMaker" in message


def test_rollout_and_rollback_defer_on_weight_changes_and_keep_fencing(sagemaker_model, aws_standin) -> None:
    m = sagemaker_model
    spec, hosting, registry, register, endpoint = m.spec, m.hosting, m.registry, m.register, m.endpoint
    champion, candidate = register(4), register(5)
    registry.promote(champion.version_id, "first model")
    deployed, _ = run_deferring(
        DeployOperator(task_id="deploy", version_id=candidate.version_id, **keeper_arguments(m)), context())
    serving = SageMakerServing(hosting, spec.aws_conn_id)
    rollout = RolloutOperator(
        task_id="rollout", endpoint=endpoint, sagemaker=hosting, aws_conn_id=spec.aws_conn_id, deferrable=True,
        candidate=deployed["candidate"], champion=deployed["champion"], generation=deployed["generation"],
        complete_task_id="finalize", rollback_task_id="rollback", rollout_policy={"steps": [10, 100]},
    )

    with pytest.raises(TaskDeferred) as shifting:
        rollout.execute(context())
    assert isinstance(shifting.value.trigger, EndpointUpdateTrigger)
    with pytest.raises(TaskDeferred) as watching:  # the weights are in service: now the rollout's own trigger
        rollout.execute_complete(context(), event_of(shifting.value.trigger))
    assert isinstance(watching.value.trigger, RolloutTrigger)
    assert serving.describe(endpoint) == {deployed["champion"]: 90.0, deployed["candidate"]: 10.0}

    # a rollback fences while the rollout's next weight change is under way: resuming, the stale change is refused
    with pytest.raises(TaskDeferred) as advancing:
        rollout.execute_complete(context(), {"action": "advance", "weight": 50.0, "reason": "test", "stats": {},
                                             "state": {**watching.value.trigger.state, "weight": 50.0}})
    rollback = RollbackOperator(task_id="rollback", version_id=candidate.version_id,
                                decision={"action": "rollback", "reason": "test"}, **keeper_arguments(m))
    with pytest.raises(TaskDeferred) as restoring:
        rollback.execute(context())
    with pytest.raises(StaleFenceError, match="stale"):
        rollout.execute_complete(context(), event_of(advancing.value.trigger))

    result, triggers = run_deferring_from(rollback, restoring.value)
    assert result["rolled_back"] is True and result["champion"] == deployed["champion"]
    assert [t.change["kind"] for t in triggers] == ["weights", "config"]  # route the champion, then remove
    assert serving.describe(endpoint) == {deployed["champion"]: 100.0}


def run_deferring_from(operator, deferred: TaskDeferred) -> tuple[Any, list[EndpointUpdateTrigger]]:
    triggers = [deferred.trigger]
    while True:
        try:
            return operator.execute_complete(context(), event_of(triggers[-1])), triggers
        except TaskDeferred as again:
            triggers.append(again.trigger)


@pytest.mark.parametrize("status", ["InService", "Failed"])
def test_a_failed_endpoint_update_fails_the_task_with_sagemakers_reason(sagemaker_model, aws_standin, status) -> None:
    m = sagemaker_model
    spec, hosting, registry, register, endpoint = m.spec, m.hosting, m.registry, m.register, m.endpoint
    champion, candidate = register(6), register(7)
    registry.promote(champion.version_id, "first model")
    deploy = DeployOperator(task_id="deploy", version_id=candidate.version_id, **keeper_arguments(m))
    with pytest.raises(TaskDeferred) as creating:
        deploy.execute(context())
    reason = "The primary container for production variant did not pass the ping health check."
    aws_standin.fail_next_update(endpoint, reason, status=status)
    with pytest.raises(TaskDeferred) as updating:
        deploy.execute_complete(context(), event_of(creating.value.trigger))

    event = event_of(updating.value.trigger)
    # Failed: the waiter's failure, with SageMaker's reason; InService on the old config: the check on resume
    assert event["status"] == ("failed" if status == "Failed" else "success")
    with pytest.raises((AirflowException, RuntimeError), match="did not pass the ping health check"):
        deploy.execute_complete(context(), event)


def test_the_local_server_path_never_defers(tmp_path) -> None:
    from tests.operators.test_serving import MemoryEndpoint, operator, register, write_spec

    spec = write_spec(tmp_path)
    version = register(spec, 2)
    deploy = operator(DeployOperator, MemoryEndpoint(), deferrable=True, version_id=version.version_id,
                      model=spec["model"], registry_uri=f"{spec['artifact_root']}/{spec['model']}",
                      request_schema=spec["code"]["request_schema"], response_schema=spec["code"]["response_schema"])
    assert deploy.execute(context())["candidate"] == variant_name(version.version_id)
