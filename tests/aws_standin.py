"""A local stand-in for AWS: moto's server on 127.0.0.1, plus what moto lacks, added to moto (never to our code).

Register with ``pytest_plugins = ["tests.aws_standin"]`` (a conftest does it for tests/backends/aws).

What the stand-in adds to moto 5, and where it is stricter than moto (as the real services are):
- UpdateEndpoint (moto answers HTTP 500): switches the endpoint to the new config's variants, as SageMaker does
  when RetainAllVariantProperties is false. `fail_next_update(endpoint, reason)` makes the next one fail as
  SageMaker's do: the endpoint stays on its old config, InService, with the FailureReason; with
  `status="Failed"` it ends Failed (SageMaker could not roll back either).
- Endpoint changes take time, as on SageMaker: after UpdateEndpoint or UpdateEndpointWeightsAndCapacities the
  endpoint reports Updating until the next DescribeEndpoint (one status poll) shows the outcome, and a further
  update while it is Updating is refused (ValidationException, as SageMaker's "Cannot update in-progress
  endpoint"). moto finishes both at once, which hides a caller that does not wait.
- CreateTrainingJob checks HyperParameters against botocore's SageMaker model (value <= 2,500 characters,
  key <= 256, at most 100 entries); moto accepts anything.
- S3 buckets made with `new_bucket(list_allowed=False)` play a caller without s3:ListBucket: listing is denied,
  and a GET/HEAD of a missing key is 403 AccessDenied, as S3 answers then (moto always answers 404).
- GetMetricData reads whole minutes as CloudWatch does for 1-minute metrics: StartTime rounded down to the minute
  (botocore's documentation of GetMetricData), and a minute read whole if it starts before EndTime. moto filters
  raw timestamps, which hides a window that reads a boundary minute twice.
- Late publishing: `publish_cloudwatch_until(t)` hides every datapoint stamped at or after t (SageMaker's metrics
  reach CloudWatch 1-3 minutes late); `publish_cloudwatch_until(None)` publishes everything.
- Percentile statistics (p99...) in GetMetricData: moto computes none (and fails serializing the None it gets);
  here a pNN is the nearest-rank percentile of the raw datapoints, as CloudWatch computes it from raw values.
- The script-mode container of a training job: moto marks a job Completed at once and writes nothing. Here a
  CreateTrainingJob runs what the framework container would: it downloads the channels and the source tarball,
  runs ``sagemaker_program`` with the SM_* environment in a Python where ``airflow_mlprovider`` cannot be imported
  (the container does not have our package), and uploads /opt/ml/model as ``model.tar.gz`` to the job's output.
  A failing entry point or an exceeded MaxRuntimeInSeconds marks the job Failed with the reason.
- Data capture: moto writes no capture files. `capture_invocations(endpoint, variant, invocations)` writes what
  SageMaker would after those invocations, as the endpoint's config says: nothing without an enabled
  DataCaptureConfig, a sample of InitialSamplingPercentage % of them, one JSON line each (`capture_line`, the
  documented format: JSON and CSV content types named in CaptureContentTypeHeader as text, others BASE64) under
  `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm-uuid>.jsonl`, the invocation's hour (UTC).
- CreateEndpointConfig checks DataCaptureConfig against botocore's SageMaker model where botocore's client does
  not (maximums, patterns): SamplingPercentage <= 100, DestinationS3Uri's pattern and length, the content
  types' patterns and counts, at most 32 CaptureOptions. moto accepts any of them.
- Shadow variants (moto ignores ShadowProductionVariants): CreateEndpointConfig stores them and refuses what
  SageMaker refuses: with shadows, exactly one production and one shadow variant (botocore's documentation of
  the field); a variant name used twice across both lists; a shadow whose model does not exist; serverless,
  Inf1 and Elastic Inference variants beside a shadow (the shadow tests' exclusions). DescribeEndpointConfig and
  DescribeEndpoint return them (the endpoint's as ProductionVariantSummary, with CurrentWeight and instance
  counts); UpdateEndpoint switches them with the config. InvokeEndpoint's TargetVariant may not name a shadow
  (it names a production variant); UpdateEndpointWeightsAndCapacities already refuses one (moto looks the name
  up among the production variants).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"

# The entry point runs the way the framework container runs it, minus our package.
_CONTAINER_PYTHON = (
    "import runpy, sys; sys.modules['airflow_mlprovider'] = None; "
    "sys.argv = [sys.argv[1]]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@dataclass(frozen=True)
class AwsStandin:
    endpoint_url: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION)

    def new_bucket(self, list_allowed: bool = True) -> str:
        name = f"mlp-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        if not list_allowed:
            _UNLISTABLE_BUCKETS.add(name)
        return name

    def publish_cloudwatch_until(self, timestamp: float | None) -> None:
        """CloudWatch has published the datapoints stamped before `timestamp` only (None: all of them)."""
        _CLOUDWATCH["published_until"] = timestamp

    def fail_next_update(self, endpoint: str, reason: str, status: str = "InService") -> None:
        """The next UpdateEndpoint of `endpoint` fails: SageMaker keeps the old config and reports InService
        (or, status="Failed", the endpoint ends Failed), with `reason` as FailureReason."""
        _FAILING_UPDATES[endpoint] = (reason, status)

    def queue_invoke_results(self, results: list[dict[str, Any]]) -> None:
        """Queue the answers of sagemaker-runtime InvokeEndpoint (moto's canned-result API)."""
        import requests

        url = f"{self.endpoint_url}/moto-api/static/sagemaker/endpoint-results"
        requests.post(url, json={"region": REGION, "results": results}, timeout=10).raise_for_status()

    def capture_invocations(self, endpoint: str, variant: str, invocations: Sequence[Invocation],
                            seed: int = 0) -> int:
        """Write the data capture SageMaker would write for `invocations` of `variant` on `endpoint`, as its
        current config's DataCaptureConfig says; the number of invocations captured."""
        import random

        sagemaker = self.client("sagemaker")
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name).get("DataCaptureConfig")
        if not config or not config.get("EnableCapture", True):
            return 0
        rng = random.Random(seed)
        sampled = [i for i in invocations if rng.random() * 100 < config["InitialSamplingPercentage"]]
        modes = {o["CaptureMode"] for o in config["CaptureOptions"]}
        headers = config.get("CaptureContentTypeHeader") or {}
        files: dict[datetime, list[str]] = {}  # the hour's first invocation -> its lines
        for invocation in sorted(sampled, key=lambda i: i.time):
            moment = datetime.fromtimestamp(invocation.time, timezone.utc)
            first = next((f for f in files if f"{f:%Y%m%d%H}" == f"{moment:%Y%m%d%H}"), moment)
            files.setdefault(first, []).append(capture_line(
                invocation, headers.get("JsonContentTypes", []), headers.get("CsvContentTypes", []),
                input_captured=bool(modes & {"Input", "InputAndOutput"}),
                output_captured=bool(modes & {"Output", "InputAndOutput"}),
            ))
        bucket, _, prefix = config["DestinationS3Uri"].removeprefix("s3://").partition("/")
        s3 = self.client("s3")
        for stamp, lines in files.items():
            key = "/".join(p for p in (prefix.strip("/"), endpoint, variant, f"{stamp:%Y/%m/%d/%H}") if p)
            name = f"{stamp:%M-%S}-{stamp.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            s3.put_object(Bucket=bucket, Key=f"{key}/{name}", Body="\n".join(lines).encode())
        return len(sampled)


