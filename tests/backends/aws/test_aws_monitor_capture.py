"""MonitorOperator on a SageMaker-served champion (moto): CloudWatch's counts plus the endpoint's data capture.

The stand-in writes the capture SageMaker would write after the invocations (moto writes none), as the
endpoint config the serving backend created says (sampling, content types, destination). A champion whose
answers are silently scaled x1000 alarms on the prediction checks within one interval; healthy capture is quiet.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from airflow.sdk.exceptions import AirflowFailException
from aws_standin import Invocation

from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore
from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing
from airflow_mlprovider.backends.base import Variant
from airflow_mlprovider.monitoring.reference import record_reference
from airflow_mlprovider.operators.monitor import MonitorOperator
from airflow_mlprovider.operators.register import candidate_version
from airflow_mlprovider.operators.serving import variant_name
from airflow_mlprovider.registry.store import ModelRegistry
from tests.registry.run_fixtures import make_artifact, make_context, utc

END = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)  # the first monitored interval ends here
HOUR = 3600
EVERY_S = 6  # one invocation every 6 s: 600 an hour


def _requests(rng: np.random.Generator, n: int) -> list[float]:
    return list(rng.uniform(0, 40, n))


def _put_invocations(cloudwatch, endpoint: str, variant: str, start: datetime, hours: int) -> None:
    """CloudWatch's Invocations of the variant, one datapoint a minute, as SageMaker publishes them."""
    data = [{"MetricName": "Invocations", "Unit": "Count", "Value": 60 / EVERY_S,
             "Timestamp": start + timedelta(minutes=m),
             "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]}
            for m in range(60 * hours)]
    for batch in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[batch : batch + 500])


@pytest.fixture
def served(aws_spec, aws_standin, tmp_path: Path, request):
    """The linear champion (2x + 1) registered with its evaluation reference and served on a SageMaker endpoint
    whose config captures `percent` % of the invocations (the parametrised value; 0: no capture)."""
    percent = request.param
    endpoint = f"capture-{percent}-{tmp_path.name[-12:]}".replace("_", "-")
    serving = {"endpoint": endpoint, **({"data_capture_percent": percent} if percent else {})}
    spec = aws_spec(serving=serving)
    store = S3ArtifactStore()
    local = make_artifact(tmp_path, "champion").removeprefix("file://")
    artifact = f"{spec.model_root}/versions/champion/artifact"
    store.put_dir(local, artifact)
    evaluation = {"candidate": {"metric": "rmse", "value": 0.0, "schema_violations": 0}}
    version = candidate_version(spec.model, artifact, evaluation, make_context({}, utc(2025, 12, 1)), store)
    registry = ModelRegistry(store, spec.model_root)
    registry.register(version)
    assert registry.promote(version.version_id, "seeded").promoted
    import pandas as pd

    rows = pd.DataFrame({"x": _requests(np.random.default_rng(0), 2000)})
    record_reference(store, spec.model_root, version.version_id, list(2 * rows["x"] + 1), rows)

    hosting = SageMakerHosting.from_spec(spec)
    variant = variant_name(version.version_id)
    digest = json.loads(store.read_bytes(f"{artifact}/MANIFEST.json"))["digest"]
    SageMakerServing(hosting, spec.aws_conn_id, poll_interval_s=0).deploy(
        endpoint, Variant(variant, artifact, spec.code.request_schema, spec.code.response_schema, 0.0,
                          manifest_digest=digest), 100)
    _put_invocations(aws_standin.client("cloudwatch"), endpoint, variant, END - timedelta(hours=7), 8)
    operator = MonitorOperator(task_id="monitor", model=spec.model, registry_uri=spec.model_root, window_s=HOUR,
                               endpoint=endpoint, sagemaker=hosting, aws_conn_id=spec.aws_conn_id)
    yield spec, endpoint, variant, operator
    SageMakerServing(hosting, spec.aws_conn_id, poll_interval_s=0).remove(endpoint, variant)


