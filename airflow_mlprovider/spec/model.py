"""Typed, validated spec objects. Built only from a document the JSON Schema accepted.

Defaults are declared once, in spec.schema.json: every dataclass default below is read from the schema
(`schema_default`), and `from_dict` passes only the keys a document sets, so a default that is not in the
schema cannot exist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("spec.schema.json")

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
    "f1_macro": "maximize",
    "f1_weighted": "maximize",
    "roc_auc": "maximize",
}


def metric_direction(metric: str, direction: str | None = None) -> str:
    """"maximize" or "minimize": the given direction, else the built-in metric's own (custom ones: maximize)."""
    if direction is None:
        return BUILTIN_METRIC_DIRECTIONS.get(metric, "maximize")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    return direction


def seconds(value: int | float | str) -> float:
    """A schema duration ('90s', '10m', 3600) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    number, unit = _DURATION.match(value).groups()  # the schema guarantees the shape
    return float(number) * _UNIT_SECONDS[unit]


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def schema_default(*path: str) -> Any:
    """The schema's `default` of the property at `path` (e.g. "rollout", "steps"); a KeyError if it has none."""
    node = spec_schema()
    for part in path:
        node = node["properties"][part]
    return node["default"]


def _tuple_default(*path: str) -> Any:
    return field(default_factory=lambda: tuple(schema_default(*path)))


def _dict_default(*path: str) -> Any:
    return field(default_factory=lambda: dict(schema_default(*path)))


