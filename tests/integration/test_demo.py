"""The README's first command: `mlprovider demo` seeds the warehouse, starts PostgreSQL, the endpoint server,
traffic and Airflow's components on 127.0.0.1, becomes healthy, unpauses the models whose data exists, prints
the ports and the login — and stops everything it started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_dir():
    """A folder the postgres system user can traverse (pytest's tmp_path sits in a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="mlp-demo-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def demo_specs(root: Path) -> Path:
    """The examples, their warehouse and artifacts inside `root`."""
    specs = root / "specs"
    shutil.copytree(EXAMPLES, specs, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    defaults = yaml.safe_load((specs / "mlprovider.defaults.yaml").read_text())
    defaults["artifact_root"] = str(root / "artifacts")
    defaults["warehouse"]["path"] = str(root / "warehouse.duckdb")
    (specs / "mlprovider.defaults.yaml").write_text(yaml.safe_dump(defaults))
    return specs


def demo_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(root / "airflow-home")
    return env


def test_demo_becomes_healthy_and_stops_clean(demo_dir: Path) -> None:
    specs = demo_specs(demo_dir)
    (specs / "no_data.model.yaml").write_text(
        (specs / "tumor_classifier.model.yaml").read_text().replace("FROM tumors", "FROM not_loaded_yet")
        .replace("model: tumor_classifier", "model: no_data"))
    ports = {"port": free_port(), "endpoint-port": free_port(), "postgres-port": free_port()}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlprovider.cli", "demo", "--specs", str(specs), "--state", str(demo_dir / "state"),
         *[f"--{k}={v}" for k, v in ports.items()], "--exit-when-ready"],
        env=demo_env(demo_dir), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert f"Airflow UI: http://127.0.0.1:{ports['port']}   login: admin / " in out
    assert f"PostgreSQL (metadata DB): 127.0.0.1:{ports['postgres-port']}" in out
    assert "dbt build for demand_forecast" in out
    # the model whose table does not exist stays paused; the examples with data run
    assert "Unpaused (their data exists): demand_forecast, tumor_classifier; paused: no_data" in out
    assert "sql_alchemy_conn = postgresql+psycopg2://airflow:airflow@127.0.0.1:" in (demo_dir / "airflow-home" / "airflow.cfg").read_text()
    for port in ports.values():  # nothing left listening
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
