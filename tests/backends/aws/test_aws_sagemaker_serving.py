"""SageMakerServing against moto's server (UpdateEndpoint comes from the stand-in; see tests/aws_standin.py)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from airflow_mlprovider.artifacts import write_manifest
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing, percent
from airflow_mlprovider.backends.base import Variant

ENDPOINT = "toy-endpoint"


@pytest.fixture
def variant_for(aws_spec, toy_model_dir, tmp_path):
    """Upload an artifact predicting `mean` and return its Variant."""
    spec = aws_spec()

    def build(name: str, mean: float = 1.0, fault_injection: float = 0.0) -> Variant:
        folder = tmp_path / name
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "mean.json").write_text(json.dumps({"mean": mean}))
        (folder / "code").mkdir()
        shutil.copy(toy_model_dir / "toy_model.py", folder / "code" / "toy_model.py")
        write_manifest(folder)
        uri = f"{spec.model_root}/versions/{name}/artifact"
        S3ArtifactStore().put_dir(str(folder), uri)
        return Variant(name, uri, spec.code.request_schema, spec.code.response_schema, fault_injection)

    return build


def serving_for(spec) -> SageMakerServing:
    return SageMakerServing(SageMakerHosting.from_spec(spec), spec.aws_conn_id, poll_interval_s=0)


def config_variants(sagemaker, endpoint=ENDPOINT) -> dict[str, dict]:
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    return {v["VariantName"]: v for v in sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]}


def model_names(sagemaker) -> set[str]:
    return {m["ModelName"] for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(ENDPOINT)}


def test_champion_then_candidate_at_zero_then_weights_then_removal(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    serving = serving_for(aws_spec())
    assert serving.describe(ENDPOINT) == {}

    serving.deploy(ENDPOINT, variant_for("v-1"), 100)
    assert serving.describe(ENDPOINT) == {"v-1": 100.0}

    serving.deploy(ENDPOINT, variant_for("v-2", mean=2.0), 0)
    assert serving.describe(ENDPOINT) == {"v-1": 100.0, "v-2": 0.0}
    variants = config_variants(sagemaker)
    assert set(variants) == {"v-1", "v-2"} and variants["v-1"]["InstanceType"] == "ml.t2.medium"
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1  # the replaced config was deleted
    assert len(model_names(sagemaker)) == 2

    serving.set_weights(ENDPOINT, {"v-1": 75, "v-2": 25})
    assert serving.describe(ENDPOINT) == {"v-1": 75.0, "v-2": 25.0}

    serving.set_weights(ENDPOINT, {"v-1": 0, "v-2": 100})
    serving.remove(ENDPOINT, "v-1")
    assert serving.describe(ENDPOINT) == {"v-2": 100.0}
    assert set(config_variants(sagemaker)) == {"v-2"}
    assert len(model_names(sagemaker)) == 1  # v-1's model went with it

    serving.remove(ENDPOINT, "v-1")  # already gone: no error
    serving.remove(ENDPOINT, "v-2")  # the last variant: the endpoint goes too
    assert serving.describe(ENDPOINT) == {}
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == [] and model_names(sagemaker) == set()


def test_deploy_is_idempotent_and_model_tarball_is_the_artifact(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    serving = serving_for(aws_spec())
    variant = variant_for("v-7")
    serving.deploy(ENDPOINT, variant, 100)
    config = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    serving.deploy(ENDPOINT, variant, 100)  # a retried deploy
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config

    (model,) = model_names(sagemaker)
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    assert container["Image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "mlprovider_serve.py"
    bucket, key = split_s3_uri(container["ModelDataUrl"])
    with tarfile.open(fileobj=io.BytesIO(aws_standin.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        assert set(tar.getnames()) == {"MANIFEST.json", "code/toy_model.py", "model/mean.json"}
    serving.remove(ENDPOINT, "v-7")


def test_inference_handler_serves_the_artifact_without_our_package(aws_spec, variant_for, aws_standin, tmp_path):
    """Run the handler as the framework container would: model_fn / input_fn / predict_fn / output_fn."""
    sagemaker, s3 = aws_standin.client("sagemaker"), aws_standin.client("s3")
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-3", mean=4.5), 100)
    (model,) = model_names(sagemaker)
    environment = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    for uri, folder in [(environment["ModelDataUrl"], "model"), (environment["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"], "code")]:
        bucket, key = split_s3_uri(uri)
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            tar.extractall(tmp_path / folder, filter="data")
    script = (
        "import sys; sys.modules['airflow_mlprovider'] = None; sys.path.insert(0, 'code'); "
        "import mlprovider_serve as h; p = h.model_fn('model'); "
        "print(h.output_fn(h.predict_fn(h.input_fn('{\"x\": 1}', 'application/json'), p), 'application/json')[0])"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"prediction": 4.5}
    serving.remove(ENDPOINT, "v-3")


def test_data_capture_and_autoscaling_follow_the_spec(aws_spec, variant_for, aws_standin):
    spec = aws_spec(serving={"endpoint": ENDPOINT, "data_capture_percent": 20, "instance_type": "ml.m5.large",
                             "autoscaling": {"max_instances": 4, "invocations_per_instance": 500}})
    serving = serving_for(spec)
    serving.deploy(ENDPOINT, variant_for("v-4"), 100)

    sagemaker = aws_standin.client("sagemaker")
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    )
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"{spec.model_root}/data_capture"
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    autoscaling = aws_standin.client("application-autoscaling")
    resource = f"endpoint/{ENDPOINT}/variant/v-4"
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    (policy,) = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 500.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"

    serving.remove(ENDPOINT, "v-4")
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"] == []


def test_invoke_targets_the_variant_and_handles_non_json(aws_spec, aws_standin):
    serving = serving_for(aws_spec())
    aws_standin.queue_invoke_results([
        {"Body": '{"prediction": 3.0}', "ContentType": "application/json", "InvokedProductionVariant": "v-1"},
        {"Body": "<html>oops</html>", "ContentType": "text/html", "InvokedProductionVariant": "v-1"},
    ])
    assert serving.invoke(ENDPOINT, "v-1", {"x": 1}) == (200, {"prediction": 3.0})
    status, body = serving.invoke(ENDPOINT, "v-1", {"x": 2})
    assert status == 502 and "non-JSON" in body["error"]


def test_unknown_variant_weights_and_missing_role_are_clear_errors(aws_spec, variant_for):
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-5"), 100)
    with pytest.raises(ValueError, match="has no variant v-9; it has v-5"):
        serving.set_weights(ENDPOINT, {"v-9": 100})
    serving.remove(ENDPOINT, "v-5")
    with pytest.raises(ValueError, match="train.role_arn is required"):
        serving_for(aws_spec(train={"compute": "sagemaker"})).deploy(ENDPOINT, variant_for("v-6"), 100)


def test_percent_of_relative_weights():
    assert percent({"a": 1, "b": 3}) == {"a": 25.0, "b": 75.0}
    assert percent({"a": 0, "b": 0}) == {"a": 0.0, "b": 0.0}