def _set(section: dict[str, Any], durations: dict[str, str] = {}, tuples: tuple[str, ...] = ()) -> dict[str, Any]:  # noqa: B006 - read only
    """The keys `section` sets, as dataclass keyword arguments: durations in seconds (`key` -> `key_s`)."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key in durations:
            out[durations[key]] = seconds(value)
        elif key in tuples:
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class DefaultArgs:
    retries: int = schema_default("default_args", "retries")
    retry_delay_s: float = seconds(schema_default("default_args", "retry_delay"))
    retry_exponential_backoff: bool = schema_default("default_args", "retry_exponential_backoff")
    max_retry_delay_s: float = seconds(schema_default("default_args", "max_retry_delay"))

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> DefaultArgs:
        return cls(**_set(section, {"retry_delay": "retry_delay_s", "max_retry_delay": "max_retry_delay_s"}))


@dataclass(frozen=True)
class Warehouse:
    type: str = schema_default("warehouse")["type"]
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
    validation: float = schema_default("data", "split", "validation")
    test: float = schema_default("data", "split", "test")


@dataclass(frozen=True)
class Data:
    sql: str
    split: Split
    params: dict[str, Any] = _dict_default("data", "params")
    dbt: Dbt | None = None


@dataclass(frozen=True)
class Code:
    module: str  # absolute paths after loading
    request_schema: str
    response_schema: str
    params: dict[str, Any] = _dict_default("code", "params")


@dataclass(frozen=True)
class Train:
    max_runtime_s: float = seconds(schema_default("train", "max_runtime"))
    compute: str = schema_default("train", "compute")
    framework: str = schema_default("train", "framework")
    framework_version: str | None = None
    image_uri: str | None = None
    instance_type: str | None = None
    cpus: int = schema_default("train", "cpus")
    memory_gb: float = schema_default("train", "memory_gb")
    gpu: bool = schema_default("train", "gpu")
    role_arn: str | None = None

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> Train:
        return cls(**_set(section, {"max_runtime": "max_runtime_s"}))


@dataclass(frozen=True)
class Evaluate:
    metric: str
    label: str
    direction: str
    prediction_field: str = schema_default("evaluate", "prediction_field")
    max_rows: int = schema_default("evaluate", "max_rows")
    request_check_rows: int = schema_default("evaluate", "request_check_rows")

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> Evaluate:
        return cls(**{**section, "direction": metric_direction(section["metric"], section.get("direction"))})


@dataclass(frozen=True)
class Promote:
    min_relative_improvement: float = schema_default("promote", "min_relative_improvement")
    min_absolute_improvement: float = schema_default("promote", "min_absolute_improvement")
    first_model_threshold: float | None = None
    confidence: float | None = None
    min_test_rows: int = schema_default("promote", "min_test_rows")
    on_tie: str = schema_default("promote", "on_tie")


@dataclass(frozen=True)
class ContractTest:
    """What `mlprovider test` runs: a sample file instead of the warehouse, sizes, the latency budget."""

    sample: str | None = None
    rows: int = schema_default("contract_test", "rows")
    examples: int = schema_default("contract_test", "examples")
    max_latency_ms: float = schema_default("contract_test", "max_latency_ms")
    params: dict[str, Any] = _dict_default("contract_test", "params")


@dataclass(frozen=True)
class Autoscaling:
    max_instances: int
    min_instances: int = schema_default("serving", "autoscaling", "min_instances")
    invocations_per_instance: int = schema_default("serving", "autoscaling", "invocations_per_instance")


@dataclass(frozen=True)
class Serving:
    endpoint: str
    conn_id: str | None = None
    example_requests: tuple[dict[str, Any], ...] = ()  # none: the health check generates them from the schema
    instance_type: str | None = None
    instance_count: int = schema_default("serving", "instance_count")
    data_capture_percent: int | None = None
    data_capture_uri: str | None = None  # None: <model_root>/data_capture (backends/aws/hosting.py)
    autoscaling: Autoscaling | None = None
    fault_injection: float = schema_default("serving", "fault_injection")

    @classmethod
    def from_dict(cls, section: dict[str, Any], model: str) -> Serving:
        values = _set(section, tuples=("example_requests",))
        if "autoscaling" in section:
            values["autoscaling"] = Autoscaling(**section["autoscaling"])
        # the endpoint defaults to the model's name made endpoint-safe (no schema default can say that)
        return cls(**{"endpoint": model.replace("_", "-").strip("-")[:63], **values})


@dataclass(frozen=True)
class Guardrails:
    latency_p99_ratio: float | None = None
    prediction_shift: float | None = None


@dataclass(frozen=True)
class Rollout:
    steps: tuple[int, ...] = _tuple_default("rollout", "steps")
    check_interval_s: float = seconds(schema_default("rollout", "check_interval"))
    min_requests: int = schema_default("rollout", "min_requests")
    max_error_rate_increase: float = schema_default("rollout", "max_error_rate_increase")
    significance: float = schema_default("rollout", "significance")
    power: float = schema_default("rollout", "power")
    step_timeout_s: float = seconds(schema_default("rollout", "step_timeout"))
    timeout_s: float = seconds(schema_default("rollout", "timeout"))
    guardrails: Guardrails = field(default_factory=Guardrails)
    on_timeout: str = schema_default("rollout", "on_timeout")

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> Rollout:
        """A spec's rollout section (also what RolloutOperator's `rollout_policy` takes): absent keys default."""
        values = _set(section, {"check_interval": "check_interval_s", "step_timeout": "step_timeout_s",
                                "timeout": "timeout_s"}, tuples=("steps",))
        if "guardrails" in section:
            values["guardrails"] = Guardrails(**section["guardrails"])
        return cls(**values)


@dataclass(frozen=True)
class Shadow:
    """The shadow stage's policy (also what ShadowOperator's `shadow_policy` takes); absent keys default."""

    enabled: bool = schema_default("shadow", "enabled")
    min_requests: int = schema_default("shadow", "min_requests")
    max_duration_s: float = seconds(schema_default("shadow", "max_duration"))
    check_interval_s: float = seconds(schema_default("shadow", "check_interval"))
    compare: str = schema_default("shadow", "compare")
    max_relative_difference: float = schema_default("shadow", "max_relative_difference")
    min_agreement: float = schema_default("shadow", "min_agreement")
    max_error_rate_increase: float = schema_default("shadow", "max_error_rate_increase")
    latency_p99_ratio: float | None = None
    significance: float = schema_default("shadow", "significance")

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> Shadow:
        return cls(**_set(section, {"max_duration": "max_duration_s", "check_interval": "check_interval_s"}))


@dataclass(frozen=True)
class Notify:
    slack_conn_id: str | None = None
    channel: str | None = None
    mention_on_rollback: str | None = None


@dataclass(frozen=True)
class Monitor:
    """The monitoring DAG's schedule and windows; its thresholds stay in the raw section (monitoring.Thresholds)."""

    enabled: bool = schema_default("monitor", "enabled")
    schedule: str = schema_default("monitor", "schedule")
    window_s: float = seconds(schema_default("monitor", "window"))
    baseline_s: float = seconds(schema_default("monitor", "baseline"))
    features: tuple[str, ...] = _tuple_default("monitor", "features")

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> Monitor:
        known = {"enabled", "schedule", "window", "baseline", "features"}
        return cls(**_set({k: v for k, v in section.items() if k in known},
                          {"window": "window_s", "baseline": "baseline_s"}, tuples=("features",)))


