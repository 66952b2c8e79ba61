"""Turn every spec in a dags folder into a DAG, without ever raising.

Airflow drops *every* DAG of a dags-folder file that raises, so a bad spec must not raise here: it becomes
a small "invalid spec" DAG that names its file and shows the errors in the UI, and the good specs' DAGs
are built as usual.

Nothing is logged here: every task process parses this file again, so a log line about one spec would land
in the task logs of every other model. A spec's errors live in its own invalid-spec DAG (its docs, its name,
and the failing task's log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_mlprovider.factory.builder import build_dag
from airflow_mlprovider.factory.invalid import build_invalid_spec_dag
from airflow_mlprovider.factory.monitor_dag import build_monitor_dags
from airflow_mlprovider.provider_config import defaults_file
from airflow_mlprovider.spec import SpecError, load_specs


def load_dags(loader_file: str, namespace: dict[str, Any], *, specs_folder: str | None = None) -> list[Any]:
    """Build one DAG per `*.model.yaml` under the loader file's folder (or `specs_folder`) into `namespace`."""
    folder = Path(specs_folder) if specs_folder else Path(loader_file).resolve().parent
    result = load_specs(folder, defaults_file=defaults_file())
    dags = []
    for spec in result.specs:
        try:
            built = [build_dag(spec), *build_monitor_dags(spec)]  # all of a spec's DAGs, or its invalid-spec DAG
        except Exception as exc:  # noqa: BLE001 - one broken DAG must not take the others down
            message = f"DAG build failed: {type(exc).__name__}: {exc}"
            error = SpecError(file=spec.source, line=None, column=None, path="", message=message)
            built = [build_invalid_spec_dag(spec.source, [error], folder)]
        dags += built
    for source, errors in sorted(result.errors.items()):
        dags.append(build_invalid_spec_dag(source, errors, folder))
    for dag in dags:
        namespace[dag.dag_id] = dag
    return dags
