"""ServingBackend on a SageMaker endpoint: one production variant per model version, weights in percent.

deploy:  CreateModel (model.tar.gz = the artifact folder; inference handler = a source tarball for the framework
         container) -> a new EndpointConfig with the current variants at their current weights plus the new one
         -> CreateEndpoint (first time) or UpdateEndpoint -> delete the replaced config and unused models.
weights: UpdateEndpointWeightsAndCapacities. Percent weights are SageMaker's relative weights as they are (they
         sum to 100); describe() turns current relative weights back into percent (a missing CurrentWeight is 0).
remove:  a new config without the variant (or no endpoint when it was the last), then the same cleanup.
"""

from __future__ import annotations

import json
import tempfile
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.backends.aws import settings
from airflow_mlprovider.backends.aws.framework_images import framework_image_uri
from airflow_mlprovider.backends.aws.instance_picker import pick_instance
from airflow_mlprovider.backends.aws.names import resource_name
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.source_bundle import SERVE_PROGRAM, directory_tarball, serving_source

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import Variant
    from airflow_mlprovider.backends.aws.hosting import SageMakerHosting

JSON = "application/json"
_NOT_FOUND = {"ValidationException", "ResourceNotFound", "ObjectNotFoundException"}
_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def percent(weights: dict[str, float]) -> dict[str, float]:
    """Relative weights as percentages of their sum (all zero stays all zero)."""
    total = sum(weights.values())
    return {name: (100.0 * w / total if total else 0.0) for name, w in weights.items()}


