"""The worker's IAM policy in docs/aws.md allows every AWS call the code makes.

The calls are recorded where botocore sends them (BaseClient._make_api_call), keeping those made from
airflow_mlprovider (directly or through the amazon provider's hooks) and not those the stand-in makes while it
plays SageMaker's side, while one test drives every AWS path: S3 store, training, deploy, fencing, weights,
invoke, removal, CloudWatch windows, autoscaling.
"""

from __future__ import annotations

import json
import re
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airflow_mlprovider.artifacts import manifest_digest, write_manifest
from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing
from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute
from airflow_mlprovider.backends.base import TrainingJob, Variant

DOC = Path(__file__).resolve().parents[3] / "docs" / "aws.md"
PACKAGE = f"{Path(__file__).resolve().parents[3] / 'airflow_mlprovider'}"

# IAM actions that an API operation needs besides (or instead of) "<service>:<Operation>"
_S3_ACTIONS = {
    "HeadObject": ["s3:GetObject"], "HeadBucket": ["s3:ListBucket"], "ListObjectsV2": ["s3:ListBucket"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"], "CompleteMultipartUpload": ["s3:PutObject"],
}
_EXTRA = {  # CreateModel / CreateTrainingJob pass the execution role and tag what they create
    ("sagemaker", "CreateModel"): ["iam:PassRole", "sagemaker:AddTags"],
    ("sagemaker", "CreateTrainingJob"): ["iam:PassRole", "sagemaker:AddTags"],
}
_PREFIX = {"sagemaker-runtime": "sagemaker"}


def required_actions(service: str, operation: str) -> list[str]:
    if service == "s3" and operation in _S3_ACTIONS:
        return _S3_ACTIONS[operation]
    return [f"{_PREFIX.get(service, service)}:{operation}", *_EXTRA.get((service, operation), [])]


def documented_worker_actions() -> set[str]:
    """Actions of the first JSON policy in docs/aws.md (the Airflow worker role)."""
    policy = json.loads(re.search(r"```json\n(.*?)\n```", DOC.read_text(), re.S).group(1))
    actions = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    from botocore.client import BaseClient

    calls: set[tuple[str, str]] = set()
    make_api_call = BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        files = [frame.filename for frame in traceback.extract_stack()]
        if any(f.startswith(PACKAGE) for f in files) and not any(f.endswith("aws_standin.py") for f in files):
            calls.add((self.meta.service_model.service_name, operation_name))
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def test_the_worker_policy_allows_every_call_the_code_makes(aws_spec, aws_standin, aws_calls, tmp_path):
    spec = aws_spec(serving={"endpoint": "iam-endpoint", "data_capture_percent": 5,
                             "autoscaling": {"max_instances": 2, "invocations_per_instance": 100}})
    store = S3ArtifactStore()
    run = f"{spec.model_root}/runs/iam"
    for name in ("train", "validation"):
        pd.DataFrame({"y": [1.0, 2.0]}).to_parquet(tmp_path / f"{name}.parquet")
        store.put_file(str(tmp_path / f"{name}.parquet"), f"{run}/{name}.parquet")
    job = TrainingJob(spec.model, "iam", spec.code.module, f"{run}/train.parquet", f"{run}/validation.parquet",
                      f"{run}/artifact", {}, 300, "2024-01-01", "2024-01-02")
    trained = SageMakerTrainingCompute(spec.train, spec.aws_conn_id, poll_interval_s=0).train(job)
    store.write_if(f"{spec.model_root}/registry/champion.json", b"{}", None)
    assert store.exists(trained.artifact_uri) and store.list(trained.artifact_uri)

    serving = SageMakerServing(SageMakerHosting.from_spec(spec), spec.aws_conn_id, poll_interval_s=0)
    champion = Variant("v-1", trained.artifact_uri, spec.code.request_schema, spec.code.response_schema,
                       manifest_digest=manifest_digest(trained.manifest))
    candidate_dir = tmp_path / "candidate"
    store.get_dir(trained.artifact_uri, str(candidate_dir))
    (candidate_dir / "model" / "mean.json").write_text('{"mean": 9}')
    write_manifest(candidate_dir)
    store.put_dir(str(candidate_dir), f"{spec.model_root}/versions/2/artifact")
    candidate = Variant("v-2", f"{spec.model_root}/versions/2/artifact", spec.code.request_schema,
                        spec.code.response_schema)
    serving.deploy("iam-endpoint", champion, 100)
    serving.deploy("iam-endpoint", candidate, 0)
    generation = serving.fence("iam-endpoint")
    serving.start_shadow("iam-endpoint", "v-2", generation)  # the shadow stage's two config switches
    serving.end_shadow("iam-endpoint", "v-2", generation)
    serving.set_weights("iam-endpoint", {"v-1": 50, "v-2": 50}, generation)
    aws_standin.queue_invoke_results([{"Body": "{}", "ContentType": "application/json"}])
    serving.invoke("iam-endpoint", "v-2", {"x": 1})
    CloudWatchMetrics(spec.aws_conn_id, publish_delay_s=0).window("iam-endpoint", ["v-1", "v-2"], 0, 3600)
    serving.set_weights("iam-endpoint", {"v-1": 0, "v-2": 100}, generation)
    serving.remove("iam-endpoint", "v-1", generation)
    serving.remove("iam-endpoint", "v-2", generation)

    services = {service for service, _ in aws_calls}
    assert {"s3", "sagemaker", "sagemaker-runtime", "cloudwatch", "application-autoscaling"} <= services, aws_calls
    allowed = documented_worker_actions()
    missing = sorted({a for call in aws_calls for a in required_actions(*call)} - allowed)
    assert missing == [], f"docs/aws.md's worker policy lacks {missing} (calls: {sorted(aws_calls)})"
