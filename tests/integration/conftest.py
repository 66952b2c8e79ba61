"""A real dags folder (the examples, re-pointed at a temp warehouse and artifact root) for dag.test() runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

ENDPOINT_TOKEN = "integration-test-token"

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


@pytest.fixture
def dags_folder(airflow_db: str, tmp_path: Path) -> Path:
    """The configured Airflow dags folder, filled with the examples; dag.test() parses it like Airflow does."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    defaults_path = folder / "mlprovider.defaults.yaml"
    defaults = yaml.safe_load(defaults_path.read_text()) or {}
    defaults["artifact_root"] = (tmp_path / "artifacts").as_uri()
    defaults["warehouse"] = {"type": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    defaults["default_args"] = {"retries": 0}
    defaults_path.write_text(yaml.safe_dump(defaults))

    from airflow_mlprovider.examples.seed import seed_warehouse

    seed_warehouse(str(tmp_path / "warehouse.duckdb"))
    return folder


def edit_spec(folder: Path, model: str, edit) -> Path:
    """Rewrite a spec file in place with `edit(doc)`; returns its path."""
    path = folder / f"{model}.model.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def build(folder: Path, model: str):
    """The DAG exactly as the dags-folder loader builds it."""
    from airflow_mlprovider.factory import load_dags

    namespace: dict = {}
    load_dags(str(folder / "mlprovider_dags.py"), namespace)
    return namespace[model]


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture
def endpoint_server(monkeypatch: pytest.MonkeyPatch):
    """A local endpoint server on a free port; the operators find it and its admin token in the Airflow
    connection `mlprovider_endpoint`, as in production."""
    from airflow_mlprovider.serving.server import EndpointServer

    with EndpointServer("127.0.0.1", 0, admin_token=ENDPOINT_TOKEN, seed=3) as server:
        port = int(server.url.rsplit(":", 1)[1])
        connection = {"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": port, "password": ENDPOINT_TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_MLPROVIDER_ENDPOINT", json.dumps(connection))
        yield server


@pytest.fixture(scope="session")
def running_demo():
    """One `mlprovider demo` for the tests that drive it like a user (new model, backfill, supervision);
    it must stop cleanly, leaving no port open."""
    from tests.integration.demo_session import RunningDemo, clone_like_folder, port_open

    demo = RunningDemo(clone_like_folder())
    try:
        demo.start()
        yield demo
    finally:
        code = demo.stop() if demo.proc is not None else 0
        errors = demo.stderr()[-2000:]
        still_open = [port for port in demo.ports.values() if port_open(port)]
        shutil.rmtree(demo.root, ignore_errors=True)
    assert code == 0, errors
    assert still_open == [], f"ports still open after the demo stopped: {still_open}"
