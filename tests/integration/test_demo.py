"""The README's first command: `mlprovider demo` seeds the warehouse, starts the endpoint server, traffic and
`airflow standalone` on 127.0.0.1, becomes healthy, prints the login — and stops everything it started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_becomes_healthy_and_stops_clean(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(EXAMPLES, specs, ignore=shutil.ignore_patterns("__pycache__"))
    defaults = yaml.safe_load((specs / "mlprovider.defaults.yaml").read_text())
    defaults["artifact_root"] = str(tmp_path / "artifacts")
    defaults["warehouse"]["path"] = str(tmp_path / "warehouse.duckdb")
    (specs / "mlprovider.defaults.yaml").write_text(yaml.safe_dump(defaults))
    port, endpoint_port = _free_port(), _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow-home")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)  # the demo points Airflow at its own specs folder
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlprovider.cli", "demo", "--specs", str(specs), "--port", str(port),
         "--endpoint-port", str(endpoint_port), "--state", str(tmp_path / "state"), "--exit-when-ready"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"Airflow UI: http://127.0.0.1:{port}   login: admin / " in done.stdout
    assert "dbt build for demand_forecast" in done.stdout and "traffic:" in done.stdout
    for port_in_use in (port, endpoint_port):  # nothing left listening
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port_in_use)) != 0
