"""TrainOperator on SageMaker: it starts the job, defers to the triggerer, and collects the artifact on resume."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore
from airflow_mlprovider.operators.train import TrainOperator
from tests.registry.run_fixtures import make_context, utc


@pytest.fixture
def split_on_s3(aws_spec, tmp_path) -> dict:
    spec = aws_spec()
    xcom = {}
    for name, ys in {"train": [1.0, 2.0, 3.0, 6.0], "validation": [4.0]}.items():
        local = tmp_path / f"{name}.parquet"
        pd.DataFrame({"y": ys}).to_parquet(local)
        xcom[f"{name}_uri"] = f"{spec.model_root}/runs/split-source/{name}.parquet"
        S3ArtifactStore().put_file(str(local), xcom[f"{name}_uri"])
    return xcom


def train_operator(spec, split: dict, run_id: str, **arguments) -> TrainOperator:
    tr = spec.train
    return TrainOperator(
        task_id="train", model=spec.model, model_module=spec.code.module, train_uri=split["train_uri"],
        validation_uri=split["validation_uri"], artifact_uri=f"{spec.model_root}/runs/{run_id}/artifact",
        max_runtime_s=tr.max_runtime_s, compute=tr.compute, role_arn=tr.role_arn, aws_conn_id=spec.aws_conn_id,
        **arguments,
    )


def test_train_defers_on_the_job_and_collects_its_artifact(aws_spec, split_on_s3) -> None:
    spec = aws_spec()
    op = train_operator(spec, split_on_s3, "manual__defer", deferrable=True)
    context = make_context({}, utc(2026, 1, 1), run_id="manual__defer")

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert type(trigger).__name__ == "SageMakerTrigger"
    assert deferred.value.method_name == "execute_complete"

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    result = op.execute_complete(context, event)  # resuming needs the event alone
    assert result["artifact_uri"] == f"{spec.model_root}/runs/manual__defer/artifact"
    assert result["job"]["job_name"] == event["job_name"] == trigger.serialize()[1]["job_name"]
    assert len(result["manifest_digest"]) == 64


def test_without_deferral_the_task_waits_for_the_job_itself(aws_spec, split_on_s3) -> None:
    spec = aws_spec()
    op = train_operator(spec, split_on_s3, "manual__sync", deferrable=False)
    result = op.execute(make_context({}, utc(2026, 1, 1), run_id="manual__sync"))
    assert result["artifact_uri"].endswith("/runs/manual__sync/artifact")


def test_the_poll_interval_comes_from_airflow_config(monkeypatch) -> None:
    from airflow_mlprovider.backends.aws.settings import DEFAULT_POLL_INTERVAL_S, poll_interval_s

    monkeypatch.delenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", raising=False)
    assert poll_interval_s() == DEFAULT_POLL_INTERVAL_S
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", "2.5")
    assert poll_interval_s() == 2.5
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", "-1")
    with pytest.raises(ValueError, match="aws_poll_interval"):
        poll_interval_s()
