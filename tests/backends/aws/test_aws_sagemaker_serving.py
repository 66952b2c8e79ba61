"""SageMakerServing against moto's server (UpdateEndpoint comes from the stand-in; see tests/aws_standin.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from airflow_mlprovider.artifacts import TamperedArtifactError, write_manifest
from airflow_mlprovider.backends.aws.framework_images import framework_image_uri
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing, percent
from airflow_mlprovider.backends.base import StaleFenceError, Variant

ENDPOINT = "toy-endpoint"


def forget_endpoint(sagemaker, endpoint: str) -> None:
    """Delete `endpoint`, its configs and its models from moto's SageMaker (shared by the session), if there."""
    from botocore.exceptions import ClientError

    try:
        sagemaker.delete_endpoint(EndpointName=endpoint)
    except ClientError:
        pass  # no endpoint: nothing to delete
    for config in sagemaker.list_endpoint_configs(NameContains=endpoint, MaxResults=100)["EndpointConfigs"]:
        sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
    for model in sagemaker.list_models(NameContains=endpoint, MaxResults=100)["Models"]:
        sagemaker.delete_model(ModelName=model["ModelName"])


@pytest.fixture(autouse=True)
def no_toy_endpoint(aws_standin):
    """Each test starts without the toy endpoint, its configs and models: pytest-xdist hands a worker any subset
    of the session's tests, in any mix with other files using the same moto server."""
    forget_endpoint(aws_standin.client("sagemaker"), ENDPOINT)


@pytest.fixture
def variant_for(aws_spec, toy_model_dir, tmp_path):
    """Upload an artifact predicting `mean` and return its Variant."""
    spec = aws_spec()

    def build(name: str, mean: float = 1.0, fault_injection: float = 0.0, registered: bool = True) -> Variant:
        folder = tmp_path / name
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "mean.json").write_text(json.dumps({"mean": mean}))
        (folder / "code").mkdir()
        shutil.copy(toy_model_dir / "toy_model.py", folder / "code" / "toy_model.py")
        digest = write_manifest(folder)["digest"]
        uri = f"{spec.model_root}/versions/{name}/artifact"
        S3ArtifactStore().put_dir(str(folder), uri)
        return Variant(name, uri, spec.code.request_schema, spec.code.response_schema, fault_injection,
                       manifest_digest=digest if registered else "")

    return build


def serving_for(spec) -> SageMakerServing:
    return SageMakerServing(SageMakerHosting.from_spec(spec), spec.aws_conn_id, poll_interval_s=0)


def config_variants(sagemaker, endpoint=ENDPOINT) -> dict[str, dict]:
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    return {v["VariantName"]: v for v in sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]}


def model_names(sagemaker) -> set[str]:
    """The toy endpoint's models (moto's SageMaker is shared by the session's tests on this worker)."""
    listed = sagemaker.list_models(NameContains=ENDPOINT, MaxResults=100)["Models"]
    return {m["ModelName"] for m in listed if m["ModelName"].startswith(ENDPOINT)}


def config_names(sagemaker) -> list[str]:
    """The toy endpoint's endpoint configs (other tests' endpoints share moto's SageMaker)."""
    listed = sagemaker.list_endpoint_configs(NameContains=ENDPOINT, MaxResults=100)["EndpointConfigs"]
    return [c["EndpointConfigName"] for c in listed]


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
    assert len(config_names(sagemaker)) == 1  # the replaced config was deleted
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
    assert config_names(sagemaker) == [] and model_names(sagemaker) == set()


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
    assert container["Image"] == framework_image_uri("sklearn", "us-east-1", "hosting")
    # the handler travels inside model.tar.gz under code/, where every inference toolkit (PyTorch's too) looks
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "mlprovider_serve.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert model_tarball_names(aws_standin, container) == {
        "code/mlprovider_serve.py", "code/mlprovider_artifacts.py", "code/mlprovider_contract.py",
        "artifact/MANIFEST.json", "artifact/code/toy_model.py", "artifact/model/mean.json",
    }
    serving.remove(ENDPOINT, "v-7")


