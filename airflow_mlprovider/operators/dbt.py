"""data.dbt_build: `dbt build` of the spec's dbt project into the spec's warehouse, before the extract."""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow_mlprovider.operators.base import ModelSpecOperator


class DbtBuildOperator(ModelSpecOperator):
    """Builds and tests `data.dbt.project` (optionally `select`, `target`); a failed model or test fails the task.

    The profile is rendered at run time from `warehouse` (DuckDB path, or the Snowflake Airflow connection).
    Returns (XCom) the number of nodes per status and the build's total node time.
    """

    ui_color = "#fde6d8"

    def execute(self, context: Any) -> dict[str, Any]:
        # dbt is heavy: imported here, when the task runs, never when the DAG is parsed
        from airflow_mlprovider.transforms.build_runner import run_dbt_build
        from airflow_mlprovider.transforms.profiles import profile_for

        spec = self.model_spec
        dbt = spec.data.dbt
        if dbt is None:
            raise ValueError(f"{spec.source}: data.dbt is not set, so model {spec.model} has no dbt build step")
        def build() -> list:
            return run_dbt_build(dbt.project, dbt.select, dbt.target, profile_for(spec.warehouse, dbt.target))

        if spec.warehouse.type == "duckdb":  # the embedded warehouse is one file: wait for another task's lock
            from airflow_mlprovider.backends.local.duckdb_lock import waiting_for_lock

            results = waiting_for_lock(build, f"dbt build of {dbt.project}")
        else:
            results = build()
        return {
            "nodes": dict(Counter(node.status for node in results)),
            "node_seconds": round(sum(node.execution_time_s for node in results), 3),
        }