def _invoke(aws_standin, endpoint: str, variant: str, start: datetime, scale: float, seed: int) -> int:
    """An hour of invocations answered with scale x (2x + 1), captured as the endpoint's config says."""
    xs = _requests(np.random.default_rng(seed), HOUR // EVERY_S)
    invocations = [Invocation(start.timestamp() + EVERY_S * i, json.dumps({"x": x, "day": "2026-01-05"}),
                              json.dumps({"prediction": scale * (2 * x + 1)})) for i, x in enumerate(xs)]
    return aws_standin.capture_invocations(endpoint, variant, invocations, seed=seed)


def _run(operator: MonitorOperator, window_end: datetime) -> dict:
    """Check the interval ending at `window_end`; its record."""
    operator.window_end = window_end.isoformat()
    operator.execute(make_context({}, window_end))
    return _latest_record(operator.registry_uri)


def _latest_record(model_root: str) -> dict:
    store = S3ArtifactStore()
    uris = sorted(u for u in store.list(f"{model_root}/monitoring/") if "/reference/" not in u)
    return json.loads(store.read_bytes(uris[-1]))


@pytest.mark.parametrize("served", [50], indirect=True)
def test_scaled_predictions_in_the_capture_alarm_within_one_interval_and_healthy_capture_does_not(
    served, aws_standin, capsys
) -> None:
    spec, endpoint, variant, operator = served
    for hour in range(1, 7):  # the baseline's hours are captured too: only the window's are read
        _invoke(aws_standin, endpoint, variant, END - timedelta(hours=hour + 1), 1.0, seed=100 + hour)
    captured = _invoke(aws_standin, endpoint, variant, END - timedelta(hours=1), 1.0, seed=1)
    assert 250 < captured < 350  # 50 % of 600
    bucket, _, root = f"{spec.model_root}/data_capture".removeprefix("s3://").partition("/")
    s3 = aws_standin.client("s3")
    [first, *_] = s3.list_objects_v2(Bucket=bucket, Prefix=f"{root}/{endpoint}/{variant}/")["Contents"]
    line = json.loads(s3.get_object(Bucket=bucket, Key=first["Key"])["Body"].read().splitlines()[0])
    assert line["captureData"]["endpointOutput"]["encoding"] == "JSON"  # the deploy's config: JSON captured as text
    s3.put_object(Bucket=bucket, Key=f"{root}/{endpoint}/{variant}/2026/01/05/11/59-59-999-x.jsonl",
                  Body=b'{"captureData": truncated')  # a broken line in the window's hour

    healthy = _run(operator, END)
    assert healthy["status"] == "ok" and healthy["alarms"] == [], healthy
    assert f"{captured} captured invocations in 2 capture files; 1 malformed lines skipped" in capsys.readouterr().out
    figures = healthy["figures"]
    # made on the capture (a check without evidence has no figure)
    assert {"prediction_mean", "prediction_spread", "prediction_distribution", "feature_drift"} <= set(figures)
    assert figures["requests"]["value"] == 600  # CloudWatch's count, not the capture's sample
    means = [m for _, m in healthy["series"]["prediction_mean"]]
    assert all(30 < m < 52 for m in means), means  # the capture's mean of 2x + 1, x ~ U(0, 40), per 5 minutes

    _invoke(aws_standin, endpoint, variant, END, 1000.0, seed=2)  # still 200s: a silent failure
    with pytest.raises(AirflowFailException, match="prediction_mean"):
        _run(operator, END + timedelta(hours=1))
    latest = _latest_record(spec.model_root)
    assert latest["status"] == "alarm" and latest["window_end"] == (END + timedelta(hours=1)).isoformat()
    assert {"prediction_mean", "prediction_distribution"} <= {a["check"] for a in latest["alarms"]}, latest["alarms"]
    assert "feature_drift" not in {a["check"] for a in latest["alarms"]}  # the requests did not change


@pytest.mark.parametrize("served", [0], indirect=True)
def test_without_capture_the_prediction_checks_say_they_were_not_made(served, aws_standin, capsys) -> None:
    spec, endpoint, variant, operator = served
    assert _invoke(aws_standin, endpoint, variant, END - timedelta(hours=1), 1000.0, seed=1) == 0  # nothing captured
    record = _run(operator, END)
    assert record["status"] == "ok" and "prediction_mean" not in record["figures"]
    log = capsys.readouterr().out  # the task log
    assert "has no data capture (spec serving.data_capture_percent)" in log
    assert "prediction_mean: not checked" in log and "feature_drift: not checked" in log
