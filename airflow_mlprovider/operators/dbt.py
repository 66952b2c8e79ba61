"""`dbt build` of a dbt project into the warehouse, before the extract."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from airflow_mlprovider.operators.base import LifecycleOperator
from airflow_mlprovider.operators.data import warehouse_config


class DbtBuildOperator(LifecycleOperator):
    """Build and test a dbt project; a failed model or test fails the task, naming the nodes.

    The profile is rendered at run time from the warehouse (the DuckDB file, or the Snowflake connection).

    :param project_dir: the dbt project folder (holding dbt_project.yml).
    :param select: dbt node selection, e.g. "+daily_sales"; templated.
    :param target: the profile's target name.
    :param duckdb_path: the embedded DuckDB file; or
    :param snowflake_conn_id: an Airflow Snowflake connection (exactly one of the two).
    :return: `{"nodes": {status: count}, "node_seconds"}`.
    """

    template_fields: Sequence[str] = ("select", "duckdb_path")
    ui_color = "#fde6d8"

    def __init__(
        self, *, project_dir: str, select: str | None = None, target: str | None = None,
        duckdb_path: str | None = None, snowflake_conn_id: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        warehouse_config(duckdb_path, snowflake_conn_id)
        self.project_dir = project_dir
        self.select = select
        self.target = target
        self.duckdb_path = duckdb_path
        self.snowflake_conn_id = snowflake_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        # dbt is heavy: imported here, when the task runs, never when the DAG is parsed
        from airflow_mlprovider.transforms.build_runner import run_dbt_build
        from airflow_mlprovider.transforms.profiles import profile_for

        warehouse = warehouse_config(self.duckdb_path, self.snowflake_conn_id)

        def build() -> list:
            return run_dbt_build(self.project_dir, self.select, self.target, profile_for(warehouse, self.target))

        if warehouse.type == "duckdb":  # the embedded warehouse is one file: wait for another task's lock
            from airflow_mlprovider.backends.local.duckdb_lock import waiting_for_lock

            results = waiting_for_lock(build, f"dbt build of {self.project_dir}")
        else:
            results = build()
        return {
            "nodes": dict(Counter(node.status for node in results)),
            "node_seconds": round(sum(node.execution_time_s for node in results), 3),
        }
