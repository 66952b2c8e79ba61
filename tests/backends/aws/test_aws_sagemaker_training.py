"""SageMaker training against moto's server; the stand-in plays the script-mode container (see tests/aws_standin.py)."""

from __future__ import annotations

import asyncio
import io
import tarfile

import pandas as pd
import pytest
from airflow.exceptions import AirflowException

from airflow_mlprovider.artifacts import load_predictor
from airflow_mlprovider.backends.aws.framework_images import framework_image_uri
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute
from airflow_mlprovider.backends.aws.source_bundle import training_source
from airflow_mlprovider.backends.base import TrainingJob


@pytest.fixture
def training_job(aws_spec, tmp_path):
    """Upload a train and a validation split; return a job factory for the spec's run 'run-1'."""
    spec = aws_spec()
    store = S3ArtifactStore()
    run = f"{spec.model_root}/runs/run-1"
    for name, ys in {"train": [1.0, 2.0, 3.0, 6.0], "validation": [4.0]}.items():
        local = tmp_path / f"{name}.parquet"
        pd.DataFrame({"y": ys}).to_parquet(local)
        store.put_file(str(local), f"{run}/split/{name}.parquet")

    def build(run_key: str = "run-1", **params) -> TrainingJob:
        return TrainingJob(
            model=spec.model,
            run_key=run_key,
            module_path=spec.code.module,
            train_uri=f"{run}/split/train.parquet",
            validation_uri=f"{run}/split/validation.parquet",
            artifact_uri=f"{spec.model_root}/runs/{run_key}/artifact",
            params=params,
            max_runtime_s=300,
            data_interval_start="2024-01-01",
            data_interval_end="2024-01-02",
        )

    return build


def compute_for(spec) -> SageMakerTrainingCompute:
    return SageMakerTrainingCompute(spec.train, spec.aws_conn_id, poll_interval_s=0)


def test_train_runs_the_module_in_the_container_and_lays_out_the_artifact(aws_spec, training_job, tmp_path):
    job = training_job()
    result = compute_for(aws_spec()).train(job)

    assert result.artifact_uri == job.artifact_uri
    assert set(result.manifest) == {"model/mean.json", "code/toy_model.py"}
    local = tmp_path / "artifact"
    S3ArtifactStore().get_dir(job.artifact_uri, str(local))
    assert load_predictor(local)({"x": 1}) == {"prediction": 3.0}  # the mean of the train split only
    assert result.detail["instance_type"] == "ml.m5.large"  # cheapest training type with 2 vCPUs / 4 GiB
    assert result.detail["image"] == framework_image_uri("sklearn", "us-east-1", "training")


def test_job_config_follows_the_spec(aws_spec, training_job, aws_standin):
    spec = aws_spec(train={"compute": "sagemaker", "role_arn": "arn:aws:iam::1:role/r",
                           "instance_type": "ml.c5.xlarge", "framework": "xgboost"})
    job = training_job(run_key="run-config")
    name = compute_for(spec).start(job)
    described = aws_standin.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert described["StoppingCondition"]["MaxRuntimeInSeconds"] == job.max_runtime_s == 300
    assert described["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert described["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:1.7-1")
    assert described["HyperParameters"]["sagemaker_program"] == "mlprovider_train.py"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in described["InputDataConfig"]}
    assert channels["train"].endswith("/runs/run-1/split/train.parquet")


def test_a_retried_start_finds_its_own_job(aws_spec, training_job, aws_standin):
    compute = compute_for(aws_spec())
    job = training_job(run_key="run-retry")
    first = compute.start(job)
    assert compute.start(job) == first
    jobs = aws_standin.client("sagemaker").list_training_jobs(NameContains=first)["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in jobs] == [first]


def test_a_failed_job_reports_the_module_error_and_a_retry_starts_a_new_job(aws_spec, training_job):
    compute = compute_for(aws_spec())
    job = training_job(run_key="run-fail", fail=True)
    with pytest.raises(AirflowException, match="toy model refuses to train"):
        compute.train(job)
    failed = compute.start(job)  # the first job failed: the retry must not reuse it
    with pytest.raises(RuntimeError, match=f"SageMaker training job {failed} ended Failed: .*refuses to train"):
        compute.collect(job, failed)


def test_a_job_without_model_tar_gz_is_a_clear_error(aws_spec, training_job, aws_standin):
    compute = compute_for(aws_spec())
    job = training_job(run_key="run-missing")
    name = compute.start(job)
    model_data = aws_standin.client("sagemaker").describe_training_job(TrainingJobName=name)["ModelArtifacts"]
    bucket, key = split_s3_uri(model_data["S3ModelArtifacts"])
    aws_standin.client("s3").delete_object(Bucket=bucket, Key=key)  # what plain moto leaves behind
    with pytest.raises(FileNotFoundError, match=f"job {name} completed but wrote no model artifact at s3://.*model.tar.gz"):
        compute.collect(job, name)


def test_the_deferral_trigger_fires_success_for_a_completed_job(aws_spec, training_job):
    compute = compute_for(aws_spec())
    job = training_job(run_key="run-defer")
    name = compute.start(job)
    trigger = compute.trigger(name, job.max_runtime_s)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("SageMakerTrigger") and kwargs["job_name"] == name

    async def first_event():
        async for event in trigger.run():
            return event.payload

    assert asyncio.run(first_event()) == {"status": "success", "job_name": name}
    assert compute.collect(job, name).artifact_uri == job.artifact_uri


def test_s3_is_required_and_so_is_a_role(aws_spec, training_job):
    job = training_job()
    local = TrainingJob(**{**job.__dict__, "train_uri": "file:///tmp/train.parquet"})
    with pytest.raises(ValueError, match="set artifact_root: s3://"):
        compute_for(aws_spec()).start(local)
    with pytest.raises(ValueError, match="train.role_arn is required"):
        compute_for(aws_spec(train={"compute": "sagemaker"})).start(job)


def test_source_tarball_ships_runner_helpers_and_model_folder(aws_spec):
    spec = aws_spec()
    tarball, module = training_source(spec.code.module)
    assert module == "model_src/toy_model.py"
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("requirements.txt").read().decode()
    assert {"mlprovider_train.py", "mlprovider_artifacts.py", "mlprovider_contract.py",
            "model_src/toy_model.py", "model_src/toy_helpers.py"} <= names
    assert "pyarrow" in requirements.split()
    assert training_source(spec.code.module)[0] == tarball  # same inputs, same bytes


def test_framework_images_cover_known_regions_and_refuse_unknown_ones():
    assert framework_image_uri("pytorch", "eu-west-1", "hosting", gpu=True) == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1.0-gpu-py310"
    )
    with pytest.raises(ValueError, match="set train.image_uri"):
        framework_image_uri("sklearn", "mars-north-1", "training")
    with pytest.raises(ValueError, match="has no GPU image"):
        framework_image_uri("sklearn", "us-east-1", "training", gpu=True)
