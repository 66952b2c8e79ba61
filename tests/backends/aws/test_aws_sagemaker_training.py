"""SageMaker training against moto's server; the stand-in plays the script-mode container (see tests/aws_standin.py)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile

import pandas as pd
import pytest
import sklearn

from airflow_mlprovider.artifacts import load_predictor
from airflow_mlprovider.backends.aws.framework_images import default_version, framework_image_uri, image_table
from airflow_mlprovider.backends.aws.framework_version import FrameworkVersionMismatch, check_framework_version
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute, is_user_code_failure
from airflow_mlprovider.backends.aws.source_bundle import training_source
from airflow_mlprovider.backends.base import TrainingJob
from airflow_mlprovider.user_code import UserCodeError


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
    assert set(result.manifest) == {"model/mean.json", "code/toy_model.py", "FRAMEWORK.json"}
    local = tmp_path / "artifact"
    S3ArtifactStore().get_dir(job.artifact_uri, str(local))
    # the container recorded the scikit-learn it ran (the stand-in's container is this Python): evaluate may load it
    record = check_framework_version(local)
    assert (record["package"], record["package_version"]) == ("scikit-learn", sklearn.__version__)
    assert record["container_version"] == default_version("sklearn")
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
    assert described["AlgorithmSpecification"]["TrainingImage"].endswith(f"/sagemaker-xgboost:{default_version('xgboost')}")
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
    # the model's own error: the toolkit's ExecuteUserScriptError with the entry point's user-code exit code
    with pytest.raises(UserCodeError, match="(?s)ExecuteUserScriptError:\nExitCode 65\n.*toy model refuses to train"):
        compute.train(job)
    failed = compute.start(job)  # the first job failed: the retry must not reuse it
    with pytest.raises(UserCodeError, match=f"(?s)SageMaker training job {failed} ended Failed: .*refuses to train"):
        compute.collect(job, failed)


@pytest.mark.parametrize("reason", [
    'AlgorithmError: ExecuteUserScriptError:\nExitCode 137\nErrorMessage ""\nCommand "python3 mlprovider_train.py"',
    "MaxRuntimeExceeded", "CapacityError: Unable to provision requested ML compute capacity.",
    "InternalServerError: We encountered an internal error.  Please try again.",
    'AlgorithmError: ExecuteUserScriptError:\nExitCode 651\nErrorMessage ""',
])
def test_only_the_model_code_exit_code_is_a_user_error(reason):
    # an OOM kill, a timeout, capacity and internal errors keep the task's retries
    assert not is_user_code_failure(reason)
    assert is_user_code_failure('AlgorithmError: ExecuteUserScriptError:\nExitCode 65\nErrorMessage "ValueError"')


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


def test_source_tarball_ships_runner_helpers_model_folder_and_job(aws_spec):
    spec = aws_spec()
    tarball = training_source(spec.code.module, {"params": {"a": 1}})
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        names = set(tar.getnames())
        job = json.loads(tar.extractfile("mlprovider_job.json").read())
    assert {"mlprovider_train.py", "mlprovider_artifacts.py", "mlprovider_contract.py",
            "model_src/toy_model.py", "model_src/toy_helpers.py"} <= names
    assert "requirements.txt" not in names  # the toolkit would pip install it at start: no network in isolation
    assert job == {"params": {"a": 1}, "module": "model_src/toy_model.py"}
    assert training_source(spec.code.module, {"params": {"a": 1}}) == tarball  # same inputs, same bytes


def test_params_of_any_size_reach_train_and_no_hyperparameter_exceeds_sagemakers_limit(aws_spec, training_job, aws_standin):
    """SageMaker caps a hyperparameter value at 2,500 characters (the stand-in checks botocore's model)."""
    compute = compute_for(aws_spec())
    job = training_job(run_key="run-big-params", notes="x" * 10_000)
    result = compute.train(job)
    described = aws_standin.client("sagemaker").describe_training_job(TrainingJobName=result.detail["job_name"])
    assert max(len(v) for v in described["HyperParameters"].values()) <= 2500
    assert result.artifact_uri == job.artifact_uri


def test_a_container_that_cannot_read_parquet_without_installing_is_refused(aws_spec, training_job):
    spec = aws_spec(train={"compute": "sagemaker", "role_arn": "arn:aws:iam::1:role/r", "framework_version": "1.2-1"})
    with pytest.raises(ValueError, match="1.2-1 container ships no pyarrow.* must not pip install"):
        compute_for(spec).start(training_job(run_key="run-old-image"))


def test_framework_images_come_from_the_sdk_data_for_every_region():
    table = image_table()
    assert table["source"]["sdk_version"] and table["source"]["commit"]
    assert framework_image_uri("pytorch", "eu-west-1", "hosting", "2.1.0", gpu=True) == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.1.0-gpu-py310"
    )
    assert framework_image_uri("sklearn", "cn-north-1", "training", "1.4-2-py312").endswith(
        ".dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )
    regions = table["frameworks"]["sklearn"]["training"]["versions"][default_version("sklearn")]["registries"]
    assert len(regions) > 30 and {"ap-south-2", "eu-central-2", "il-central-1"} <= set(regions)
    with pytest.raises(ValueError, match="set train.image_uri"):
        framework_image_uri("sklearn", "mars-north-1", "training")
    with pytest.raises(ValueError, match="has no GPU image"):
        framework_image_uri("sklearn", "us-east-1", "training", gpu=True)
    with pytest.raises(ValueError, match="versions that train and serve: .*1.4-2-py312"):
        framework_image_uri("sklearn", "us-east-1", "hosting", "9.9-9")


def test_an_artifact_from_another_framework_release_is_refused_naming_both(tmp_path):
    (tmp_path / "FRAMEWORK.json").write_text(json.dumps({
        "framework": "sklearn", "package": "scikit-learn", "package_version": "1.2.1",
        "container_version": "1.2-1", "image": "x/sagemaker-scikit-learn:1.2-1-cpu-py3",
    }))
    with pytest.raises(FrameworkVersionMismatch, match=f"trained with scikit-learn 1.2.1 .* has scikit-learn {sklearn.__version__}"):
        check_framework_version(tmp_path)
    assert check_framework_version(tmp_path / "elsewhere") is None  # trained on the worker itself
