"""`mlprovider demo`: the whole product on the embedded default, on one machine.

Seeds the DuckDB warehouse of the example specs, starts PostgreSQL as Airflow's metadata database (backfills
and concurrent runs need it: SQLite locks), the local endpoint server, demo traffic for every served model, and
Airflow's components as supervised children: the API server first, then — once it answers, so that no task
starts before it can report home — the scheduler, the dag-processor and the triggerer (LocalExecutor, low
parallelism). A component that dies is restarted and said so loudly in the terminal. New DAGs start paused;
the demo unpauses the example specs whose data exists. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDPOINT_CONN_ID = "mlprovider_endpoint"
RESTART_BACKOFF_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--specs", default="dag_specs", help="the specs folder, used as Airflow's dags folder")
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI/API port on 127.0.0.1 (default 8080)")
    parser.add_argument("--endpoint-port", type=int, default=8765, help="local endpoint server port (default 8765)")
    parser.add_argument("--postgres-port", type=int, default=5433, help="port of the demo's PostgreSQL, Airflow's metadata DB (default 5433)")
    parser.add_argument("--state", default=".demo", help="folder for the demo's PostgreSQL data, server state and logs")
    parser.add_argument("--traffic-rate", type=float, default=40.0, help="requests/s per served model (a full rollout takes ~6 min at 40)")
    parser.add_argument("--parallelism", type=int, default=4, help="task instances running at once (LocalExecutor)")
    parser.add_argument("--exit-when-ready", action="store_true", help="start, wait until healthy, report, stop (for tests)")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for Airflow to become healthy")


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


def data_exists(spec: Any) -> bool:
    """Whether the spec's extract query runs on its DuckDB warehouse (its tables and columns exist)."""
    import duckdb

    from airflow_mlprovider.cli.traffic import spec_query

    if spec.warehouse.type != "duckdb" or not spec.warehouse.path or not Path(spec.warehouse.path).exists():
        return False
    sql, params = spec_query(spec)
    try:
        with duckdb.connect(spec.warehouse.path, read_only=True) as con:
            con.execute(f"SELECT * FROM ({sql}) AS extract LIMIT 0", params)
    except duckdb.Error:
        return False
    return True


