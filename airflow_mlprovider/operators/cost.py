"""Cost: what this run's training cost and what its serving costs per day, recorded and reported."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Any

from airflow_mlprovider.operators.base import LifecycleOperator, join_uri, run_key


class CostOperator(LifecycleOperator):
    """Price the run (cost.py): training from the train task's result (SageMaker: its instance type and billable
    seconds; local: the CPU seconds of the training process), serving per variant per day; write
    `<registry_uri>/cost/<run_key>.json` once and report it through the notifier.

    :param model: the model's name.
    :param registry_uri: the model's root (`<artifact_root>/<model>`); templated.
    :param training: the train task's result (`train.output`); templated.
    :param serving_instance_type: the SageMaker hosting instance type; None: the local endpoint server.
    :param serving_instance_count: instances per variant.
    :param serving_variants: the variants the run serves (e.g. champion and candidate during a rollout);
        empty: the run does not serve.
    :param local_cpu_usd_per_hour: the price of a local CPU hour (0: unbilled).
    :return: `{"cost_uri", "total_usd"}`.
    """

    template_fields: Sequence[str] = ("registry_uri", "training")

    def __init__(
        self, *, model: str, registry_uri: str, training: dict[str, Any], serving_instance_type: str | None = None,
        serving_instance_count: int = 1, serving_variants: Sequence[str] = (), local_cpu_usd_per_hour: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.registry_uri = registry_uri
        self.training = training
        self.serving_instance_type = serving_instance_type
        self.serving_instance_count = serving_instance_count
        self.serving_variants = tuple(serving_variants)
        self.local_cpu_usd_per_hour = local_cpu_usd_per_hour

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.cost import run_cost, serving_cost, training_cost

        job = self.training.get("job") or {}
        if "instance_type" in job:  # a SageMaker training job
            seconds = job.get("billable_seconds") or self.training["duration_s"]
            training = training_cost(job["instance_type"], float(seconds))
        else:
            training = training_cost(None, float(job.get("cpu_seconds", self.training["duration_s"])),
                                     self.local_cpu_usd_per_hour)
        serving = {v: serving_cost(self.serving_instance_type, self.serving_instance_count)
                   for v in self.serving_variants}
        record = run_cost(self.model, context["run_id"], training, serving, datetime.now(timezone.utc))
        uri = join_uri(self.registry_uri, "cost", f"{run_key(context['run_id'])}.json")
        store = self.store(self.registry_uri)
        if not store.write_if(uri, json.dumps(record, indent=2).encode(), None):
            record = json.loads(store.read_bytes(uri))  # a retry reports what the first try recorded
        training, serving = record["training"], record["serving"]
        per_day = sum(v["usd_per_day"] for v in serving.values())
        self.announce(self.model, "cost",
                      f"training {training['instance_type']} {training['seconds']:,.1f} s: ${training['usd']:.4f}"
                      + (f"; serving {len(serving)} variants: ${per_day:.2f}/day" if serving else "")
                      + f"; total ${record['total_usd']:.4f}")
        return {"cost_uri": uri, "total_usd": record["total_usd"]}
