"""Shadow support per serving backend: SageMaker refuses a shadow deploy before any AWS call; CloudWatch has no
prediction agreement."""

from __future__ import annotations

import pytest

from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing
from airflow_mlprovider.backends.base import Variant


def test_sagemaker_refuses_a_shadow_deploy_naming_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    serving = SageMakerServing(SageMakerHosting(model="m", role_arn="arn:aws:iam::123456789012:role/r"), poll_interval_s=0)
    monkeypatch.setattr(SageMakerServing, "_model", lambda *a: pytest.fail("no AWS call may happen"))
    variant = Variant(name="v-2", artifact_uri="s3://b/a", request_schema_path="r.json",
                      response_schema_path="s.json", shadow=True)
    with pytest.raises(NotImplementedError, match="shadow.enabled to false"):
        serving.deploy("m", variant, 0.0)


def test_cloudwatch_has_no_prediction_agreement() -> None:
    assert CloudWatchMetrics("aws_default").agreement("m", "v-2", "v-1", 0.0, 60.0) is None
