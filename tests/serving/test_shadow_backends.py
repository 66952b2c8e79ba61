"""Shadow support per metrics source: CloudWatch has no prediction agreement (SageMaker's shadow variants:
tests/backends/aws/test_aws_sagemaker_shadow.py and test_aws_shadow_stage.py)."""

from __future__ import annotations

from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics


def test_cloudwatch_has_no_prediction_agreement() -> None:
    assert CloudWatchMetrics("aws_default").agreement("m", "v-2", "v-1", 0.0, 60.0) is None
