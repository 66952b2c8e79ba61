"""What a run costs, from the vendored SageMaker price table (backends/aws/instance_types.json). Pure arithmetic.

- training: instance type x billed seconds x its hourly training price; a local run reports the CPU seconds
  of its training process, priced at `local_cpu_usd_per_hour` (spec `cost:`; 0 by default: nothing is billed);
- serving: per variant, instance type x instance count x 24 h of its hourly hosting price (a local endpoint
  server costs nothing billed);
- total: training + one day of serving.

The record (`cost/<run_key>.json` under the model root, written once):
`{"model", "run_id", "training": {"instance_type", "seconds", "usd"},
  "serving": {"<variant>": {"instance_type", "instance_count", "usd_per_day"}}, "total_usd"}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow_mlprovider.backends.aws.instance_picker import instance_types

LOCAL = "local"
HOURS_PER_DAY = 24


class UnknownInstanceType(ValueError):
    """The instance type is not in the price table for that purpose."""


def hourly_price(instance_type: str, purpose: str) -> float:
    """USD per hour of `instance_type` for "training" or "hosting" (us-east-1, the table's region)."""
    for row in instance_types(purpose):
        if row.name == instance_type:
            return row.usd_per_hour
    raise UnknownInstanceType(f"{instance_type!r} has no {purpose} price in the bundled table")


def training_cost(instance_type: str | None, seconds: float, local_cpu_usd_per_hour: float = 0.0) -> dict[str, Any]:
    """{"instance_type", "seconds", "usd"}: SageMaker seconds x price, or (instance_type None) local CPU seconds."""
    if instance_type is None:
        return {"instance_type": LOCAL, "seconds": seconds, "usd": seconds / 3600 * local_cpu_usd_per_hour}
    return {"instance_type": instance_type, "seconds": seconds,
            "usd": seconds / 3600 * hourly_price(instance_type, "training")}


def serving_cost(instance_type: str | None, instance_count: int) -> dict[str, Any]:
    """{"instance_type", "instance_count", "usd_per_day"} of one variant (instance_type None: local, unbilled)."""
    if instance_type is None:
        return {"instance_type": LOCAL, "instance_count": instance_count, "usd_per_day": 0.0}
    return {"instance_type": instance_type, "instance_count": instance_count,
            "usd_per_day": hourly_price(instance_type, "hosting") * instance_count * HOURS_PER_DAY}


def run_cost(model: str, run_id: str, training: Mapping[str, Any], serving: Mapping[str, Mapping[str, Any]],
             recorded_at: datetime) -> dict:
    """The run's cost record (`recorded_at`: when it was priced, what `mlprovider cost --since` filters on)."""
    total = training["usd"] + sum(v["usd_per_day"] for v in serving.values())
    return {"model": model, "run_id": run_id, "recorded_at": recorded_at.isoformat(), "training": dict(training),
            "serving": {name: dict(v) for name, v in serving.items()}, "total_usd": total}


def summarise(records: Iterable[Mapping[str, Any]], since: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per model, over the runs recorded at or after `since` (tz-aware): runs, training seconds and USD, the
    latest run's serving USD per day, and the runs' total."""
    summary: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r["recorded_at"]):
        if since is not None and datetime.fromisoformat(record["recorded_at"]) < since:
            continue
        row = summary.setdefault(record["model"], {"runs": 0, "training_seconds": 0.0, "training_usd": 0.0,
                                                    "serving_usd_per_day": 0.0, "total_usd": 0.0})
        row["runs"] += 1
        row["training_seconds"] += record["training"]["seconds"]
        row["training_usd"] += record["training"]["usd"]
        row["total_usd"] += record["total_usd"]
        row["serving_usd_per_day"] = sum(v["usd_per_day"] for v in record["serving"].values())  # the latest
    return summary
