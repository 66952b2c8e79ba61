"""The stand-in refuses the DataCaptureConfigs SageMaker refuses (moto takes any), and writes capture as SageMaker
does: the serving backend's config, the stand-in's files and the reader agree end to end."""

from __future__ import annotations

import json
import uuid

import pytest
from aws_standin import Invocation
from botocore.exceptions import ClientError, ParamValidationError

from airflow_mlprovider.backends.aws.data_capture import CaptureReader, capture_config

VALID = capture_config("s3://bucket/capture", 10)


@pytest.fixture
def create_config(aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    model = f"capture-model-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model(ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                           PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})

    created = []

    def create(capture: dict) -> None:
        created.append(f"capture-{uuid.uuid4().hex[:8]}")
        sagemaker.create_endpoint_config(
            EndpointConfigName=created[-1], DataCaptureConfig=capture,
            ProductionVariants=[{"VariantName": "v-1", "ModelName": model, "InitialInstanceCount": 1,
                                 "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        )

    yield create
    for name in created:  # other tests count the session's endpoint configs
        try:
            sagemaker.delete_endpoint_config(EndpointConfigName=name)
        except ClientError:
            pass  # refused: never created
    sagemaker.delete_model(ModelName=model)


def test_the_config_we_build_is_accepted(create_config) -> None:
    create_config(VALID)


@pytest.mark.parametrize(("change", "constraint"), [
    ({"InitialSamplingPercentage": 101}, "have value between 0 and 100"),
    ({"DestinationS3Uri": "bucket/capture"}, "regular expression pattern"),
    ({"DestinationS3Uri": "s3://bucket/" + "k" * 510}, "length less than or equal to 512"),
    ({"CaptureOptions": [{"CaptureMode": "Input"}] * 33}, "have length between 1 and 32"),
    ({"CaptureOptions": [{"CaptureMode": "Everything"}]}, "enum value set"),
    ({"CaptureContentTypeHeader": {"JsonContentTypes": ["json"]}}, "regular expression pattern"),
    ({"CaptureContentTypeHeader": {"CsvContentTypes": [f"text/csv{i}" for i in range(11)]}}, "between 1 and 10"),
])
def test_the_stand_in_refuses_what_sagemaker_refuses(create_config, change, constraint) -> None:
    with pytest.raises(ClientError, match=constraint) as refused:
        create_config({**VALID, **change})
    assert refused.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize("missing", ["CaptureOptions", "DestinationS3Uri", "InitialSamplingPercentage"])
def test_a_config_missing_a_required_member_never_leaves_the_client(create_config, missing) -> None:
    with pytest.raises(ParamValidationError, match=missing):
        create_config({k: v for k, v in VALID.items() if k != missing})


def test_captured_invocations_of_a_served_variant_read_back(aws_standin, s3_bucket) -> None:
    sagemaker = aws_standin.client("sagemaker")
    name = f"capture-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                           PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    destination = f"s3://{s3_bucket}/ml/m/data_capture"
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, DataCaptureConfig=capture_config(destination, 100),
        ProductionVariants=[{"VariantName": "v-1", "ModelName": name, "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    start = 1_767_614_400.0  # 2026-01-05 12:00 UTC
    invocations = [Invocation(start + 1200 * i, json.dumps({"x": i}), json.dumps({"prediction": 10 * i}),
                              event_id=f"e{i}") for i in range(6)]  # 12:00 .. 13:40: two hour folders
    assert aws_standin.capture_invocations(name, "v-1", invocations) == 6

    keys = [o["Key"] for o in aws_standin.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(k.rsplit("/", 1)[0] for k in keys) == [f"ml/m/data_capture/{name}/v-1/2026/01/05/12",
                                                          f"ml/m/data_capture/{name}/v-1/2026/01/05/13"]
    line = json.loads(aws_standin.client("s3").get_object(Bucket=s3_bucket, Key=sorted(keys)[0])["Body"]
                      .read().splitlines()[0])
    assert line["captureData"]["endpointInput"]["encoding"] == "JSON"  # the config's CaptureContentTypeHeader
    capture = CaptureReader(destination).read(name, "v-1", start + 1200, start + 3 * 1200)
    assert [(r.event_id, r.predictions) for r in capture.records] == [("e1", (10.0,)), ("e2", (20.0,))]
    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    sagemaker.delete_model(ModelName=name)
