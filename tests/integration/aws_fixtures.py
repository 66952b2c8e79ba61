"""The cloud side of a whole-DAG run: the AWS example spec in a dags folder on moto's S3, the demo sales in fake
Snowflake, and SageMaker's per-variant CloudWatch metrics played by a thread that follows the endpoint's weights.

Import the fixtures into a test module: ``from tests.integration.aws_fixtures import aws_dags_folder, ...``.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_standin import AwsStandin, Invocation, aws_standin, s3_bucket  # noqa: F401  (fixtures; the name tests/backends/aws uses)
from snowflake_standin import extend_fakesnow

AWS_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "aws"
MODEL = "demand_forecast_aws"
SNOWFLAKE_CONN_ID = "snowflake_default"  # the one examples/aws/mlprovider.defaults.yaml names


@pytest.fixture
def aws_dags_folder(dags_folder: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dags folder holding only the AWS example (models/ and schemas/ from dag_specs), artifacts on moto's S3."""
    for spec in dags_folder.glob("*.model.yaml"):
        spec.unlink()
    for name in (f"{MODEL}.model.yaml", "mlprovider.defaults.yaml"):
        shutil.copy(AWS_EXAMPLES / name, dags_folder / name)
    defaults_path = dags_folder / "mlprovider.defaults.yaml"
    defaults = yaml.safe_load(defaults_path.read_text())
    defaults["artifact_root"] = f"s3://{s3_bucket}/mlprovider"
    defaults["default_args"] = {"retries": 0}
    defaults_path.write_text(yaml.safe_dump(defaults, sort_keys=False))
    # moto finishes endpoint updates at once: check their status every second, not every 30 s
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL", "1")
    # moto's CloudWatch has every datapoint at once (SageMaker's reach it 1-3 minutes late): no publishing delay;
    # windows still read whole minutes only
    monkeypatch.setenv("AIRFLOW__MLPROVIDER__CLOUDWATCH_PUBLISH_DELAY", "0")
    return dags_folder