@dataclass(frozen=True)
class Invocation:
    """One InvokeEndpoint call as data capture sees it: when, the request body and the answer's body."""

    time: float
    request: str
    response: str
    content_type: str = "application/json"
    accept: str = "application/json"
    event_id: str = ""


def capture_line(invocation: Invocation, json_types: Sequence[str] = ("application/json",),
                 csv_types: Sequence[str] = ("text/csv",), input_captured: bool = True,
                 output_captured: bool = True) -> str:
    """The JSON line SageMaker's data capture writes for one invocation (AWS documentation, Model Monitor:
    captureData.endpointInput/endpointOutput with observedContentType, mode, data, encoding; eventMetadata with
    eventId and inferenceTime; eventVersion "0")."""

    def part(body: str, content_type: str, mode: str) -> dict[str, str]:
        if content_type in json_types:
            data, encoding = body, "JSON"
        elif content_type in csv_types:
            data, encoding = body, "CSV"
        else:
            data, encoding = base64.b64encode(body.encode()).decode(), "BASE64"
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}

    capture = {}
    if input_captured:
        capture["endpointInput"] = part(invocation.request, invocation.content_type, "INPUT")
    if output_captured:
        capture["endpointOutput"] = part(invocation.response, invocation.accept, "OUTPUT")
    moment = datetime.fromtimestamp(invocation.time, timezone.utc)
    return json.dumps({
        "captureData": capture,
        "eventMetadata": {"eventId": invocation.event_id or str(uuid.uuid4()),
                          "inferenceTime": f"{moment:%Y-%m-%dT%H:%M:%SZ}"},
        "eventVersion": "0",
    })


