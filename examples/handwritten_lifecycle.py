"""A lifecycle DAG written by hand with the provider's operators: no YAML spec, no factory.

extract -> (a TaskFlow quality gate) -> preprocess -> split -> train -> evaluate -> decide -> register.
Each operator gets plain arguments; what a task produces reaches the next as an XComArg
(`extract.output["uri"]`). Where the data and artifacts live are DAG params (templated), so a run can point
elsewhere (`dag.test(run_conf={...})`, or the trigger form). Registering with `promote=True` moves the champion
and emits an event of the Asset `mlprovider://demand_handwritten/champion`, which schedules `batch_scoring`.

It runs on the embedded default: the seeded DuckDB warehouse (`python -m airflow_mlprovider.examples.seed
.demo/warehouse.duckdb`), a local artifact folder and training in a subprocess. docs/operators.md walks through it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, Param, TaskGroup, task

from airflow_mlprovider.notifications.lifecycle import LifecycleNotifier
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.operators.champion_asset import champion_asset
from airflow_mlprovider.operators.data import ExtractOperator, PreprocessOperator, SplitOperator
from airflow_mlprovider.operators.evaluate import DecideOperator, EvaluateOperator
from airflow_mlprovider.operators.register import RegisterOperator
from airflow_mlprovider.operators.train import TrainOperator

MODEL = "demand_handwritten"
REPO = Path(__file__).resolve().parents[1]
MODEL_MODULE = str(REPO / "dag_specs" / "models" / "demand_forecast.py")
RESPONSE_SCHEMA = str(REPO / "dag_specs" / "schemas" / "demand_forecast.response.json")
#: this run's folder: `run_key` makes the run id path-safe (a DAG filter, see user_defined_filters)
RUN = "{{ params.artifact_root }}/" + MODEL + "/runs/{{ run_id | run_key }}"
REGISTRY = "{{ params.artifact_root }}/" + MODEL
MIN_ROWS = 100

with DAG(
    dag_id=MODEL,
    description="Units sold per store and day: the lifecycle written with the operators, no YAML",
    schedule="@daily",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["mlprovider", "example"],
    params={
        "warehouse": Param(str(REPO / ".demo" / "warehouse.duckdb"), type="string"),
        "artifact_root": Param((REPO / ".demo" / "artifacts").as_uri(), type="string"),
        "lookback_days": Param(365, type="integer", minimum=7),
    },
    user_defined_filters={"run_key": run_key},
    default_args={"owner": "mlprovider", "retries": 1, "on_failure_callback": LifecycleNotifier()},
) as lifecycle:
    with TaskGroup("data"):
        extract = ExtractOperator(
            task_id="extract",
            # provider-rendered: each {{ }} becomes a bind parameter
            sql="SELECT day, store, price, promo, units_sold FROM sales "
            "WHERE day >= CAST({{ data_interval_end }} AS DATE) - CAST({{ params.lookback_days }} AS INTEGER) "
            "AND day < CAST({{ data_interval_end }} AS DATE)",
            sql_params={"lookback_days": "{{ params.lookback_days }}"},
            duckdb_path="{{ params.warehouse }}",
            output_uri=RUN + "/data/raw.parquet",
            model=MODEL,
        )

        @task
        def quality_gate(rows: int, columns: list[str]) -> int:
            """A plain TaskFlow check between two operators: enough rows, and the label is there."""
            if rows < MIN_ROWS or "units_sold" not in columns:
                raise ValueError(f"extract has {rows} rows and columns {columns}: not enough to train on")
            return rows

        gate = quality_gate(extract.output["rows"], extract.output["columns"])
        preprocess = PreprocessOperator(
            task_id="preprocess", model=MODEL, model_module=MODEL_MODULE, input_uri=extract.output["uri"],
            output_uri=RUN + "/data/features.parquet",
        )
        gate >> preprocess
        split = SplitOperator(
            task_id="split", input_uri=preprocess.output["uri"], output_prefix=RUN + "/data", by="time", column="day",
        )
    with TaskGroup("train"):
        train = TrainOperator(
            task_id="train", model=MODEL, model_module=MODEL_MODULE, model_params={"max_iter": 50},
            train_uri=split.output["train_uri"], validation_uri=split.output["validation_uri"],
            artifact_uri=RUN + "/artifact", max_runtime_s=600,
        )
    with TaskGroup("evaluate"):
        evaluate = EvaluateOperator(
            task_id="evaluate", test_uri=split.output["test_uri"], artifact_uri=train.output["artifact_uri"],
            manifest_digest=train.output["manifest_digest"], registry_uri=REGISTRY,
            output_prefix=RUN + "/evaluation", label_column="units_sold", metric="rmse",
            response_schema=RESPONSE_SCHEMA,
        )
        decide = DecideOperator(
            task_id="decide", model=MODEL, registry_uri=REGISTRY, artifact_uri=train.output["artifact_uri"],
            evaluation=evaluate.output, min_relative_improvement=0.01,
        )
    with TaskGroup("promote"):
        register = RegisterOperator(
            task_id="register", model=MODEL, registry_uri=REGISTRY, artifact_uri=train.output["artifact_uri"],
            evaluation=evaluate.output, promote=True, reason=decide.output["reason"],
        )
    decide >> register


with DAG(
    dag_id="batch_scoring",
    description=f"Runs whenever {MODEL} has a new champion",
    schedule=[champion_asset(MODEL)],
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    tags=["mlprovider", "example"],
) as batch_scoring:

    @task
    def score_with_the_new_champion(*, triggering_asset_events=None) -> dict:
        """What a downstream job receives: the champion's version, metric and data interval."""
        [event] = [e for events in triggering_asset_events.values() for e in events][-1:]
        return {"version_id": event.extra["version_id"], "artifact_uri": event.extra["artifact_uri"]}

    score_with_the_new_champion()
