"""`mlprovider demo`: the whole product on the embedded default, on one machine.

Seeds the DuckDB warehouse of the example specs, starts the local endpoint server and a traffic generator
for each served model, then `airflow standalone` (UI on 127.0.0.1) with the specs folder as dags folder.
Ctrl-C stops everything (SIGINT to Airflow's process group: SIGTERM would leave orphans).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ENDPOINT_CONN_ID = "mlprovider_endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--specs", default="dag_specs", help="the specs folder, used as Airflow's dags folder")
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI/API port on 127.0.0.1")
    parser.add_argument("--endpoint-port", type=int, default=8765, help="local endpoint server port")
    parser.add_argument("--state", default=".demo", help="folder for the demo's server state, traffic and logs")
    parser.add_argument("--traffic-rate", type=float, default=40.0, help="requests/s per served model (a full rollout takes ~6 min at 40)")
    parser.add_argument("--exit-when-ready", action="store_true", help="start, wait until healthy, report, stop (for tests)")
    parser.add_argument("--ready-timeout", type=float, default=180.0)


def _seed(specs: list) -> None:
    """Seed each DuckDB warehouse, then build the specs' dbt projects once so their tables exist for traffic."""
    from airflow_mlprovider.examples.seed import seed_warehouse
    from airflow_mlprovider.transforms.build_runner import run_dbt_build
    from airflow_mlprovider.transforms.profiles import profile_for

    for path in sorted({s.warehouse.path for s in specs if s.warehouse.type == "duckdb" and s.warehouse.path}):
        tables = seed_warehouse(path)
        print(f"seeded {path}: " + ", ".join(f"{t} ({n} rows)" for t, n in tables.items()))
    for spec in (s for s in specs if s.data.dbt and s.warehouse.type == "duckdb"):
        nodes = run_dbt_build(spec.data.dbt.project, spec.data.dbt.select, spec.data.dbt.target, profile_for(spec.warehouse))
        print(f"dbt build for {spec.model}: {len(nodes)} nodes")


def _traffic_requests(spec, out: Path) -> int:
    """Rows shaped like the evaluate step's requests: the spec's SQL, preprocessed, label dropped."""
    from datetime import datetime, timezone

    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.backends import warehouse_for
    from airflow_mlprovider.contract import ModelContext
    from airflow_mlprovider.sql_template import render

    import duckdb

    now = datetime.now(timezone.utc)
    sql, params = render(spec.data.sql, {"data_interval_start": now, "data_interval_end": now, "ds": now.date(),
                                         "params": spec.data.params, "model": spec.model}, warehouse_for(spec).placeholder)
    with duckdb.connect(spec.warehouse.path, read_only=True) as con:
        raw = con.execute(sql, params).df()
    module = import_module_from_path(spec.code.module)
    rows = module.preprocess(raw, ModelContext(model=spec.model, artifact_dir=str(out.parent), params=spec.code.params))
    rows = rows.drop(columns=[spec.evaluate.label]).tail(5000)
    out.write_text(rows.to_json(orient="records", lines=True, date_format="iso"))
    return len(rows)


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(url: str, timeout: float, procs: list[subprocess.Popen]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                health = json.load(resp)
            if all(component.get("status") == "healthy" for component in health.values() if isinstance(component, dict)):
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from airflow_mlprovider.spec import load_specs

    # Ctrl-C and a plain `kill` both stop everything cleanly, even when started in the background
    # (a background job inherits SIGINT ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)

    specs_folder = Path(args.specs).resolve()
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    result = load_specs(specs_folder)
    for errors in result.errors.values():
        for error in errors:
            print(f"invalid spec (shown in the UI as an invalid_spec__ DAG): {error}", file=sys.stderr)
    _seed(result.specs)

    bin_dir = str(Path(sys.executable).parent)
    token = secrets.token_urlsafe(24)
    endpoint_url = f"http://127.0.0.1:{args.endpoint_port}"
    home = os.environ.get("AIRFLOW_HOME") or str(Path(".airflow").resolve())
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),  # standalone runs `airflow` by name
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(specs_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{args.port}/execution/",  # tasks call home here
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "MLPROVIDER_ENDPOINT_TOKEN": token,
        # the endpoint server's connection: where it listens and its admin token (sent nowhere else)
        f"AIRFLOW_CONN_{ENDPOINT_CONN_ID.upper()}": json.dumps(
            {"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": args.endpoint_port, "password": token}
        ),
    }
    cli = [sys.executable, "-m", "airflow_mlprovider.cli"]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_spawn([*cli, "serve", "--port", str(args.endpoint_port), "--token-env", "MLPROVIDER_ENDPOINT_TOKEN",
                             "--state-file", str(state / "endpoints.json")], env, state / "endpoint-server.log"))
        for spec in (s for s in result.specs if s.serving):
            requests_file = state / f"traffic-{spec.model}.jsonl"
            n = _traffic_requests(spec, requests_file)
            print(f"traffic: {n} requests for endpoint {spec.serving.endpoint} at {args.traffic_rate}/s "
                  f"(log: {state}/traffic-{spec.model}.log)")
            procs.append(_spawn([*cli, "traffic", "--url", endpoint_url, "--endpoint", spec.serving.endpoint,
                                 "--jsonl", str(requests_file), "--rate", str(args.traffic_rate), "--duration", "28800"],
                                env, state / f"traffic-{spec.model}.log"))
        print(f"starting Airflow (AIRFLOW_HOME={home}); logs: {state}/airflow.log")
        procs.insert(0, _spawn([os.path.join(bin_dir, "airflow"), "standalone"], env, state / "airflow.log"))
        if not _wait_healthy(f"http://127.0.0.1:{args.port}/api/v2/monitor/health", args.ready_timeout, procs):
            print(f"Airflow did not become healthy; see {state}/airflow.log", file=sys.stderr)
            return 1
        password_file = Path(home) / "simple_auth_manager_passwords.json.generated"
        login = json.loads(password_file.read_text()) if password_file.exists() else {}
        print(f"\nAirflow UI: http://127.0.0.1:{args.port}   login: "
              + ", ".join(f"{user} / {password}" for user, password in login.items()))
        print(f"Endpoint server: {endpoint_url}/metrics   models: {', '.join(s.model for s in result.specs)}")
        print("Trigger a DAG in the UI, or: airflow backfill create --dag-id demand_forecast --from-date 2025-01-01 --to-date 2025-01-04")
        if args.exit_when_ready:
            return 0
        print("Ctrl-C stops everything.")
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)
