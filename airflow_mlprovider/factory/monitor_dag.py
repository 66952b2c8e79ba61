"""Spec -> the monitoring DAG `<model>__monitor`: one MonitorOperator on the spec's `monitor.schedule`.

Built only for a spec that serves and whose monitor is enabled; it shares the lifecycle DAG's default args,
notifier and endpoint settings, so a spec change reaches both.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from airflow_mlprovider.factory.builder import dag_default_args, endpoint_arguments, spec_digest, spec_notifier
from airflow_mlprovider.operators.monitor import MonitorOperator
from airflow_mlprovider.spec.model import ModelSpec

MONITOR_SUFFIX = "__monitor"
#: an interval's checks read a few windows of counts; far less than this
MONITOR_TIMEOUT = timedelta(minutes=10)


def monitor_dag_id(model: str) -> str:
    return f"{model}{MONITOR_SUFFIX}"


def is_monitored(spec: ModelSpec) -> bool:
    """Whether the spec gets a monitoring DAG: it serves and its monitor is enabled."""
    return spec.serving is not None and spec.monitor.enabled


def build_monitor_dags(spec: ModelSpec) -> list[DAG]:
    """The spec's monitoring DAG, or none (no serving, or `monitor.enabled: false`)."""
    if not is_monitored(spec):
        return []
    m = spec.monitor
    with DAG(
        dag_id=monitor_dag_id(spec.model),
        description=f"Monitoring of the serving champion of {spec.model}",
        schedule=m.schedule,
        start_date=datetime.fromisoformat(spec.start_date).replace(tzinfo=timezone.utc),
        catchup=False,  # a past interval's traffic is gone from the server's window: only now can be checked
        max_active_runs=1,
        tags=["mlprovider", "monitoring", *spec.tags],
        default_args={**dag_default_args(spec), "retries": 0, "execution_timeout": MONITOR_TIMEOUT},
        doc_md=(f"# {spec.model}: monitoring\n\nChecks the serving champion every `{m.schedule}`: the {m.window_s:g} s "
                "up to the end of the run's data interval, against its baseline and evaluation reference "
                f"(docs/monitoring.md). Generated from `{spec.source}` (spec digest `{spec_digest(spec)}`)."),
    ) as dag:
        MonitorOperator(
            task_id="monitor", model=spec.model, registry_uri=spec.model_root,
            window_end="{{ data_interval_end }}", window_s=m.window_s,
            baseline_s=m.baseline_s, thresholds=spec.raw.get("monitor", {}), features=m.features,
            notifier=spec_notifier(spec), **{"aws_conn_id": spec.aws_conn_id, **endpoint_arguments(spec)},
        )
    return [dag]