# shared with moto's server, which runs in this process
_FAILING_UPDATES: dict[str, tuple[str, str]] = {}
_SETTLING: dict[str, str] = {}  # endpoint -> the status its running change ends in, shown at the next describe
_UNLISTABLE_BUCKETS: set[str] = set()
_CLOUDWATCH: dict[str, float | None] = {"published_until": None}


def _published_only(get_all_metrics: Any) -> Any:
    def published(self: Any) -> Any:
        until = _CLOUDWATCH["published_until"]
        metrics = get_all_metrics(self)
        return metrics if until is None else [m for m in metrics if m.timestamp.timestamp() < until]

    return published


def _whole_minutes(get_metric_data: Any) -> Any:
    def read(self: Any, queries: Any, start_time: Any, end_time: Any, *args: Any, **kwargs: Any) -> Any:
        start = start_time.replace(second=0, microsecond=0)
        end = end_time if end_time == end_time.replace(second=0, microsecond=0) else (
            end_time.replace(second=0, microsecond=0) + timedelta(minutes=1)
        )
        return get_metric_data(self, queries, start, end, *args, **kwargs)

    return read


def _update_endpoint_backend(self: Any, endpoint_name: str, endpoint_config_name: str) -> str:
    from moto.sagemaker.models import FakeEndpoint

    endpoint = self.endpoints[endpoint_name]
    _refuse_in_progress(endpoint)
    config = self.describe_endpoint_config(endpoint_config_name)
    if endpoint_name in _FAILING_UPDATES:  # SageMaker rolls back: old config, InService, a FailureReason
        endpoint.failure_reason, final = _FAILING_UPDATES.pop(endpoint_name)
        _start_change(endpoint, final)
        return endpoint.arn
    endpoint.failure_reason = None
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = FakeEndpoint._process_production_variants(endpoint, config["ProductionVariants"])
    _set_shadow_summaries(endpoint, config)
    endpoint.data_capture_config = config["DataCaptureConfig"]
    _start_change(endpoint, "InService")
    return endpoint.arn


def _refuse_in_progress(endpoint: Any) -> None:
    from moto.sagemaker.exceptions import ValidationError

    if endpoint.endpoint_status in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"):
        raise ValidationError(f"Cannot update in-progress endpoint \"{endpoint.arn}\".")


def _start_change(endpoint: Any, final_status: str) -> None:
    """The endpoint is Updating until the next DescribeEndpoint, which shows `final_status`."""
    endpoint.endpoint_status = "Updating"
    _SETTLING[endpoint.endpoint_name] = final_status


def _settle_on_describe(describe_endpoint: Any) -> Any:
    def describe(self: Any, endpoint_name: str) -> Any:
        if endpoint_name in _SETTLING and endpoint_name in self.endpoints:
            self.endpoints[endpoint_name].endpoint_status = _SETTLING.pop(endpoint_name)
        return describe_endpoint(self, endpoint_name)

    return describe


def _weights_take_time(update_weights: Any) -> Any:
    def update(self: Any, endpoint_name: str, desired_weights_and_capacities: Any) -> Any:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None:
            _refuse_in_progress(endpoint)
        arn = update_weights(self, endpoint_name, desired_weights_and_capacities)
        _start_change(self.endpoints[endpoint_name], "InService")
        return arn

    return update


