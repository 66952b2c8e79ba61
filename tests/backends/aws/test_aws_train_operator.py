"""TrainOperator on SageMaker: it starts the job, defers to the triggerer, and collects the artifact on resume."""

from __future__ import annotations

import asyncio
import dataclasses

import pandas as pd
import pytest
from airflow.exceptions import TaskDeferred

from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore
from airflow_mlprovider.operators.base import SPLIT
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


def test_train_defers_on_the_job_and_collects_its_artifact(aws_spec, split_on_s3) -> None:
    spec = aws_spec()
    op = TrainOperator(task_id="train", spec=spec.raw, spec_source=spec.source)
    context = make_context({SPLIT: split_on_s3}, utc(2026, 1, 1), run_id="manual__defer")

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger, kwargs = deferred.value.trigger, deferred.value.kwargs
    assert type(trigger).__name__ == "SageMakerTrigger"
    assert deferred.value.method_name == "execute_complete"
    assert kwargs["job"]["artifact_uri"] == f"{spec.model_root}/runs/manual__defer/artifact"

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload

    result = op.execute_complete(context, asyncio.run(first_event()), **kwargs)
    assert result["artifact_uri"] == kwargs["job"]["artifact_uri"]
    assert result["job"]["job_name"] == kwargs["job_name"]
    assert len(result["manifest_digest"]) == 64


def test_without_deferral_the_task_waits_for_the_job_itself(aws_spec, split_on_s3) -> None:
    spec = aws_spec()
    op = TrainOperator(task_id="train", spec=spec.raw, spec_source=spec.source, deferrable=False)
    result = op.execute(make_context({SPLIT: split_on_s3}, utc(2026, 1, 1), run_id="manual__sync"))
    assert result["artifact_uri"].endswith("/runs/manual__sync/artifact")
    assert dataclasses.is_dataclass(op._job(make_context({SPLIT: split_on_s3}, utc(2026, 1, 1), run_id="x")))