@dataclass(frozen=True)
class ModelSpec:
    """A model's whole lifecycle spec, defaults merged and paths made absolute."""

    model: str
    source: str  # the spec file it came from
    data: Data
    code: Code
    evaluate: Evaluate
    description: str = ""
    owner: str = schema_default("owner")
    schedule: str | None = schema_default("schedule")
    start_date: str = schema_default("start_date")
    catchup: bool = schema_default("catchup")
    tags: tuple[str, ...] = _tuple_default("tags")
    max_active_runs: int = schema_default("max_active_runs")
    platform: str = schema_default("platform")
    artifact_root: str = ""
    aws_conn_id: str = schema_default("aws_conn_id")
    default_args: DefaultArgs = field(default_factory=DefaultArgs)
    warehouse: Warehouse = field(default_factory=Warehouse)
    train: Train = field(default_factory=Train)
    promote: Promote = field(default_factory=Promote)
    serving: Serving | None = None
    rollout: Rollout = field(default_factory=Rollout)
    shadow: Shadow | None = None  # None: no shadow stage
    notify: Notify = field(default_factory=Notify)
    contract_test: ContractTest = field(default_factory=ContractTest)
    monitor: Monitor = field(default_factory=Monitor)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def model_root(self) -> str:
        """URI under which this model's runs and registry live."""
        return f"{self.artifact_root.rstrip('/')}/{self.model}"

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str) -> ModelSpec:
        """Build from a merged document that already passed schema validation and path resolution."""
        data = doc["data"]
        plain = ("description", "owner", "schedule", "catchup", "max_active_runs", "platform", "artifact_root",
                 "aws_conn_id")
        top: dict[str, Any] = {key: doc[key] for key in plain if key in doc}
        if "start_date" in doc:
            top["start_date"] = str(doc["start_date"])
        if "tags" in doc:
            top["tags"] = tuple(doc["tags"])
        if "warehouse" in doc:
            top["warehouse"] = Warehouse(**doc["warehouse"])
        if "promote" in doc:
            top["promote"] = Promote(**doc["promote"])
        if "notify" in doc:
            top["notify"] = Notify(**doc["notify"])
        if "contract_test" in doc:
            top["contract_test"] = ContractTest(**doc["contract_test"])
        if "serving" in doc:
            top["serving"] = Serving.from_dict(doc["serving"], doc["model"])
        if "shadow" in doc:
            top["shadow"] = Shadow.from_dict(doc["shadow"])
        return cls(
            model=doc["model"],
            source=source,
            data=Data(
                sql=data["sql"],
                split=Split(**data["split"]),
                **({"params": dict(data["params"])} if "params" in data else {}),
                **({"dbt": Dbt(**data["dbt"])} if "dbt" in data else {}),
            ),
            code=Code(**doc["code"]),
            evaluate=Evaluate.from_dict(doc["evaluate"]),
            default_args=DefaultArgs.from_dict(doc.get("default_args", {})),
            train=Train.from_dict(doc.get("train", {})),
            rollout=Rollout.from_dict(doc.get("rollout", {})),
            monitor=Monitor.from_dict(doc.get("monitor", {})),
            raw=doc,
            **top,
        )
