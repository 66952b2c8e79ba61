"""ServingBackend on a SageMaker endpoint: one production variant per model version, weights in percent.

deploy:  the artifact's MANIFEST digest on S3 must be the registry's (Variant.manifest_digest) -> CreateModel
         (model.tar.gz = the inference handler under code/ + the verified artifact under artifact/) -> a new
         EndpointConfig (named by a hash of everything in it) with the current variants at their current weights
         plus the new one (the first variant of an endpoint takes 100 %) -> CreateEndpoint or UpdateEndpoint ->
         check that the endpoint now runs that config (SageMaker rolls a failed update back to the old config
         and reports InService with a FailureReason) -> delete the replaced config (never the one in use) and
         unused models.
weights: UpdateEndpointWeightsAndCapacities. Percent weights are SageMaker's relative weights as they are (they
         sum to 100); describe() turns current relative weights back into percent (a missing CurrentWeight is 0).
remove:  a new config without the variant (or no endpoint when it was the last), then the same cleanup.
shadow:  SageMaker mirrors live requests to a variant of the config's ShadowProductionVariants, beside exactly
         one production variant (CreateEndpointConfig's documentation; one shadow per endpoint). InvokeEndpoint's
         TargetVariant names production variants only, so a candidate is deployed (and health-checked) as a
         production variant at weight 0 whatever `Variant.shadow` says; start_shadow moves it into
         ShadowProductionVariants (a config switch, at the live variant's weight: the shadow gets every
         request) and end_shadow moves it back at weight 0 (the rollout's ordinary start). describe() gives a
         shadow 0 %: it gets no routed traffic, and set_weights never names it in
         UpdateEndpointWeightsAndCapacities (its DesiredWeightAndCapacity is a production variant's).
waiting: each change (CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities) takes minutes. By
         default the call waits for InService and then finishes the change (finish_change). Built with
         wait=False it raises EndpointChangeStarted right after starting the change instead: the operator
         defers to the triggerer (triggers/sagemaker_endpoint.py), calls finish_change(change) on resume and
         repeats its call, which finds the change made (every call is idempotent).
fencing: the endpoint's weight generation is an S3 object (<model_root>/endpoints/<endpoint>/generation.json)
         advanced by a conditional write (If-Match), so two fence() calls never return the same generation.
         set_weights/remove check their generation before the change and again after it: SageMaker has no
         conditional update, so a fence() that lands while a stale change is in flight cannot stop that change;
         the stale caller then gets StaleFenceError, and the fencer (rollback/finalize), which routes after
         fencing and verifies with describe(), sees and repairs the weights.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.artifacts import MANIFEST, TamperedArtifactError, verify_manifest
from airflow_mlprovider.backends.aws import settings
from airflow_mlprovider.backends.aws.data_capture import capture_config
from airflow_mlprovider.backends.aws.framework_images import framework_image_uri
from airflow_mlprovider.backends.aws.framework_version import FRAMEWORK_FILE
from airflow_mlprovider.backends.aws.instance_picker import pick_instance
from airflow_mlprovider.backends.aws.names import resource_name
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri
from airflow_mlprovider.backends.aws.source_bundle import (
    SERVE_PROGRAM,
    SERVING_CODE_DIR,
    serving_code_digest,
    serving_model_tarball,
)
from airflow_mlprovider.backends.base import EndpointChangeStarted, StaleFenceError

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import Variant
    from airflow_mlprovider.backends.aws.hosting import SageMakerHosting

JSON = "application/json"
_NOT_FOUND = {"ValidationException", "ResourceNotFound", "ObjectNotFoundException"}
_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_FENCE_ATTEMPTS = 20
_MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks model.tar.gz
PRODUCTION, SHADOWS = "ProductionVariants", "ShadowProductionVariants"


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def percent(weights: dict[str, float]) -> dict[str, float]:
    """Relative weights as percentages of their sum (all zero stays all zero)."""
    total = sum(weights.values())
    return {name: (100.0 * w / total if total else 0.0) for name, w in weights.items()}


def _check_weights(endpoint: str, variants: set[str], weights: dict[str, float]) -> None:
    """Weights must name every variant, be 0 or more, sum to 100, and route traffic somewhere."""
    missing = sorted(variants - set(weights))
    if missing:
        raise ValueError(f"weights for endpoint {endpoint} must name every variant; missing {', '.join(missing)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights for endpoint {endpoint} must be 0 or more, got {weights}")
    if variants and not any(weights.values()):
        raise ValueError(f"weights for endpoint {endpoint} are all 0: no variant would serve traffic")
    if abs(sum(weights.values()) - 100.0) > 1e-6:
        raise ValueError(f"weights for endpoint {endpoint} must sum to 100, got {sum(weights.values()):g}")


class SageMakerServing:
    """Serves a model's versions on SageMaker endpoints, as `hosting` says, through an Airflow AWS connection."""

    def __init__(
        self, hosting: SageMakerHosting, aws_conn_id: str = "aws_default", poll_interval_s: float | None = None,
        wait: bool = True,
    ) -> None:
        self.hosting = hosting
        self.poll_interval_s = settings.poll_interval_s() if poll_interval_s is None else poll_interval_s
        self.aws_conn_id = aws_conn_id
        self.wait = wait

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
        live = percent({v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in current[PRODUCTION]})
        return live | {v["VariantName"]: 0.0 for v in current.get(SHADOWS, [])}  # a shadow gets no routed traffic

    def fence(self, endpoint: str) -> int:
        uri = self._generation_uri(endpoint)
        for _ in range(_FENCE_ATTEMPTS):  # a lost conditional write: another fence() got there first, read again
            current = self.store.read_versioned(uri)
            generation = 1 + (json.loads(current.data)["generation"] if current.data is not None else 0)
            if self.store.write_if(uri, json.dumps({"generation": generation}).encode(), current.version):
                return generation
        raise RuntimeError(
            f"could not advance {uri} in {_FENCE_ATTEMPTS} conditional writes: another writer keeps winning, or "
            "the connection may write but not read it (s3:GetObject)"
        )

    def deploy(self, endpoint: str, variant: Variant, weight: float) -> None:
        # variant.shadow: deployed as a production variant at 0, to be health-checked; start_shadow mirrors to it
        current = self._endpoint(endpoint)
        shadows = [v["VariantName"] for v in self._config_variants(current, SHADOWS)]
        if variant.name in shadows:
            return  # a retried deploy after its shadow stage started: the variant is there
        if shadows:
            raise ValueError(f"endpoint {endpoint} hosts shadow variant {shadows[0]}, and SageMaker allows no second "
                             f"production variant beside a shadow: end or remove it before deploying {variant.name}")
        model_name = self._model(endpoint, variant)
        weights = self.describe(endpoint)
        kept = [v for v in self._config_variants(current) if v["VariantName"] != variant.name]
        variants = [{**v, "InitialVariantWeight": weights.get(v["VariantName"], 0.0)} for v in kept]
        if not any(v["InitialVariantWeight"] for v in variants):
            weight = 100.0  # the endpoint's only routable variant takes all traffic (all zero routes nothing)
        variants.append(self._production_variant(variant.name, model_name, weight))
        self._switch(endpoint, current, variants)
        self._autoscale(endpoint, variant.name)

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        known = set(self.describe(endpoint))
        unknown = sorted(set(weights) - known)
        if unknown:
            has = ", ".join(sorted(known)) or "none"
            raise ValueError(f"endpoint {endpoint} has no variant {', '.join(unknown)}; it has {has}")
        _check_weights(endpoint, known, weights)
        shadows = {v["VariantName"] for v in self._config_variants(self._endpoint(endpoint), SHADOWS)}
        routed = [name for name in shadows if weights[name]]
        if routed:
            raise ValueError(f"{routed[0]} is endpoint {endpoint}'s shadow variant: it takes no traffic weight on "
                             "SageMaker; end its shadow first (end_shadow), which makes it a production variant at 0")
        self._check_fence(endpoint, generation)
        self.hook.get_conn().update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": n, "DesiredWeight": float(w)} for n, w in weights.items() if n not in shadows
            ],
        )
        self._started(endpoint, {"kind": "weights", "weights": weights, "generation": generation})

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

    def remove(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        current = self._endpoint(endpoint)
        config_variants, shadows = self._config_variants(current), self._config_variants(current, SHADOWS)
        if not any(v["VariantName"] == variant for v in config_variants + shadows):
            return
        weights = self.describe(endpoint)
        remaining = [
            {**v, "InitialVariantWeight": weights.get(v["VariantName"], 0.0)}
            for v in config_variants
            if v["VariantName"] != variant
        ]
        remaining_shadows = [v for v in shadows if v["VariantName"] != variant]
        if remaining and not any(v["InitialVariantWeight"] for v in remaining):
            raise ValueError(
                f"removing {variant} from endpoint {endpoint} would leave no variant with traffic "
                f"(weights {weights}); route traffic to another variant first"
            )
        self._check_fence(endpoint, generation)
        self._deregister_autoscaling(endpoint, variant)
        if remaining:
            self._switch(endpoint, current, remaining, generation, remaining_shadows)
            return
        self.hook.get_conn().delete_endpoint(EndpointName=endpoint)  # a shadow cannot stay alone
        self._delete_config_and_models(endpoint, current["EndpointConfigName"], keep=set())

    def start_shadow(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        """Mirror the live requests to `variant`, a production variant at 0 %: a config with the endpoint's one
        routed production variant and `variant` as its shadow, at the same weight (every request is mirrored).

        Refuses (ValueError) what SageMaker cannot host: another production variant beside the routed one (even
        at 0 %), another shadow, or a `variant` that serves traffic. The shadow runs as many instances as the
        live variant does now (it answers the same requests) and is no autoscaling target meanwhile."""
        current = self._endpoint(endpoint)
        production, shadows = self._config_variants(current), self._config_variants(current, SHADOWS)
        if [v["VariantName"] for v in shadows] == [variant]:
            return  # already mirrored to: a retried (or resumed) task changes nothing
        weights = self.describe(endpoint)
        candidate = [v for v in production if v["VariantName"] == variant]
        if not candidate or weights[variant]:
            raise ValueError(f"endpoint {endpoint} has no production variant {variant} at 0 % to shadow the live "
                             f"one (weights {weights})")
        others = [v for v in production if v["VariantName"] != variant]
        if shadows or len(others) != 1 or not weights[others[0]["VariantName"]]:
            raise ValueError(
                f"SageMaker hosts a shadow variant beside exactly one production variant and no other shadow: "
                f"endpoint {endpoint} has {weights}; remove the variants at 0 % other than {variant} first")
        (live,) = others
        self._check_fence(endpoint, generation)
        self._deregister_autoscaling(endpoint, variant)
        count = max(live["InitialInstanceCount"], candidate[0]["InitialInstanceCount"])
        shadow = {**candidate[0], "InitialInstanceCount": count, "InitialVariantWeight": 100.0}
        self._switch(endpoint, current, [{**live, "InitialVariantWeight": 100.0}], generation, [shadow])

    def end_shadow(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        """Stop mirroring to the shadow `variant`: it becomes a production variant at 0 % (what a rollout starts
        from). Nothing to do when it is no shadow (any more)."""
        current = self._endpoint(endpoint)
        shadows = [v for v in self._config_variants(current, SHADOWS) if v["VariantName"] == variant]
        if shadows:
            weights = self.describe(endpoint)
            production = [
                {**v, "InitialVariantWeight": weights[v["VariantName"]]} for v in self._config_variants(current)
            ]
            self._check_fence(endpoint, generation)
            self._switch(endpoint, current, [*production, {**shadows[0], "InitialVariantWeight": 0.0}], generation)
        if variant in self.describe(endpoint):  # after the switch (or on the resumed call that finds it made)
            self._autoscale(endpoint, variant)

    def finish_change(self, change: dict[str, Any]) -> None:
        """After a started change reached InService: check that it took and clean up after it.

        A config switch that SageMaker rolled back (InService on the old config, with a FailureReason) raises
        naming the reason; the replaced config and the models only it used are deleted; a change carrying a
        generation that was fenced meanwhile raises StaleFenceError (the fencer's routing decides)."""
        endpoint = change["endpoint"]
        if change["kind"] == "config" and change["replaced"] is not None:
            self._check_switched(endpoint, change["config"])
            self._delete_config_and_models(endpoint, change["replaced"], keep=set(change["keep"]))
        self._check_fence(endpoint, change.get("generation"), after_change=True)

    def _started(self, endpoint: str, change: dict[str, Any]) -> None:
        """A change was just requested: wait for it and finish it here, or hand the wait to the caller."""
        change = {"endpoint": endpoint, **change}
        if not self.wait:
            raise EndpointChangeStarted(endpoint, change)
        self._wait_in_service(endpoint)
        self.finish_change(change)

    # -- weight generations -------------------------------------------------------------------------------------

    def _generation_uri(self, endpoint: str) -> str:
        if not self.hosting.state_uri:
            raise ValueError("SageMakerHosting.state_uri (an s3:// prefix) is needed to fence endpoint weights")
        return f"{self.hosting.state_uri.rstrip('/')}/endpoints/{endpoint}/generation.json"

    def _check_fence(self, endpoint: str, generation: int | None, after_change: bool = False) -> None:
        if generation is None:
            return
        stored = self.store.read_versioned(self._generation_uri(endpoint)).data
        current = json.loads(stored)["generation"] if stored is not None else 0
        if generation > current:
            raise ValueError(f"endpoint {endpoint}: generation {generation} was never issued (current {current})")
        if generation < current:
            when = "while this change was applied; the fencer's routing decides" if after_change else "first"
            raise StaleFenceError(
                f"endpoint {endpoint}: weight generation {generation} is stale, generation {current} fenced it {when}"
            )

    # -- endpoint configs ---------------------------------------------------------------------------------------

    def _endpoint(self, endpoint: str) -> dict[str, Any] | None:
        try:
            return self.hook.describe_endpoint(endpoint)
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) in _NOT_FOUND:
                return None
            raise

    def _config_variants(self, current: dict[str, Any] | None, kind: str = PRODUCTION) -> list[dict[str, Any]]:
        """The current config's production (or shadow) variants, with the endpoint's live instance counts
        (autoscaling may have moved them)."""
        if current is None or (kind == SHADOWS and not current.get(SHADOWS)):
            return []
        counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in current.get(kind, [])}
        config = self.hook.describe_endpoint_config(current["EndpointConfigName"])
        return [
            {**v, "InitialInstanceCount": counts.get(v["VariantName"]) or v["InitialInstanceCount"]}
            for v in config.get(kind) or []
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

    def _config(self, variants: list[dict[str, Any]], shadows: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """An endpoint config's content (all but its name): the variants, the shadows and the data capture settings."""
        keys = ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType", "InitialVariantWeight")
        config: dict[str, Any] = {PRODUCTION: [{k: v[k] for k in keys} for v in variants]}
        if shadows:  # absent otherwise: a config without shadows keeps the name it always had
            config[SHADOWS] = [{k: v[k] for k in keys} for v in shadows]
        if self.hosting.data_capture_percent:
            config["DataCaptureConfig"] = capture_config(self.hosting.data_capture_uri or "",
                                                         self.hosting.data_capture_percent)
        return config

    def _switch(
        self, endpoint: str, current: dict[str, Any] | None, variants: list[dict[str, Any]],
        generation: int | None = None, shadows: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Point the endpoint at a config of exactly `variants` (and `shadows`), then delete what the old config
        alone used."""
        config = self._config(variants, shadows)
        config_name = resource_name(endpoint, json.dumps(config, sort_keys=True))  # any change, a new name
        if current is not None and current["EndpointConfigName"] == config_name:
            return  # already there: a retried (or resumed) task changes nothing
        self._create_config(config_name, config)
        request = {"EndpointName": endpoint, "EndpointConfigName": config_name}
        if current is None:
            self.hook.create_endpoint(request, wait_for_completion=False)
        else:
            self.hook.update_endpoint({**request, "RetainAllVariantProperties": False}, wait_for_completion=False)
        self._started(endpoint, {
            "kind": "config",
            "config": config_name,
            "replaced": None if current is None else current["EndpointConfigName"],
            "keep": sorted({v["ModelName"] for v in config[PRODUCTION] + config.get(SHADOWS, [])}),
            "generation": generation,
        })

    def _check_switched(self, endpoint: str, config_name: str) -> None:
        """A failed UpdateEndpoint ends InService on the OLD config with a FailureReason: raise, naming it."""
        described = self.hook.describe_endpoint(endpoint)
        in_use = described["EndpointConfigName"]
        if in_use == config_name:
            return
        reason = described.get("FailureReason") or "no FailureReason given"
        self.hook.get_conn().delete_endpoint_config(EndpointConfigName=config_name)  # never used: nothing runs it
        raise RuntimeError(
            f"SageMaker could not update endpoint {endpoint} to config {config_name} and kept config {in_use} "
            f"(status {described['EndpointStatus']}): {reason}"
        )

    def _create_config(self, config_name: str, config: dict[str, Any]) -> None:
        try:
            self.hook.describe_endpoint_config(config_name)
            return
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) not in _NOT_FOUND:
                raise
        self.hook.create_endpoint_config({"EndpointConfigName": config_name, **config})

    def _delete_config_and_models(self, endpoint: str, config_name: str, keep: set[str]) -> None:
        """Delete a replaced config and the models only it used; never the config the endpoint runs."""
        live = self._endpoint(endpoint)
        if live is not None and live["EndpointConfigName"] == config_name and live["EndpointStatus"] != "Deleting":
            raise RuntimeError(f"endpoint {endpoint} still runs config {config_name}: not deleting it")
        client = self.hook.get_conn()
        old = self.hook.describe_endpoint_config(config_name)
        client.delete_endpoint_config(EndpointConfigName=config_name)
        for model_name in {v["ModelName"] for v in old[PRODUCTION] + (old.get(SHADOWS) or [])} - keep:
            try:
                client.delete_model(ModelName=model_name)
            except client.exceptions.ClientError as error:
                if _error_code(error) not in _NOT_FOUND:
                    raise

    def _wait_in_service(self, endpoint: str) -> None:
        """Poll until the endpoint leaves Creating/Updating; a Failed endpoint raises with its FailureReason."""
        self.hook.check_status(
            endpoint, "EndpointStatus", self.hook.describe_endpoint, self.poll_interval_s,
            non_terminal_states=self.hook.endpoint_non_terminal_states,
        )

    # -- models -------------------------------------------------------------------------------------------------

    def _model(self, endpoint: str, variant: Variant) -> str:
        """The SageMaker model serving `variant`, named by a hash of its container (image, model data, settings)."""
        if not self.hosting.role_arn:
            raise ValueError("train.role_arn is required with platform: aws (the SageMaker execution role ARN)")
        split_s3_uri(variant.artifact_uri)
        digest = self._registered_digest(variant)
        # model.tar.gz is write-once per (artifact, handler code): a scale-out of an older model still finds its own
        model_data = f"{variant.artifact_uri.rstrip('/')}-sagemaker/{digest[:16]}-{serving_code_digest()[:12]}/model.tar.gz"
        container = {
            "Image": self._image(variant),
            "ModelDataUrl": model_data,
            "Environment": {
                "SAGEMAKER_PROGRAM": SERVE_PROGRAM,
                "SAGEMAKER_SUBMIT_DIRECTORY": f"{_MODEL_DIR}/{SERVING_CODE_DIR}",  # inside model.tar.gz
                "SAGEMAKER_REGION": self.hook.conn_region_name,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "MLPROVIDER_FAULT_INJECTION": str(variant.fault_injection),
                "MLPROVIDER_MANIFEST_DIGEST": digest,
            },
        }
        model_name = resource_name(f"{endpoint}-{variant.name}", json.dumps(container, sort_keys=True))
        try:
            self.hook.describe_model(model_name)
            return model_name
        except self.hook.conn.exceptions.ClientError as error:
            if _error_code(error) not in _NOT_FOUND:
                raise
        with tempfile.TemporaryDirectory(prefix="mlprovider-variant-") as local:
            self.store.get_dir(variant.artifact_uri, local)
            if verify_manifest(local)["digest"] != digest:
                raise TamperedArtifactError(f"{variant.artifact_uri} changed while it was packaged for SageMaker")
            self.store.write_bytes(model_data, serving_model_tarball(local))
        self.hook.create_model(
            {
                "ModelName": model_name,
                "ExecutionRoleArn": self.hosting.role_arn,
                "PrimaryContainer": container,
                "Tags": [
                    {"Key": "mlprovider:model", "Value": self.hosting.model},
                    {"Key": "mlprovider:variant", "Value": variant.name},
                ],
            }
        )
        return model_name

    def _registered_digest(self, variant: Variant) -> str:
        """The artifact's MANIFEST digest on S3, which must be the registry's (Variant.manifest_digest)."""
        manifest = json.loads(self.store.read_bytes(f"{variant.artifact_uri.rstrip('/')}/{MANIFEST}"))
        if variant.manifest_digest and manifest["digest"] != variant.manifest_digest:
            raise TamperedArtifactError(
                f"{variant.artifact_uri}: manifest digest {manifest['digest']} is not the registered "
                f"{variant.manifest_digest}; refusing to deploy {variant.name}"
            )
        return str(manifest["digest"])

    def _image(self, variant: Variant) -> str:
        """The hosting image of the container version the artifact was trained in (its FRAMEWORK.json), so that
        the model is unpickled by the release that pickled it; else the declared version."""
        hosting = self.hosting
        if hosting.image_uri:
            return hosting.image_uri
        try:
            record = json.loads(self.store.read_bytes(f"{variant.artifact_uri.rstrip('/')}/{FRAMEWORK_FILE}"))
        except FileNotFoundError:
            record = {}
        framework = record.get("framework") or hosting.framework
        version = record.get("container_version") or hosting.framework_version
        return framework_image_uri(framework, self.hook.conn_region_name, "hosting", version)

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
