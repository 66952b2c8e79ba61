"""TrainingCompute on SageMaker: a script-mode training job in a framework container (no Docker build).

start(job) -> job name        uploads sourcedir.tar.gz and creates the job (a retried task finds its own job)
trigger(job_name, max_s)      the amazon provider's SageMakerTrigger, for an operator that defers while it runs
collect(job, job_name)        downloads model.tar.gz, verifies its manifest, lays it out at job.artifact_uri
train(job)                    all three, polling synchronously with SageMakerHook
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
import tarfile
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.artifacts import verify_manifest
from airflow_mlprovider.backends.aws import settings
from airflow_mlprovider.backends.aws.framework_images import (
    PACKAGES,
    default_version,
    framework_image_uri,
    package_version,
    shipped_packages,
)
from airflow_mlprovider.backends.aws.framework_version import container_mismatch
from airflow_mlprovider.backends.aws.instance_picker import pick_instance
from airflow_mlprovider.backends.aws.names import resource_name
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.source_bundle import TRAIN_PROGRAM, training_source
from airflow_mlprovider.backends.base import TrainingJob, TrainingResult
from airflow_mlprovider.user_code import USER_CODE_EXIT_CODE, UserCodeError

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_mlprovider.spec.model import Train

log = logging.getLogger(__name__)

_ENDED_BADLY = {"Failed", "Stopped"}
# The framework containers' training toolkit reports a failed entry point as ExecuteUserScriptError with its exit
# code; ours exits USER_CODE_EXIT_CODE when the model's code raised (container/train_entry.py).
_USER_CODE_FAILURE = re.compile(rf"ExecuteUserScriptError:\s*ExitCode {USER_CODE_EXIT_CODE}\b")


def is_user_code_failure(reason: str) -> bool:
    """Whether a training job's FailureReason is the model's own code raising (retrying cannot help); an OOM kill
    (ExitCode 137), a capacity or internal error is not."""
    return _USER_CODE_FAILURE.search(reason) is not None
_VOLUME_GB = 30


class SageMakerTrainingCompute:
    """Runs the model module's train() as a SageMaker training job. Needs an s3:// artifact_root and train.role_arn."""

    def __init__(self, train: Train, aws_conn_id: str = "aws_default", poll_interval_s: float | None = None) -> None:
        self.train_settings = train
        self.aws_conn_id = aws_conn_id
        self.job_name: str | None = None  # the job start() created or found: what stop() stops
        self.poll_interval_s = settings.poll_interval_s() if poll_interval_s is None else poll_interval_s

    @cached_property
    def hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.aws_conn_id)

    @cached_property
    def store(self) -> S3ArtifactStore:
        return S3ArtifactStore(self.aws_conn_id)

    @property
    def instance_type(self) -> str:
        train = self.train_settings
        return train.instance_type or pick_instance(train.cpus, train.memory_gb, train.gpu, "training").chosen.name

    @property
    def framework_version(self) -> str:
        """The declared container version (train.framework_version), else the newest that trains and serves."""
        train = self.train_settings
        return train.framework_version or default_version(train.framework)

    @property
    def image_uri(self) -> str:
        train = self.train_settings
        return train.image_uri or framework_image_uri(
            train.framework, self.hook.conn_region_name, "training", self.framework_version, train.gpu
        )

    def _check_container(self, source: str) -> None:
        """The container must read Parquet without installing anything (jobs may be network-isolated), and
        should ship the framework release this worker evaluates with (else evaluate refuses the artifact)."""
        train = self.train_settings
        if train.image_uri:
            return  # the user's own image: what it ships is theirs to know
        packages = shipped_packages(train.framework, self.framework_version)
        if packages is not None and "pyarrow" not in packages:
            raise ValueError(
                f"{source}: the {train.framework} {self.framework_version} container ships no pyarrow to "
                f"read the Parquet splits, and a training job must not pip install at start (network isolation): "
                f"set train.framework_version to {default_version(train.framework)} or newer, or train.image_uri"
            )
        mismatch = container_mismatch(PACKAGES[train.framework], package_version(train.framework, self.framework_version))
        if mismatch:
            log.warning("%s: %s", source, mismatch)

    def train(self, job: TrainingJob) -> TrainingResult:
        from airflow.sdk.exceptions import AirflowException

        job_name = self.start(job)
        # SageMaker's StoppingCondition enforces max_runtime; this only waits for a terminal state (and raises
        # on a failed one: collect() says why, telling the model's own errors apart).
        with contextlib.suppress(AirflowException):
            self.hook.check_status(
                job_name, "TrainingJobStatus", self.hook.describe_training_job, self.poll_interval_s
            )
        return self.collect(job, job_name)

    def start(self, job: TrainingJob) -> str:
        """Create the training job (or find the one an earlier try of this task created); returns its name."""
        for uri in (job.train_uri, job.validation_uri, job.artifact_uri):
            if not uri.startswith("s3://"):
                raise ValueError(
                    f"train.compute sagemaker reads and writes S3, but got {uri!r}: set artifact_root: s3://..."
                )
        if not self.train_settings.role_arn:
            raise ValueError(
                "train.role_arn is required with train.compute: sagemaker (the SageMaker execution role ARN)"
            )
        self._check_container(job.spec_source or job.model)
        staging = self.staging_uri(job)
        tarball = training_source(job.module_path, self._job_context(job))
        self.store.write_bytes(f"{staging}/sourcedir.tar.gz", tarball)
        attempt = 0
        while True:  # a failed or stopped job keeps its name: a retry after it gets the next attempt number
            attempt += 1
            job_name = resource_name(job.model, f"{job.run_key}#{attempt}")
            status = self._status(job_name)
            if status is None:
                config = self._config(job, job_name, staging)
                self.hook.create_training_job(config, wait_for_completion=False, print_log=False)
                self.job_name = job_name
                return job_name
            if status not in _ENDED_BADLY:
                self.job_name = job_name
                return job_name  # running or done: a retried task picks up its own job

    def stop(self) -> None:
        """Stop the job this object started (a killed task must not leave it running and billing)."""
        if self.job_name is None or self._status(self.job_name) != "InProgress":
            return
        self.hook.get_conn().stop_training_job(TrainingJobName=self.job_name)

    def trigger(self, job_name: str, max_runtime_s: float) -> BaseTrigger:
        """What an operator defers on: fires {'status': 'success'|'failed'|..., 'job_name'} when the job ends."""
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        delay = max(1, round(self.poll_interval_s))  # waiters count whole seconds
        return SageMakerTrigger(
            job_name=job_name,
            job_type="training",
            waiter_delay=delay,
            waiter_max_attempts=int(max_runtime_s // delay) + 20,  # the job's own stopping condition ends it first
            aws_conn_id=self.aws_conn_id,
        )

    def collect(self, job: TrainingJob, job_name: str) -> TrainingResult:
        """Lay out a completed job's model.tar.gz at job.artifact_uri (verified against its MANIFEST.json)."""
        description = self.hook.describe_training_job(job_name)
        status = description["TrainingJobStatus"]
        if status != "Completed":
            reason = description.get("FailureReason", "no reason given")
            message = f"SageMaker training job {job_name} ended {status}: {reason}"
            if is_user_code_failure(reason):
                raise UserCodeError(message)
            raise RuntimeError(message)
        model_data = description["ModelArtifacts"]["S3ModelArtifacts"]
        with tempfile.TemporaryDirectory(prefix="mlprovider-sagemaker-") as tmp:
            archive, artifact = Path(tmp, "model.tar.gz"), Path(tmp, "artifact")
            try:
                self.store.get_file(model_data, str(archive))
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"SageMaker training job {job_name} completed but wrote no model artifact at {model_data}: "
                    f"its entry point ({TRAIN_PROGRAM}) must write the artifact into /opt/ml/model"
                ) from None
            with tarfile.open(archive) as tar:
                tar.extractall(artifact, filter="data")
            manifest = verify_manifest(artifact)
            self.store.put_dir(str(artifact), job.artifact_uri)
        return TrainingResult(
            artifact_uri=job.artifact_uri,
            manifest=manifest["files"],
            duration_s=(description["TrainingEndTime"] - description["TrainingStartTime"]).total_seconds(),
            detail={
                "job_name": job_name,
                "instance_type": description["ResourceConfig"]["InstanceType"],
                "image": description["AlgorithmSpecification"]["TrainingImage"],
                "billable_seconds": description.get("BillableTimeInSeconds"),
                "model_data": model_data,
            },
        )

    @staticmethod
    def staging_uri(job: TrainingJob) -> str:
        """Beside the artifact folder: the source tarball and SageMaker's output (model.tar.gz)."""
        return f"{posixpath.dirname(job.artifact_uri.rstrip('/'))}/sagemaker"

    def _status(self, job_name: str) -> str | None:
        try:
            return self.hook.describe_training_job(job_name)["TrainingJobStatus"]
        except self.hook.conn.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in {"ValidationException", "ResourceNotFound"}:
                return None
            raise

    def _job_context(self, job: TrainingJob) -> dict[str, Any]:
        """What the entry point needs, shipped in the source tarball (source_bundle.JOB_FILE): code.params may be any size,
        while SageMaker caps a hyperparameter value at 2,500 characters."""
        framework = self.train_settings.framework
        return {
            "model": job.model,
            "params": job.params,
            "run_key": job.run_key,
            "data_interval_start": job.data_interval_start,
            "data_interval_end": job.data_interval_end,
            "framework": {
                "framework": framework,
                "package": PACKAGES[framework],
                "container_version": None if self.train_settings.image_uri else self.framework_version,
                "image": self.image_uri,
            },
        }

    def _config(self, job: TrainingJob, job_name: str, staging: str) -> dict[str, Any]:
        return {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": {"TrainingImage": self.image_uri, "TrainingInputMode": "File"},
            "RoleArn": self.train_settings.role_arn,
            "HyperParameters": {
                "sagemaker_program": TRAIN_PROGRAM,
                "sagemaker_submit_directory": f"{staging}/sourcedir.tar.gz",
                "sagemaker_region": self.hook.conn_region_name,
                "sagemaker_container_log_level": "20",
            },
            "InputDataConfig": [_channel("train", job.train_uri), _channel("validation", job.validation_uri)],
            "OutputDataConfig": {"S3OutputPath": f"{staging}/output"},
            "ResourceConfig": {"InstanceType": self.instance_type, "InstanceCount": 1, "VolumeSizeInGB": _VOLUME_GB},
            "StoppingCondition": {"MaxRuntimeInSeconds": max(1, int(job.max_runtime_s))},
            "Tags": [
                {"Key": "mlprovider:model", "Value": job.model},
                {"Key": "mlprovider:run", "Value": job.run_key[:256]},
            ],
        }


def _channel(name: str, uri: str) -> dict[str, Any]:
    split_s3_uri(uri)
    # A Parquet file is its own prefix; a folder gets a trailing '/' so that no sibling with a longer name matches.
    prefix = uri if uri.endswith(".parquet") else uri.rstrip("/") + "/"
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": prefix, "S3DataDistributionType": "FullyReplicated"}
        },
    }