class SageMakerServing:
    """Serves `spec`'s versions on SageMaker. AWS connection: serving.conn_id, else aws_conn_id."""

    def __init__(self, hosting: SageMakerHosting, aws_conn_id: str = "aws_default",
                 poll_interval_s: float | None = None) -> None:
        self.hosting = hosting
        self.poll_interval_s = settings.poll_interval_s() if poll_interval_s is None else poll_interval_s
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.aws_conn_id)

    def _client(self, service: str) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type=service).get_conn()

    @cached_property
    def store(self) -> S3ArtifactStore:
        return S3ArtifactStore(self.aws_conn_id)

    # -- ServingBackend ---------------------------------------------------------------------------------------

    def describe(self, endpoint: str) -> dict[str, float]:
        current = self._endpoint(endpoint)
        if current is None:
            return {}
        return percent({v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in current["ProductionVariants"]})

    def deploy(self, endpoint: str, variant: Variant, weight: float) -> None:
        model_name = self._model(endpoint, variant)
        current = self._endpoint(endpoint)
        weights = self.describe(endpoint)
        kept = [v for v in self._config_variants(current) if v["VariantName"] != variant.name]
        variants = [{**v, "InitialVariantWeight": weights.get(v["VariantName"], 0.0)} for v in kept]
        variants.append(self._production_variant(variant.name, model_name, weight))
        self._switch(endpoint, current, variants)
        self._autoscale(endpoint, variant.name)

    def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        known = set(self.describe(endpoint))
        unknown = sorted(set(weights) - known)
        if unknown:
            has = ", ".join(sorted(known)) or "none"
            raise ValueError(f"endpoint {endpoint} has no variant {', '.join(unknown)}; it has {has}")
        self.hook.get_conn().update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": n, "DesiredWeight": float(w)} for n, w in weights.items()],
        )
        self._wait_in_service(endpoint)

    def invoke(self, endpoint: str, variant: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        runtime = self._client("sagemaker-runtime")
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint, TargetVariant=variant, ContentType=JSON, Accept=JSON, Body=json.dumps(request)
            )
        except runtime.exceptions.ModelError as error:  # the container answered with an error
            message = error.response.get("OriginalMessage", str(error))
            return int(error.response.get("OriginalStatusCode", 500)), {"error": message}
        except runtime.exceptions.ClientError as error:
            return int(error.response["ResponseMetadata"]["HTTPStatusCode"]), {"error": str(error)}
        body = response["Body"].read()
        try:
            return 200, json.loads(body)
        except ValueError:
            return 502, {"error": f"variant {variant} answered with non-JSON: {body[:200]!r}"}

    def remove(self, endpoint: str, variant: str) -> None:
        current = self._endpoint(endpoint)
        config_variants = self._config_variants(current)
        if not any(v["VariantName"] == variant for v in config_variants):
            return
        self._deregister_autoscaling(endpoint, variant)
        weights = self.describe(endpoint)
        remaining = [
            {**v, "InitialVariantWeight": weights.get(v["VariantName"], 0.0)}
            for v in config_variants
            if v["VariantName"] != variant
        ]
        if remaining:
            self._switch(endpoint, current, remaining)
            return
        self.hook.get_conn().delete_endpoint(EndpointName=endpoint)
        self._delete_config_and_models(current["EndpointConfigName"], keep=set())

    # -- endpoint configs ---------------------------------------------------------------------------------------

    def _endpoint(self, endpoint: str) -> dict[str, Any] | None:
        try:
            return self.hook.describe_endpoint(endpoint)
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) in _NOT_FOUND:
                return None
            raise

    def _config_variants(self, current: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The current config's variants, with the endpoint's live instance counts (autoscaling may have moved them)."""
        if current is None:
            return []
        counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in current["ProductionVariants"]}
        config = self.hook.describe_endpoint_config(current["EndpointConfigName"])
        return [
            {**v, "InitialInstanceCount": counts.get(v["VariantName"]) or v["InitialInstanceCount"]}
            for v in config["ProductionVariants"]
        ]

    def _production_variant(self, name: str, model_name: str, weight: float) -> dict[str, Any]:
        hosting = self.hosting
        instance_type = hosting.instance_type or (
            pick_instance(hosting.cpus, hosting.memory_gb, False, "hosting").chosen.name
        )
        return {
            "VariantName": name,
            "ModelName": model_name,
            "InitialInstanceCount": hosting.instance_count,
            "InstanceType": instance_type,
            "InitialVariantWeight": float(weight),
        }

    def _switch(self, endpoint: str, current: dict[str, Any] | None, variants: list[dict[str, Any]]) -> None:
        """Point the endpoint at a config of exactly `variants`, then delete what the old config alone used."""
        keys = ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType", "InitialVariantWeight")
        variants = [{k: v[k] for k in keys} for v in variants]
        config_name = resource_name(endpoint, json.dumps(variants, sort_keys=True))
        if current is not None and current["EndpointConfigName"] == config_name:
            return  # already there: a retried task changes nothing
        self._create_config(config_name, variants)
        request = {"EndpointName": endpoint, "EndpointConfigName": config_name}
        wait = {"wait_for_completion": True, "check_interval": self.poll_interval_s}  # float: sub-second stays
        if current is None:
            self.hook.create_endpoint(request, **wait)
            return
        self.hook.update_endpoint({**request, "RetainAllVariantProperties": False}, **wait)
        self._delete_config_and_models(current["EndpointConfigName"], keep={v["ModelName"] for v in variants})

    def _create_config(self, config_name: str, variants: list[dict[str, Any]]) -> None:
        try:
            self.hook.describe_endpoint_config(config_name)
            return
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) not in _NOT_FOUND:
                raise
        config: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": variants}
        capture = self.hosting.data_capture_percent
        if capture:
            config["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": capture,
                "DestinationS3Uri": self.hosting.data_capture_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            }
        self.hook.create_endpoint_config(config)

    def _delete_config_and_models(self, config_name: str, keep: set[str]) -> None:
        client = self.hook.get_conn()
        old = self.hook.describe_endpoint_config(config_name)
        client.delete_endpoint_config(EndpointConfigName=config_name)
        for model_name in {v["ModelName"] for v in old["ProductionVariants"]} - keep:
            try:
                client.delete_model(ModelName=model_name)
            except client.exceptions.ClientError as error:
                if _error_code(error) not in _NOT_FOUND:
                    raise

    def _wait_in_service(self, endpoint: str) -> None:
        self.hook.check_status(
            endpoint, "EndpointStatus", self.hook.describe_endpoint, self.poll_interval_s,
            non_terminal_states=self.hook.endpoint_non_terminal_states,
        )

    # -- models -------------------------------------------------------------------------------------------------

    def _model(self, endpoint: str, variant: Variant) -> str:
        """The SageMaker model serving `variant` (created once per artifact, image and fault setting)."""
        if not self.hosting.role_arn:
            raise ValueError("train.role_arn is required with platform: aws (the SageMaker execution role ARN)")
        image = self._image()
        identity = f"{variant.artifact_uri}|{image}|{variant.fault_injection}"
        model_name = resource_name(f"{endpoint}-{variant.name}", identity)
        try:
            self.hook.describe_model(model_name)
            return model_name
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) not in _NOT_FOUND:
                raise
        split_s3_uri(variant.artifact_uri)
        packaged = f"{variant.artifact_uri.rstrip('/')}-sagemaker"
        with tempfile.TemporaryDirectory(prefix="mlprovider-variant-") as local:
            self.store.get_dir(variant.artifact_uri, local)
            self.store.write_bytes(f"{packaged}/model.tar.gz", directory_tarball(local))
        self.store.write_bytes(f"{packaged}/sourcedir.tar.gz", serving_source())
        self.hook.create_model(
            {
                "ModelName": model_name,
                "ExecutionRoleArn": self.hosting.role_arn,
                "PrimaryContainer": {
                    "Image": image,
                    "ModelDataUrl": f"{packaged}/model.tar.gz",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": SERVE_PROGRAM,
                        "SAGEMAKER_SUBMIT_DIRECTORY": f"{packaged}/sourcedir.tar.gz",
                        "SAGEMAKER_REGION": self.hook.conn_region_name,
                        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        "MLPROVIDER_FAULT_INJECTION": str(variant.fault_injection),
                    },
                },
                "Tags": [
                    {"Key": "mlprovider:model", "Value": self.hosting.model},
                    {"Key": "mlprovider:variant", "Value": variant.name},
                ],
            }
        )
        return model_name

    def _image(self) -> str:
        hosting = self.hosting
        return hosting.image_uri or framework_image_uri(
            hosting.framework, self.hook.conn_region_name, "hosting", hosting.framework_version
        )

    # -- autoscaling ----------------------------------------------------------------------------------------------

    def _autoscale(self, endpoint: str, variant: str) -> None:
        scaling = self.hosting.autoscaling
        if scaling is None:
            return
        client = self._client("application-autoscaling")
        target = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": f"endpoint/{endpoint}/variant/{variant}",
            "ScalableDimension": _SCALABLE_DIMENSION,
        }
        client.register_scalable_target(**target, MinCapacity=scaling.min_instances, MaxCapacity=scaling.max_instances)
        client.put_scaling_policy(
            **target,
            PolicyName=f"{variant}-invocations-per-instance",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(scaling.invocations_per_instance),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )

    def _deregister_autoscaling(self, endpoint: str, variant: str) -> None:
        """SageMaker refuses to drop a variant that is still a scalable target."""
        if self.hosting.autoscaling is None:
            return
        client = self._client("application-autoscaling")
        try:
            client.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/{variant}",
                ScalableDimension=_SCALABLE_DIMENSION,
            )
        except client.exceptions.ObjectNotFoundException:
            pass  # never registered, or an earlier try already deregistered it
