"""For tests that run a DAG built in the test with dag.test(): Airflow runs only DAGs recorded in the metadata DB."""

from __future__ import annotations

from typing import Any


def record_dag(dag: Any) -> Any:
    """Serialize `dag` into the (test) metadata DB, as the dag-processor would; returns it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag
