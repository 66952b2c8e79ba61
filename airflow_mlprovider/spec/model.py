"""Typed, validated spec objects. Built only from a document the JSON Schema accepted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

BUILTIN_METRIC_DIRECTIONS = {
    "rmse": "minimize",
    "mae": "minimize",
    "mape": "minimize",
    "log_loss": "minimize",
    "r2": "maximize",
    "accuracy": "maximize",
    "f1": "maximize",
    "roc_auc": "maximize",
}


def seconds(value: int | str) -> float:
    """A schema duration ('90s', '10m', 3600) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    number, unit = _DURATION.match(value).groups()  # the schema guarantees the shape
    return float(number) * _UNIT_SECONDS[unit]


@dataclass(frozen=True)
class DefaultArgs:
    retries: int = 2
    retry_delay_s: float = 30.0
    retry_exponential_backoff: bool = True
    max_retry_delay_s: float = 600.0


@dataclass(frozen=True)
class Warehouse:
    type: str = "duckdb"
    path: str | None = None  # absolute after loading
    conn_id: str | None = None
    unload_stage: str | None = None
    unload_threshold_rows: int | None = None


@dataclass(frozen=True)
class Dbt:
    project: str  # absolute after loading
    select: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Split:
    by: str
    column: str
    validation: float = 0.15
    test: float = 0.15


@dataclass(frozen=True)
class Data:
    sql: str
    split: Split
    params: dict[str, Any] = field(default_factory=dict)
    dbt: Dbt | None = None


@dataclass(frozen=True)
class Code:
    module: str  # absolute paths after loading
    request_schema: str
    response_schema: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Train:
    max_runtime_s: float = 1800.0
    compute: str = "local"
    framework: str = "sklearn"
    framework_version: str | None = None
    image_uri: str | None = None
    instance_type: str | None = None
    cpus: int = 2
    memory_gb: float = 4.0
    gpu: bool = False
    role_arn: str | None = None


@dataclass(frozen=True)
class Evaluate:
    metric: str
    label: str
    direction: str
    prediction_field: str = "prediction"
    max_rows: int = 5000
    request_check_rows: int = 100


@dataclass(frozen=True)
class Promote:
    min_relative_improvement: float = 0.0
    min_absolute_improvement: float = 0.0
    first_model_threshold: float | None = None
    confidence: float | None = None
    min_test_rows: int = 0


@dataclass(frozen=True)
class Autoscaling:
    max_instances: int
    min_instances: int = 1
    invocations_per_instance: int = 1000


@dataclass(frozen=True)
class Serving:
    endpoint: str
    url: str | None = None
    conn_id: str | None = None
    example_requests: tuple[dict[str, Any], ...] = ()
    instance_type: str | None = None
    instance_count: int = 1
    data_capture_percent: int | None = None
    autoscaling: Autoscaling | None = None
    fault_injection: float = 0.0


@dataclass(frozen=True)
class Guardrails:
    latency_p99_ratio: float | None = None
    prediction_shift: float | None = None


@dataclass(frozen=True)
class Rollout:
    steps: tuple[int, ...] = (5, 25, 50, 100)
    check_interval_s: float = 5.0
    min_requests: int = 200
    max_error_rate_increase: float = 0.0
    significance: float = 0.01
    power: float = 0.95
    step_timeout_s: float = 3600.0
    timeout_s: float = 10800.0
    guardrails: Guardrails = field(default_factory=Guardrails)
    on_timeout: str = "wait"