def _update_endpoint_response(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": arn})


#: the shadow tests' exclusions (SageMaker developer guide, "Exclusions") that a variant's settings show
_SHADOW_EXCLUDED_INSTANCES = re.compile(r"ml\.inf1\.")


def _check_shadow_config(backend: Any, production: list[dict[str, Any]], shadows: list[dict[str, Any]]) -> None:
    from moto.sagemaker.exceptions import ValidationError

    names = [v["VariantName"] for v in production + shadows]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValidationError(f"Variant names must be unique across ProductionVariants and ShadowProductionVariants: "
                              f"{', '.join(repeated)} appear(s) more than once.")
    if not shadows:
        return
    if len(production) != 1 or len(shadows) != 1:
        raise ValidationError(f"With ShadowProductionVariants you can only specify one variant for ProductionVariants "
                              f"and one variant for ShadowProductionVariants (got {len(production)} and {len(shadows)}).")
    for variant in production + shadows:
        if "ServerlessConfig" in variant or "AcceleratorType" in variant or _SHADOW_EXCLUDED_INSTANCES.match(
            variant.get("InstanceType", "")
        ):
            raise ValidationError(f"Variant {variant['VariantName']} uses a feature (serverless inference, Inf1 "
                                  "instances or Elastic Inference) that shadow variants cannot be used with.")
    backend.validate_production_variants(shadows)  # the shadow's model must exist


def _stores_shadows(create_endpoint_config: Any) -> Any:
    def create(self: Any) -> Any:
        production = self._get_param("ProductionVariants") or []
        shadows = self._get_param("ShadowProductionVariants") or []
        _check_shadow_config(self.sagemaker_backend, production, shadows)
        result = create_endpoint_config(self)
        config = self.sagemaker_backend.endpoint_configs[self._get_param("EndpointConfigName")]
        config.validate_production_variants(shadows)  # instance types, as moto checks the production variants
        config.shadow_production_variants = shadows or None  # None: left out of the response, as SageMaker does
        return result

    return create


def _set_shadow_summaries(endpoint: Any, config: dict[str, Any]) -> None:
    """The endpoint's ShadowProductionVariants: summaries of the config's, as its production variants are."""
    from moto.sagemaker.models import FakeEndpoint

    shadows = config.get("ShadowProductionVariants")
    endpoint.shadow_production_variants = FakeEndpoint._process_production_variants(endpoint, shadows) if shadows else None


def _endpoint_with_shadows(create_endpoint: Any) -> Any:
    def create(self: Any, endpoint_name: str, endpoint_config_name: str, *args: Any, **kwargs: Any) -> Any:
        endpoint = create_endpoint(self, endpoint_name, endpoint_config_name, *args, **kwargs)
        _set_shadow_summaries(endpoint, self.describe_endpoint_config(endpoint_config_name))
        return endpoint

    return create


def _no_shadow_target(invoke_endpoint: Any) -> Any:
    def invoke(self: Any) -> Any:
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import sagemaker_backends

        target = next((v for k, v in self.headers.items() if k.lower() == "x-amzn-sagemaker-target-variant"), None)
        endpoint = sagemaker_backends[self.current_account][self.region].endpoints.get(self.path.split("/")[2])
        if target and endpoint is not None and any(
            v["VariantName"] == target for v in getattr(endpoint, "shadow_production_variants", None) or []
        ):
            raise ValidationError(f"TargetVariant {target} is a shadow variant: only production variants can be targeted.")
        return invoke_endpoint(self)

    return invoke


def _with_percentiles(get_statistics_for_type: Any) -> Any:
    def statistic(self: Any, stat: str) -> Any:
        match = re.fullmatch(r"p(\d+(?:\.\d+)?)", stat)
        if match is None:
            return get_statistics_for_type(self, stat)
        values = sorted(self.metric_single_values_list)
        rank = math.ceil(float(match.group(1)) / 100 * len(values))
        return values[max(rank, 1) - 1] if values else None

    return statistic


def _check_hyperparameters(hyperparameters: dict[str, str]) -> None:
    """SageMaker's limits from botocore's service model (moto checks none of them)."""
    import botocore.session
    from moto.sagemaker.exceptions import ValidationError

    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("HyperParameters")
    if len(hyperparameters) > shape.metadata["max"]:
        raise ValidationError(f"HyperParameters has {len(hyperparameters)} entries; the maximum is {shape.metadata['max']}")
    for key, value in hyperparameters.items():
        if len(key) > shape.key.metadata["max"] or len(value) > shape.value.metadata["max"]:
            raise ValidationError(
                f"Value at 'hyperParameters.{key[:40]}' failed to satisfy constraint: Member must have length "
                f"less than or equal to {shape.value.metadata['max']}"
            )


def _check_model_constraints(value: Any, shape: Any, path: str) -> None:
    """`value` against its botocore shape's limits the client does not check: maxima, patterns (matched whole,
    as SageMaker does), enums, list lengths; moto checks none."""
    from moto.sagemaker.exceptions import ValidationError

    def refuse(constraint: str) -> None:
        raise ValidationError(f"Value {value!r} at '{path}' failed to satisfy constraint: Member must {constraint}")

    limits = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _check_model_constraints(value[name], member, f"{path}.{name[0].lower()}{name[1:]}")
    elif shape.type_name == "list" and isinstance(value, list):
        if len(value) > limits.get("max", math.inf) or len(value) < limits.get("min", 0):
            refuse(f"have length between {limits.get('min', 0)} and {limits.get('max')}")
        for i, item in enumerate(value):
            _check_model_constraints(item, shape.member, f"{path}.{i + 1}.member")
    elif shape.type_name == "string" and isinstance(value, str):
        if len(value) > limits.get("max", math.inf):
            refuse(f"have length less than or equal to {limits['max']}")
        if "pattern" in limits and not re.fullmatch(limits["pattern"], value):
            refuse(f"satisfy regular expression pattern: {limits['pattern']}")
        if shape.enum and value not in shape.enum:
            refuse(f"satisfy enum value set: {shape.enum}")
    elif shape.type_name == "integer" and isinstance(value, int):
        if not limits.get("min", -math.inf) <= value <= limits.get("max", math.inf):
            refuse(f"have value between {limits.get('min')} and {limits.get('max')}")


def _checked_data_capture(create_endpoint_config: Any) -> Any:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        import botocore.session

        config = kwargs.get("data_capture_config")
        if config:
            shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("DataCaptureConfig")
            _check_model_constraints(config, shape, "dataCaptureConfig")
        return create_endpoint_config(self, *args, **kwargs)

    return create


def _deny_missing_keys_without_list(handler: Any) -> Any:
    """S3 answers 403, not 404, for a missing key when the caller may not list the bucket."""

    def respond(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.s3.exceptions import S3AccessDeniedError

        if self.bucket_name in _UNLISTABLE_BUCKETS and self.backend.get_object(self.bucket_name, self.parse_key_name()) is None:
            raise S3AccessDeniedError()
        return handler(self, *args, **kwargs)

    return respond


def _deny_listing_without_list(handler: Any) -> Any:
    def respond(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.s3.exceptions import S3AccessDeniedError

        if self.bucket_name in _UNLISTABLE_BUCKETS:
            raise S3AccessDeniedError()
        return handler(self, *args, **kwargs)

    return respond


def _s3_download_prefix(s3: Any, uri: str, dest: Path) -> None:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = dest / obj["Key"][len(base) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))


def _run_script_mode_container(job: Any, endpoint_url: str) -> None:
    """Play the framework container for `job`; set its status from the outcome."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=REGION)
    hps = job.hyper_parameters or {}
    with tempfile.TemporaryDirectory(prefix="standin-opt-ml-") as opt_ml:
        root = Path(opt_ml)
        code_dir, model_dir, config_dir = root / "code", root / "model", root / "input" / "config"
        for folder in (code_dir, model_dir, config_dir):
            folder.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for channel in job.input_data_config or []:
            channel_dir = root / "input" / "data" / channel["ChannelName"]
            channel_dir.mkdir(parents=True)
            _s3_download_prefix(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], channel_dir)
            env[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(channel_dir)
        (config_dir / "hyperparameters.json").write_text(json.dumps(hps))
        bucket, _, key = hps["sagemaker_submit_directory"].removeprefix("s3://").partition("/")
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            tar.extractall(code_dir, filter="data")
        env.update(SM_MODEL_DIR=str(model_dir), SM_INPUT_CONFIG_DIR=str(config_dir))
        max_runtime = (job.stopping_condition or {}).get("MaxRuntimeInSeconds", 86400)
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _CONTAINER_PYTHON, hps["sagemaker_program"]],
                cwd=code_dir, env=env, capture_output=True, text=True, timeout=max_runtime,
            )
        except subprocess.TimeoutExpired:
            job.training_job_status, job.failure_reason = "Failed", "MaxRuntimeExceeded"
            return
        if proc.returncode != 0:
            job.training_job_status = "Failed"
            # what the framework containers' training toolkit reports (sagemaker_training.errors), cut as
            # SageMaker cuts FailureReason (1,024 characters)
            job.failure_reason = (f'AlgorithmError: ExecuteUserScriptError:\nExitCode {proc.returncode}\n'
                                  f'ErrorMessage "{proc.stderr.strip()[-600:]}"\n'
                                  f'Command "/opt/conda/bin/python3.9 {hps["sagemaker_program"]}"')[:1024]
            return
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(model_dir.iterdir()):
                tar.add(path, arcname=path.name)
        bucket, _, key = job.model_artifacts["S3ModelArtifacts"].removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def _extend_moto(endpoint_url: str) -> None:
    from moto.cloudwatch.models import CloudWatchBackend, Statistics
    from moto.s3.responses import S3Response
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    S3Response.get_object = _deny_missing_keys_without_list(S3Response.get_object)
    S3Response.head_object = _deny_missing_keys_without_list(S3Response.head_object)
    S3Response.list_objects = _deny_listing_without_list(S3Response.list_objects)
    S3Response.list_objects_v2 = _deny_listing_without_list(S3Response.list_objects_v2)

    Statistics.get_statistics_for_type = _with_percentiles(Statistics.get_statistics_for_type)
    CloudWatchBackend.get_all_metrics = _published_only(CloudWatchBackend.get_all_metrics)
    CloudWatchBackend.get_metric_data = _whole_minutes(CloudWatchBackend.get_metric_data)

    SageMakerModelBackend.update_endpoint = _update_endpoint_backend
    SageMakerModelBackend.describe_endpoint = _settle_on_describe(SageMakerModelBackend.describe_endpoint)
    SageMakerModelBackend.update_endpoint_weights_and_capacities = _weights_take_time(
        SageMakerModelBackend.update_endpoint_weights_and_capacities
    )
    SageMakerResponse.update_endpoint = _update_endpoint_response
    SageMakerModelBackend.create_endpoint_config = _checked_data_capture(SageMakerModelBackend.create_endpoint_config)
    SageMakerResponse.create_endpoint_config = _stores_shadows(SageMakerResponse.create_endpoint_config)
    SageMakerModelBackend.create_endpoint = _endpoint_with_shadows(SageMakerModelBackend.create_endpoint)
    SageMakerRuntimeResponse.invoke_endpoint = _no_shadow_target(SageMakerRuntimeResponse.invoke_endpoint)
    create_training_job = SageMakerModelBackend.create_training_job

    def create_and_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        _check_hyperparameters(kwargs.get("hyper_parameters") or {})
        job = create_training_job(self, *args, **kwargs)
        if "sagemaker_program" in (job.hyper_parameters or {}):
            _run_script_mode_container(job, endpoint_url)
        return job

    SageMakerModelBackend.create_training_job = create_and_run


@pytest.fixture(scope="session")
def aws_standin() -> Iterator[AwsStandin]:
    """moto's server on 127.0.0.1:<free port>, with the environment and `aws_default` connection pointing at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request drowns test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    _extend_moto(endpoint_url)
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            # the stand-in runs a training container inside CreateTrainingJob: on a busy machine that can outlast
            # botocore's 60 s read timeout, and a retried CreateTrainingJob is not what SageMaker would see
            {"conn_type": "aws", "extra": {"endpoint_url": endpoint_url, "region_name": REGION,
                                           "config_kwargs": {"read_timeout": 900, "retries": {"max_attempts": 1}}}}
        ),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield AwsStandin(endpoint_url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture
def s3_bucket(aws_standin: AwsStandin) -> str:
    """A fresh, empty bucket for one test."""
    return aws_standin.new_bucket()