def model_tarball_names(aws_standin, container) -> set[str]:
    bucket, key = split_s3_uri(container["ModelDataUrl"])
    with tarfile.open(fileobj=io.BytesIO(aws_standin.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        return set(tar.getnames())


def test_pytorch_hosting_ships_the_handler_in_model_tar_gz(aws_spec, variant_for, aws_standin):
    """The PyTorch inference toolkit ignores an S3 SAGEMAKER_SUBMIT_DIRECTORY and loads code/ in model.tar.gz."""
    spec = aws_spec(train={"compute": "sagemaker", "role_arn": "arn:aws:iam::1:role/r", "framework": "pytorch",
                           "framework_version": "2.6.0"})
    serving = serving_for(spec)
    serving.deploy(ENDPOINT, variant_for("v-8"), 100)
    sagemaker = aws_standin.client("sagemaker")
    (model,) = model_names(sagemaker)
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    assert container["Image"].endswith("/pytorch-inference:2.6.0-cpu-py312")
    assert not container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"].startswith("s3://")
    names = model_tarball_names(aws_standin, container)
    assert f"code/{container['Environment']['SAGEMAKER_PROGRAM']}" in names
    serving.remove(ENDPOINT, "v-8")


def test_inference_handler_serves_the_artifact_without_our_package(aws_spec, variant_for, aws_standin, tmp_path):
    """Run the handler as the framework container would: model_fn / input_fn / predict_fn / output_fn."""
    sagemaker, s3 = aws_standin.client("sagemaker"), aws_standin.client("s3")
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-3", mean=4.5), 100)
    (model,) = model_names(sagemaker)
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    bucket, key = split_s3_uri(container["ModelDataUrl"])
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        tar.extractall(tmp_path / "opt_ml_model", filter="data")  # what SageMaker does with model.tar.gz
    script = (
        "import sys; sys.modules['airflow_mlprovider'] = None; sys.path.insert(0, 'opt_ml_model/code'); "
        "import mlprovider_serve as h; p = h.model_fn('opt_ml_model'); "
        "print(h.output_fn(h.predict_fn(h.input_fn('{\"x\": 1}', 'application/json'), p), 'application/json')[0])"
    )
    env = {**os.environ, "MLPROVIDER_MANIFEST_DIGEST": container["Environment"]["MLPROVIDER_MANIFEST_DIGEST"]}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"prediction": 4.5}
    env["MLPROVIDER_MANIFEST_DIGEST"] = "0" * 64  # not the registered artifact: the handler refuses to load it
    refused = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "is not the registered version" in refused.stderr
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


def test_first_variant_of_an_endpoint_takes_all_traffic(aws_spec, variant_for):
    """Deployed at 0 % onto no endpoint, the only variant would route nothing: it is created at 100 %."""
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-10"), 0)
    assert serving.describe(ENDPOINT) == {"v-10": 100.0}
    serving.remove(ENDPOINT, "v-10")


def test_failed_update_is_detected_and_the_config_in_use_is_kept(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-11"), 100)
    in_use = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]

    candidate = variant_for("v-12")
    aws_standin.fail_next_update(ENDPOINT, "The primary container for production variant v-12 did not pass the ping health check.")
    with pytest.raises(RuntimeError, match=f"kept config {in_use} .*did not pass the ping health check"):
        serving.deploy(ENDPOINT, candidate, 0)
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == in_use
    configs = [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs(NameContains=ENDPOINT)["EndpointConfigs"]]
    assert configs == [in_use]  # the config in use survives; the unused new one is gone

    serving.deploy(ENDPOINT, candidate, 0)  # a later deploy still works
    assert serving.describe(ENDPOINT) == {"v-11": 100.0, "v-12": 0.0}
    serving.set_weights(ENDPOINT, {"v-11": 0, "v-12": 100})
    serving.remove(ENDPOINT, "v-11")
    serving.remove(ENDPOINT, "v-12")


def test_a_data_capture_change_is_applied(aws_spec, variant_for, aws_standin):
    sagemaker = aws_standin.client("sagemaker")
    variant = variant_for("v-13")
    for percent_captured in (10, 30):
        spec = aws_spec(serving={"endpoint": ENDPOINT, "data_capture_percent": percent_captured})
        serving_for(spec).deploy(ENDPOINT, variant, 100)
        config = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
        capture = sagemaker.describe_endpoint_config(EndpointConfigName=config)["DataCaptureConfig"]
        assert capture["InitialSamplingPercentage"] == percent_captured
    serving_for(spec).remove(ENDPOINT, "v-13")


def test_weights_are_fenced_by_generation(aws_spec, variant_for):
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-14"), 100)
    serving.deploy(ENDPOINT, variant_for("v-15"), 0)
    rollout = serving.fence(ENDPOINT)
    serving.set_weights(ENDPOINT, {"v-14": 90, "v-15": 10}, generation=rollout)
    rollback = serving_for(aws_spec()).fence(ENDPOINT)  # another worker takes over
    assert rollback == rollout + 1
    with pytest.raises(StaleFenceError, match=f"generation {rollout} is stale, generation {rollback} fenced it"):
        serving.set_weights(ENDPOINT, {"v-14": 50, "v-15": 50}, generation=rollout)
    with pytest.raises(StaleFenceError):
        serving.remove(ENDPOINT, "v-15", generation=rollout)
    assert serving.describe(ENDPOINT) == {"v-14": 90.0, "v-15": 10.0}
    serving.set_weights(ENDPOINT, {"v-14": 100, "v-15": 0}, generation=rollback)
    serving.remove(ENDPOINT, "v-15", generation=rollback)
    assert serving.describe(ENDPOINT) == {"v-14": 100.0}
    serving.remove(ENDPOINT, "v-14")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"v-16": 0, "v-17": 0}, "are all 0"),
        ({"v-16": 100}, "must name every variant; missing v-17"),
        ({"v-16": 60, "v-17": 60}, "must sum to 100"),
        ({"v-16": 110, "v-17": -10}, "must be 0 or more"),
    ],
)
def test_weights_that_route_nothing_or_not_everything_are_refused(aws_spec, variant_for, weights, message):
    serving = serving_for(aws_spec())
    serving.deploy(ENDPOINT, variant_for("v-16"), 100)
    serving.deploy(ENDPOINT, variant_for("v-17"), 0)
    with pytest.raises(ValueError, match=message):
        serving.set_weights(ENDPOINT, weights)
    with pytest.raises(ValueError, match="would leave no variant with traffic"):
        serving.remove(ENDPOINT, "v-16")  # v-17 has 0 %
    assert serving.describe(ENDPOINT) == {"v-16": 100.0, "v-17": 0.0}
    serving.remove(ENDPOINT, "v-17")
    serving.remove(ENDPOINT, "v-16")


def test_deploy_refuses_an_artifact_that_is_not_the_registered_one(aws_spec, variant_for, aws_standin):
    serving = serving_for(aws_spec())
    variant = variant_for("v-18")
    tampered = Variant(**{**variant.__dict__, "manifest_digest": "f" * 64})
    with pytest.raises(TamperedArtifactError, match=f"is not the registered {'f' * 64}"):
        serving.deploy(ENDPOINT, tampered, 100)
    assert serving.describe(ENDPOINT) == {}
    assert model_names(aws_standin.client("sagemaker")) == set()