@pytest.fixture
def snowflake_sales(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Fake Snowflake (the real connector and SnowflakeHook on fakesnow) holding the demo `sales` rows;
    the Airflow connection `snowflake_default` comes from the environment. Yields the row count."""
    import fakesnow
    import snowflake.connector

    from airflow_mlprovider.examples.seed import sales_frame

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SNOWFLAKE_CONN_ID.upper()}",
        json.dumps({
            "conn_type": "snowflake",
            "login": "ml_user",
            "password": "not-a-secret",
            "schema": "public",
            "extra": {"account": "test_account", "database": "analytics", "warehouse": "ml_wh", "role": "ml_role"},
        }),
    )
    extend_fakesnow(monkeypatch)
    sales = sales_frame()
    with fakesnow.patch():
        from snowflake.connector.pandas_tools import write_pandas  # fakesnow's, now that it is patched

        with snowflake.connector.connect(database="analytics", schema="public") as conn, conn.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE sales (day DATE, store VARCHAR, price NUMBER(10, 2), promo BOOLEAN, units_sold INTEGER)"
            )
            write_pandas(conn, sales.rename(columns=str.upper), "SALES")
            cursor.execute("SELECT count(*) FROM sales")
            (rows,) = cursor.fetchone()
        yield rows


class SageMakerMetrics:
    """Plays SageMaker's CloudWatch side: every `tick_s`, `requests_per_s` requests split across the endpoint's
    variants by their current weights (describe_endpoint), and mirrored to its shadow variant, with the error rate
    `error_rates` gives each variant (else `default_error_rate`), put as AWS/SageMaker per-variant metrics. Counts
    are exact: fractions carry over. While a shadow is hosted, SageMaker's data capture of the mirrored requests
    is written too (as the endpoint's config says: nothing without capture): the same bodies, captured under the
    production and the shadow variant, answered alike (a healthy shadow)."""

    def __init__(self, standin: AwsStandin, endpoint: str, requests_per_s: float = 100.0, tick_s: float = 0.5) -> None:
        self.standin, self.endpoint = standin, endpoint
        self.requests_per_tick = requests_per_s * tick_s
        self.tick_s = tick_s
        self.default_error_rate = 0.01
        self.error_rates: dict[str, float] = {}
        self._carry: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sagemaker-metrics", daemon=True)
        self.errors: list[BaseException] = []
        self.mirrored_to: set[str] = set()  # the shadow variants that got mirrored requests
        self._captured = 0  # requests written to data capture so far (their bodies are numbered)

    def __enter__(self) -> SageMakerMetrics:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        sagemaker, cloudwatch = self.standin.client("sagemaker"), self.standin.client("cloudwatch")
        while not self._stop.wait(self.tick_s):
            try:
                self._tick(sagemaker, cloudwatch)
            except sagemaker.exceptions.ClientError as error:
                if error.response["Error"]["Code"] != "ValidationException":  # no endpoint yet
                    self.errors.append(error)
            except Exception as error:  # noqa: BLE001 - reported by the test, which cannot see this thread
                self.errors.append(error)

    def _tick(self, sagemaker: Any, cloudwatch: Any) -> None:
        described = sagemaker.describe_endpoint(EndpointName=self.endpoint)
        weights = {v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in described["ProductionVariants"]}
        total = sum(weights.values())
        shares = {name: weight / total if total else 0.0 for name, weight in weights.items()}
        # a shadow variant answers copies of the production variant's requests, as many as its weight's share of it
        shadows = {v["VariantName"]: min(1.0, float(v.get("CurrentWeight", 0.0)) / total) if total else 0.0
                   for v in described.get("ShadowProductionVariants", [])}
        self.mirrored_to.update(name for name, share in shadows.items() if share)
        shares |= shadows
        now = datetime.now(timezone.utc)
        data = []
        for name, share in shares.items():
            requests = self._take(name, "requests", self.requests_per_tick * share)
            if not requests:
                continue
            rate = self.error_rates.get(name, self.default_error_rate)
            dimensions = [{"Name": "EndpointName", "Value": self.endpoint}, {"Name": "VariantName", "Value": name}]
            counts = {
                "Invocations": requests,
                "Invocation5XXErrors": self._take(name, "5xx", requests * rate),
                "Invocation4XXErrors": 0,
            }
            data += [
                {"MetricName": m, "Dimensions": dimensions, "Timestamp": now, "Value": float(v), "Unit": "Count"}
                for m, v in counts.items()
            ]
            data.append({
                "MetricName": "ModelLatency", "Dimensions": dimensions, "Timestamp": now,
                "Value": 20_000.0, "Unit": "Microseconds",
            })
        if data:
            cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
        if shadows and any(shadows.values()):
            self._capture_mirrored([*weights], [name for name, share in shadows.items() if share], now.timestamp())

    def _capture_mirrored(self, production: list[str], shadows: list[str], now: float) -> None:
        first, self._captured = self._captured, self._captured + int(self.requests_per_tick)
        calls = [Invocation(now, json.dumps({"request": i}), json.dumps({"prediction": float(i % 97)}))
                 for i in range(first, self._captured)]
        for variant in [*production, *shadows]:  # one seed: every variant captures the same sample of requests
            self.standin.capture_invocations(self.endpoint, variant, calls, seed=first)

    def _take(self, variant: str, kind: str, amount: float) -> int:
        """The whole part of `amount` plus what earlier ticks left over; the rest waits for the next tick."""
        pending = self._carry.get((variant, kind), 0.0) + amount
        whole = int(pending)
        self._carry[(variant, kind)] = pending - whole
        return whole


@pytest.fixture
def sagemaker_metrics(aws_standin: AwsStandin) -> Iterator[SageMakerMetrics]:
    """The metrics thread for the example's endpoint, running for the test."""
    endpoint = yaml.safe_load((AWS_EXAMPLES / f"{MODEL}.model.yaml").read_text())["serving"]["endpoint"]
    with SageMakerMetrics(aws_standin, endpoint) as metrics:
        yield metrics
    assert not metrics.errors, metrics.errors