@dataclass(frozen=True)
class Notify:
    slack_conn_id: str | None = None
    channel: str | None = None
    mention_on_rollback: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model's whole lifecycle spec, defaults merged and paths made absolute."""

    model: str
    source: str  # the spec file it came from
    data: Data
    code: Code
    evaluate: Evaluate
    description: str = ""
    owner: str = "mlprovider"
    schedule: str | None = "@daily"
    start_date: str = "2024-01-01"
    catchup: bool = False
    tags: tuple[str, ...] = ()
    max_active_runs: int = 1
    platform: str = "local"
    artifact_root: str = ""
    aws_conn_id: str = "aws_default"
    default_args: DefaultArgs = field(default_factory=DefaultArgs)
    warehouse: Warehouse = field(default_factory=Warehouse)
    train: Train = field(default_factory=Train)
    promote: Promote = field(default_factory=Promote)
    serving: Serving | None = None
    rollout: Rollout = field(default_factory=Rollout)
    notify: Notify = field(default_factory=Notify)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_root(self) -> str:
        """URI under which this model's runs and registry live."""
        return f"{self.artifact_root.rstrip('/')}/{self.model}"

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str) -> ModelSpec:
        """Build from a merged document that already passed schema validation and path resolution."""
        d = doc
        data = d["data"]
        dbt = data.get("dbt")
        ev = d["evaluate"]
        da = d.get("default_args", {})
        tr = d.get("train", {})
        srv = d.get("serving")
        ro = d.get("rollout", {})
        return cls(
            model=d["model"],
            source=source,
            description=d.get("description", ""),
            owner=d.get("owner", "mlprovider"),
            schedule=d.get("schedule", "@daily"),
            start_date=str(d.get("start_date", "2024-01-01")),
            catchup=d.get("catchup", False),
            tags=tuple(d.get("tags", ())),
            max_active_runs=d.get("max_active_runs", 1),
            platform=d.get("platform", "local"),
            artifact_root=d.get("artifact_root", ""),
            aws_conn_id=d.get("aws_conn_id", "aws_default"),
            default_args=DefaultArgs(
                retries=da.get("retries", 2),
                retry_delay_s=seconds(da.get("retry_delay", "30s")),
                retry_exponential_backoff=da.get("retry_exponential_backoff", True),
                max_retry_delay_s=seconds(da.get("max_retry_delay", "10m")),
            ),
            warehouse=Warehouse(**d.get("warehouse", {"type": "duckdb"})),
            data=Data(
                sql=data["sql"],
                params=dict(data.get("params", {})),
                split=Split(**data["split"]),
                dbt=Dbt(**dbt) if dbt else None,
            ),
            code=Code(**d["code"]),
            train=Train(
                max_runtime_s=seconds(tr.get("max_runtime", "30m")),
                **{k: v for k, v in tr.items() if k != "max_runtime"},
            ),
            evaluate=Evaluate(
                metric=ev["metric"],
                label=ev["label"],
                direction=ev.get("direction") or BUILTIN_METRIC_DIRECTIONS.get(ev["metric"], "maximize"),
                prediction_field=ev.get("prediction_field", "prediction"),
                max_rows=ev.get("max_rows", 5000),
            ),
            promote=Promote(**d.get("promote", {})),
            serving=None
            if srv is None
            else Serving(
                endpoint=srv.get("endpoint", d["model"].replace("_", "-")),
                url=srv.get("url"),
                conn_id=srv.get("conn_id"),
                example_requests=tuple(srv.get("example_requests", ())),
                instance_type=srv.get("instance_type"),
                instance_count=srv.get("instance_count", 1),
                data_capture_percent=srv.get("data_capture_percent"),
                autoscaling=Autoscaling(**srv["autoscaling"]) if "autoscaling" in srv else None,
                fault_injection=srv.get("fault_injection", 0.0),
            ),
            rollout=Rollout(
                steps=tuple(ro.get("steps", (5, 25, 50, 100))),
                check_interval_s=seconds(ro.get("check_interval", "5s")),
                min_requests=ro.get("min_requests", 200),
                max_error_rate_increase=ro.get("max_error_rate_increase", 0.0),
                significance=ro.get("significance", 0.01),
                power=ro.get("power", 0.95),
                step_timeout_s=seconds(ro.get("step_timeout", "1h")),
                timeout_s=seconds(ro.get("timeout", "3h")),
                guardrails=Guardrails(**ro.get("guardrails", {})),
                on_timeout=ro.get("on_timeout", "wait"),
            ),
            notify=Notify(**d.get("notify", {})),
            raw=d,
        )