@dataclass
class Component:
    """A supervised child: restarted when it dies, each death printed loudly."""

    name: str
    cmd: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    died_at: float | None = None

    def start(self, env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def signal_stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # the whole group: SIGTERM to the leader alone leaves orphans

    def wait_stopped(self, timeout: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        try:  # children left behind by the leader (task runners)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _loud(message: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!!! {message}\n{bar}\n", file=sys.stderr, flush=True)


def supervise_once(components: list[Component], env: dict[str, str]) -> None:
    """Restart every component that died (after a short back-off), saying so in the terminal."""
    now = time.monotonic()
    for component in components:
        if component.proc is None or component.proc.poll() is None:
            continue
        if component.died_at is None:
            component.died_at = now
            try:  # what it started (LocalExecutor workers) goes with it: the restarted one reschedules their tasks
                os.killpg(component.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            tail = "\n".join(component.log_path.read_text(errors="replace").splitlines()[-8:])
            _loud(f"{component.name} exited with code {component.proc.returncode}; restarting it in "
                  f"{RESTART_BACKOFF_S:.0f} s (log: {component.log_path})\n{tail}")
        elif now - component.died_at >= RESTART_BACKOFF_S:
            component.restarts += 1
            component.died_at = None
            component.start(env)
            print(f"*** {component.name} restarted (restart #{component.restarts})", file=sys.stderr, flush=True)


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as resp:
            return json.load(resp)
    except (OSError, ValueError):
        return None


def _wait(condition, timeout: float, components: list[Component], env: dict[str, str]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        supervise_once(components, env)
        time.sleep(1)
    return False


def _all_healthy(health: dict[str, Any] | None) -> bool:
    return bool(health) and all(c.get("status") == "healthy" for c in health.values() if isinstance(c, dict))


def write_airflow_cfg(home: Path, settings: dict[str, dict[str, str]]) -> Path:
    """Put the demo's settings into $AIRFLOW_HOME/airflow.cfg, so `airflow ...` in another terminal (a backfill,
    `dags unpause`) talks to the demo's PostgreSQL and dags folder."""
    path = home / "airflow.cfg"
    cfg = configparser.RawConfigParser()
    cfg.optionxform = str  # keep option names as written
    if path.exists():
        cfg.read(path)
    for section, options in settings.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in options.items():
            cfg.set(section, key, value)
    home.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        cfg.write(fh)
    return path


def _api(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, None


def unpause_when_parsed(port: int, login: dict[str, str], dag_ids: list[str], timeout: float) -> list[str]:
    """Unpause `dag_ids` through the REST API as soon as the dag-processor has recorded them; returns those done."""
    user, password = next(iter(login.items()))
    status, answer = _api(port, "POST", "/auth/token", body={"username": user, "password": password})
    if status >= 300 or not answer:
        return []
    token, done, deadline = answer["access_token"], [], time.monotonic() + timeout
    while len(done) < len(dag_ids) and time.monotonic() < deadline:
        for dag_id in (d for d in dag_ids if d not in done):
            if _api(port, "PATCH", f"/api/v2/dags/{dag_id}", token, {"is_paused": False})[0] == 200:
                done.append(dag_id)
        time.sleep(1)
    return done


def run(args: argparse.Namespace) -> int:
    from airflow_mlprovider.factory.monitor_dag import MONITOR_SUFFIX, is_monitored, monitor_dag_id
    from airflow_mlprovider.local_services import LocalPostgres, LocalServiceError
    from airflow_mlprovider.spec import load_specs

    signal.signal(signal.SIGINT, _interrupt)  # a background job inherits SIGINT ignored: handle it explicitly
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
    home = Path(os.environ.get("AIRFLOW_HOME") or Path(".airflow").resolve())
    postgres = LocalPostgres(state / "postgres", args.postgres_port)
    components: list[Component] = []
    try:
        try:
            db_url = postgres.start()
        except LocalServiceError as exc:
            print(f"PostgreSQL (Airflow's metadata DB) did not start: {exc}", file=sys.stderr)
            return 1
        print(f"PostgreSQL: 127.0.0.1:{args.postgres_port} (data in {state / 'postgres'})")
        secret_file = state / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(32))
        cfg = write_airflow_cfg(home, {
            "core": {"dags_folder": str(specs_folder), "load_examples": "False", "executor": "LocalExecutor",
                     "parallelism": str(args.parallelism), "dags_are_paused_at_creation": "True",
                     "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                     "execution_api_server_url": f"http://127.0.0.1:{args.port}/execution/"},
            "database": {"sql_alchemy_conn": db_url},
            "api": {"host": "127.0.0.1", "port": str(args.port)},
            "api_auth": {"jwt_secret": secret_file.read_text().strip()},
            "dag_processor": {"refresh_interval": "30"},
            # a restarted scheduler resets the tasks its dead predecessor was running within a minute (the old
            # job is stale after scheduler_health_check_threshold, 30 s), not after the default 300 s
            "scheduler": {"orphaned_tasks_check_interval": "30"},
        })
        token = secrets.token_urlsafe(24)
        endpoint_url = f"http://127.0.0.1:{args.endpoint_port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},  # airflow.cfg rules
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "AIRFLOW_HOME": str(home),
            "MLPROVIDER_ENDPOINT_TOKEN": token,
            # the endpoint server's connection: where it listens and its admin token (sent nowhere else)
            f"AIRFLOW_CONN_{ENDPOINT_CONN_ID.upper()}": json.dumps(
                {"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": args.endpoint_port, "password": token}),
        }
        airflow = os.path.join(bin_dir, "airflow")
        print(f"Airflow settings in {cfg}; migrating the metadata DB (log: {state}/airflow-db.log)", flush=True)
        with open(state / "airflow-db.log", "ab") as log:
            if subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                print(f"airflow db migrate failed; see {state}/airflow-db.log", file=sys.stderr)
                return 1

        cli = [sys.executable, "-m", "airflow_mlprovider.cli"]
        components = [
            Component("endpoint-server", [*cli, "serve", "--port", str(args.endpoint_port), "--token-env",
                                         "MLPROVIDER_ENDPOINT_TOKEN", "--state-file", str(state / "endpoints.json")],
                      state / "endpoint-server.log"),
            Component("traffic", [*cli, "traffic", "--specs", str(specs_folder), "--url", endpoint_url,
                                  "--rate", str(args.traffic_rate)], state / "traffic.log"),
            Component("api-server", [airflow, "api-server"], state / "api-server.log"),
        ]
        for component in components:
            component.start(env)
        if not _wait(lambda: (_health(args.port) or {}).get("metadatabase", {}).get("status") == "healthy",
                     args.ready_timeout, components, env):
            print(f"the API server did not answer; see {state}/api-server.log", file=sys.stderr)
            return 1
        # only now: a task started earlier could not report to the API server and would fail its first try
        for name in ("scheduler", "dag-processor", "triggerer"):
            component = Component(name, [airflow, name], state / f"{name}.log")
            component.start(env)
            components.append(component)
        if not _wait(lambda: _all_healthy(_health(args.port)), args.ready_timeout, components, env):
            print(f"Airflow did not become healthy: {_health(args.port)}; see the logs in {state}", file=sys.stderr)
            return 1

        password_file = home / "simple_auth_manager_passwords.json.generated"
        login = json.loads(password_file.read_text()) if password_file.exists() else {}
        with_data = [s for s in result.specs if data_exists(s)]
        # a served model's monitoring DAG too: the Models page shows its checks from the first hour on
        dag_ids = [s.model for s in with_data] + [monitor_dag_id(s.model) for s in with_data if is_monitored(s)]
        unpaused_ids = unpause_when_parsed(args.port, login, dag_ids, timeout=args.ready_timeout) if login else []
        unpaused = [s.model for s in with_data if s.model in unpaused_ids]
        monitored = [dag_id for dag_id in unpaused_ids if dag_id.endswith(MONITOR_SUFFIX)]
        paused = sorted({s.model for s in result.specs} - set(unpaused))
        print(f"\nAirflow UI: http://127.0.0.1:{args.port}   login: "
              + ", ".join(f"{user} / {password}" for user, password in login.items()))
        print(f"Endpoint server: {endpoint_url}/metrics   PostgreSQL (metadata DB): 127.0.0.1:{args.postgres_port}")
        print(f"Unpaused (their data exists): {', '.join(unpaused) or 'none'}"
              + (f"; paused: {', '.join(paused)}" if paused else ""))
        print(f"Monitoring DAGs unpaused: {', '.join(monitored) or 'none'} (each checks its model's champion every interval)")
        print("New models start paused. Unpause one with its toggle in the UI, or in another terminal:\n"
              f"    AIRFLOW_HOME={home} {airflow} dags unpause <model>")
        print(f"Backfill (both dates inclusive: one run per schedule interval):\n"
              f"    AIRFLOW_HOME={home} {airflow} backfill create --dag-id demand_forecast --from-date 2025-01-01 --to-date 2025-01-03")
        print(f"Logs: {state}/*.log", flush=True)
        if args.exit_when_ready:
            return 0
        print("Ctrl-C stops everything.", flush=True)
        while True:
            supervise_once(components, env)
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        for component in reversed(components):  # the scheduler first, the API server after the task runners
            component.signal_stop()
        for component in reversed(components):
            component.wait_stopped(timeout=30)
        postgres.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
