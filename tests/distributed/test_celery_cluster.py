"""A spec end to end on a distributed Airflow: PostgreSQL, Redis, scheduler, dag-processor, triggerer, API server and
two Celery workers that share no disk. Artifacts and the registry are on S3 (moto's server), the warehouse is a
DuckDB snapshot on S3, the endpoint server runs as its own service. A first run makes a champion; the second trains
a better candidate and rolls it out under live traffic, and the worker running one of its tasks is killed
(SIGKILL, its whole process tree): the run still completes on the other worker.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from aws_standin import AwsStandin, aws_standin, s3_bucket  # noqa: F401  (fixtures)

from tests.distributed.cluster import REPO, AirflowCluster, free_port, new_secret, tail, wait_for
from tests.integration.test_local_rollout import ENDPOINT, Traffic

if TYPE_CHECKING:
    from airflow_mlprovider.registry.store import ModelRegistry


def _missing_sysdeps() -> str | None:
    from airflow_mlprovider.local_services import LocalServiceError, postgres_bindir

    try:
        postgres_bindir()
    except LocalServiceError as exc:
        return str(exc)
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").is_file():
        return "redis-server not found; run `make sysdeps`"
    return None


_MISSING = _missing_sysdeps()
pytestmark = [
    pytest.mark.skipif(_MISSING is not None, reason=f"needs PostgreSQL and Redis servers: {_MISSING}"),
    # a whole Airflow deployment, like the demo's: one at a time on one xdist worker (--dist loadgroup), not two
    # stacks fighting for two cores
    pytest.mark.xdist_group("demo"),
]

MODEL = "demand_forecast"
WORKERS = ("worker-a", "worker-b")
TOKEN = "distributed-test-token"
#: the demo sales end on 2025-12-31; manual runs' data intervals end when they are triggered
SALES_FROM = datetime.date(2025, 10, 1)


def _write_spec(folder: Path, max_iter: int) -> None:
    """demand_forecast made for this cluster: no dbt (the warehouse is a read-only snapshot), manual runs on the
    last three months of sales, `max_iter` boosting rounds (1 is a deliberately bad model), a short rollout."""
    spec = yaml.safe_load((REPO / "dag_specs" / f"{MODEL}.model.yaml").read_text())
    spec["schedule"] = None
    del spec["data"]["dbt"]
    spec["data"]["sql"] = spec["data"]["sql"].replace("FROM sales_features", "FROM sales")
    spec["data"]["params"] = {"lookback_days": (datetime.date.today() - SALES_FROM).days}
    spec["code"]["params"] = {"max_iter": max_iter, "learning_rate": 0.1}
    spec["promote"] = {"min_relative_improvement": 0}
    spec["serving"] = {"endpoint": ENDPOINT}
    # as tests/integration/test_local_rollout.py: two steps decided in seconds under the test's traffic
    spec["rollout"] = {"steps": [50, 100], "check_interval": 1, "min_requests": 60, "step_timeout": "4m",
                       "timeout": "8m", "max_error_rate_increase": 0.01}
    (folder / f"{MODEL}.model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _dags_folder(dest: Path, bucket: str) -> Path:
    """The example dags folder with only demand_forecast (a weak first model), everything shared on S3."""
    dest.mkdir(parents=True)
    for name in ("mlprovider_dags.py", "models", "schemas", "data"):
        source = REPO / "dag_specs" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest / name)
    _write_spec(dest, max_iter=1)
    defaults = {
        "platform": "local",
        "artifact_root": f"s3://{bucket}/mlprovider",
        "warehouse": {"type": "duckdb", "path": f"s3://{bucket}/warehouse/sales.duckdb"},
        # a lost worker's task is retried on another one
        "default_args": {"retries": 1, "retry_delay": "1s"},
    }
    (dest / "mlprovider.defaults.yaml").write_text(yaml.safe_dump(defaults))
    return dest


def _seed_warehouse(standin: AwsStandin, bucket: str, folder: Path) -> None:
    from airflow_mlprovider.examples.seed import seed_warehouse

    local = folder / "sales.duckdb"
    seed_warehouse(str(local))
    standin.client("s3").upload_file(str(local), bucket, "warehouse/sales.duckdb")
    local.unlink()


class EndpointService:
    """`mlprovider serve` in a folder of its own, as production runs it: its state file there, and its own AWS
    credentials (a ~/.aws of the service user, here pointing at moto) to read s3:// artifacts."""

    def __init__(self, folder: Path, endpoint_url: str) -> None:
        self.folder, self.port = folder, free_port()
        aws = folder / ".aws"
        aws.mkdir(parents=True)
        (aws / "config").write_text(f"[default]\nregion = us-east-1\nendpoint_url = {endpoint_url}\n")
        (aws / "credentials").write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
        env = {"PATH": os.environ["PATH"], "HOME": str(folder), "TMPDIR": str(folder), "MLPROVIDER_ENDPOINT_TOKEN": TOKEN}
        self.log = folder / "process.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "airflow_mlprovider.cli", "serve", "--port", str(self.port),
                 "--state-file", str(folder / "state.json"), "--seed", "3"],
                cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_for("the endpoint server", self._healthy, 60, 0.2, lambda: tail(self.log))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connection(self) -> str:
        return json.dumps({"conn_type": "mlprovider_endpoint", "host": "127.0.0.1", "port": self.port,
                           "password": TOKEN})

    def _healthy(self) -> bool:
        assert self.process.poll() is None, f"the endpoint server exited:\n{tail(self.log)}"
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


class MetadataDB:
    """Reads of Airflow's metadata DB (PostgreSQL) as the test's assertions need them."""

    def __init__(self, port: int) -> None:
        import psycopg2

        self.conn = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password="airflow", dbname="airflow")
        self.conn.autocommit = True

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def run_state(self, run_id: str) -> str | None:
        found = self.rows("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", MODEL, run_id)
        return found[0][0] if found else None

    def task_instances(self, run_id: str) -> list[tuple[str, str | None, str | None, int]]:
        """(task_id, state, hostname, try_number) of every task instance of the run."""
        return self.rows("SELECT task_id, state, hostname, try_number FROM task_instance "
                         "WHERE dag_id = %s AND run_id = %s ORDER BY start_date NULLS LAST", MODEL, run_id)

    def tries(self, run_id: str) -> list[tuple[str, str | None, str | None, int]]:
        """Every attempt of the run, earlier ones from task_instance_history included."""
        history = self.rows("SELECT task_id, state, hostname, try_number FROM task_instance_history "
                            "WHERE dag_id = %s AND run_id = %s", MODEL, run_id)
        return history + self.task_instances(run_id)


@pytest.fixture
def workspace() -> Iterator[Path]:
    # PostgreSQL runs as the postgres user: every folder on the way to its data must be traversable
    root = Path(tempfile.mkdtemp(prefix="mlprovider-distributed-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_lifecycle_completes_on_celery_workers_without_shared_disk(
    workspace: Path, aws_standin: AwsStandin, s3_bucket: str,  # noqa: F811
) -> None:
    from airflow_mlprovider.examples.seed import sales_frame
    from airflow_mlprovider.local_services import LocalPostgres, LocalRedis
    from airflow_mlprovider.operators.serving import variant_name

    started = time.monotonic()
    postgres, redis = LocalPostgres(workspace / "postgres", free_port()), LocalRedis(workspace / "redis", free_port())
    cluster: AirflowCluster | None = None
    server: EndpointService | None = None
    try:
        db_url, broker_url = postgres.start(), redis.start()
        _seed_warehouse(aws_standin, s3_bucket, workspace)
        server = EndpointService(workspace / "endpoint-server", aws_standin.endpoint_url)
        cluster = AirflowCluster(workspace, _cluster_env(db_url, broker_url, server, postgres.port),
                                 _dags_folder(workspace / "dags-source", s3_bucket))
        cluster.run("migrate", "db", "migrate")
        cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(cluster.api_port))
        cluster.start("scheduler", "scheduler", "--skip-serve-logs")
        cluster.start("dag-processor", "dag-processor", with_dags=True)
        cluster.start("triggerer", "triggerer", "--skip-serve-logs")
        for name in WORKERS:
            cluster.start_worker(name)
        db = MetadataDB(postgres.port)
        wait_for("the DAG in the metadata DB", cluster.polling(lambda: db.rows(
            "SELECT 1 FROM dag WHERE dag_id = %s AND NOT is_paused", MODEL)), 120, diagnose=cluster.diagnose)
        wait_for("the API server", cluster.polling(cluster.api_ready), 120, diagnose=cluster.diagnose)
        print(f"cluster up after {time.monotonic() - started:.0f} s")

        # 1. The first champion: nothing to compare with, it serves 100 % at once.
        first = _trigger(cluster, "first")
        _wait_run(cluster, db, first)
        print(f"first run done after {time.monotonic() - started:.0f} s")
        # A better model ships to every machine that parses the dags folder, as a new image or git sync would.
        for name in ("dag-processor", *WORKERS):
            _write_spec(cluster.root / name / "dags", max_iter=50)

        # 2. A better candidate; one worker dies while it runs a task of this run.
        second = _trigger(cluster, "second")
        killed, lost_task = _kill_a_busy_worker(cluster, db, [first, second])
        print(f"killed {killed} while it ran {lost_task} after {time.monotonic() - started:.0f} s")
        # Users' traffic from registration on (it costs CPU, which the tasks before need): the rollout decides
        # each step from the requests each variant served.
        wait_for("the candidate's registration", cluster.polling(lambda: _task_state(db, second, "promote.register")),
                 240, diagnose=lambda: _report(cluster, db, second))
        rows = sales_frame().astype({"day": str}).drop(columns="units_sold").head(400).to_dict(orient="records")
        with Traffic(server.url, rows) as traffic:
            _wait_run(cluster, db, second)
        print(f"second run done after {time.monotonic() - started:.0f} s")

        survivor = next(name for name in WORKERS if name != killed)
        for run in (first, second):
            print(_timeline(db, run))
        states = {task: state for task, state, _, _ in db.task_instances(second)}
        assert states["rollout.finalize"] == "success" and states["rollout.rollback"] == "skipped", (
            _report(cluster, db, second))
        # the killed worker's task was retried, and the run finished, on the survivor
        retried = {task: (state, host, tries) for task, state, host, tries in db.task_instances(second)
                   if task == lost_task}
        assert retried[lost_task] == ("success", survivor, 2), (lost_task, retried, db.tries(second))
        lost = [t for t in db.tries(second) if t[0] == lost_task and t[3] == 1]
        assert lost and lost[0][2] == killed and lost[0][1] != "success", lost
        # both workers ran tasks to success
        hosts = {host for run in (first, second) for _, state, host, _ in db.task_instances(run) if state == "success"}
        assert hosts == set(WORKERS), hosts
        # the second run's model is the champion and serves 100 % of the endpoint service's traffic
        champion = _registry(s3_bucket).champion()
        assert champion is not None and champion.run_id == second, champion
        assert _described_weights(server.url) == {variant_name(champion.version_id): 100}
        assert sum(traffic.seen.values()) > 0 and all(status == 200 for status, _ in traffic.seen), traffic.seen
        print(f"distributed lifecycle test: {time.monotonic() - started:.0f} s wall")
    finally:
        if cluster is not None:
            cluster.stop()
        if server is not None:
            server.stop()
        redis.stop()
        postgres.stop()


def _cluster_env(db_url: str, broker_url: str, server: EndpointService, pg_port: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow:airflow@127.0.0.1:{pg_port}/airflow",
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": new_secret(),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.worker_hostname.hostname",
        # a worker lost with its task: noticed after 12 s without a heartbeat, the task is retried elsewhere
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "12",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
        # the dags folder never changes during the test: parse it once, not every 30 s
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW_CONN_AWS_DEFAULT": os.environ["AIRFLOW_CONN_AWS_DEFAULT"],
        "AIRFLOW_CONN_MLPROVIDER_ENDPOINT": server.connection(),
    }


def _task_state(db: MetadataDB, run_id: str, task_id: str) -> str | None:
    """The task's state once it has finished (success, skipped or failed), else None; the run's failure raises."""
    assert db.run_state(run_id) != "failed", f"run {run_id} failed"
    state = {task: state for task, state, _, _ in db.task_instances(run_id)}.get(task_id)
    return state if state in ("success", "skipped", "failed", "upstream_failed") else None


def _trigger(cluster: AirflowCluster, name: str) -> str:
    run_id = f"distributed__{name}"
    cluster.run("client", "dags", "trigger", MODEL, "--run-id", run_id)
    return run_id


def _wait_run(cluster: AirflowCluster, db: MetadataDB, run_id: str) -> None:
    def finished() -> str | None:
        state = db.run_state(run_id)
        return state if state in ("success", "failed") else None

    state = wait_for(f"DAG run {run_id}", cluster.polling(finished), 240, diagnose=lambda: _report(cluster, db, run_id))
    assert state == "success", _report(cluster, db, run_id)


def _kill_a_busy_worker(cluster: AirflowCluster, db: MetadataDB, runs: list[str]) -> tuple[str, str]:
    """Once both workers have finished a task, SIGKILL the worker running a task of the last run; returns
    (worker, task_id)."""

    def busy_worker() -> tuple[str, str] | None:
        done = {host for run in runs for _, state, host, _ in db.task_instances(run) if state == "success"}
        if done != set(WORKERS):
            return None
        running = [(host, task) for task, state, host, _ in db.task_instances(runs[-1])
                   if state == "running" and host in WORKERS]
        return running[0] if running else None

    worker, task = wait_for("a task running on a worker (both having run one)", cluster.polling(busy_worker), 240, 0.1,
                            diagnose=lambda: _report(cluster, db, runs[-1]))
    cluster.kill_worker(worker)
    return worker, task


def _timeline(db: MetadataDB, run_id: str) -> str:
    """When each task of the run was queued, started and ended (seconds from the run's start), and where."""
    rows = db.rows("SELECT task_id, hostname, try_number, state, queued_dttm, start_date, end_date "
                   "FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY start_date NULLS LAST", MODEL, run_id)
    origin = min((q for *_, q, _, _ in rows if q is not None), default=None)

    def at(moment: datetime.datetime | None) -> str:
        return "     -" if moment is None or origin is None else f"{(moment - origin).total_seconds():6.1f}"

    return "\n".join([f"run {run_id} (seconds from the first task queued):"] + [
        f"  {task:24} {host or '-':9} try {tries} {state or '-':8} queued {at(q)} start {at(b)} end {at(e)}"
        for task, host, tries, state, q, b, e in rows])


def _registry(bucket: str) -> ModelRegistry:
    from airflow_mlprovider.backends import artifact_store
    from airflow_mlprovider.registry.store import ModelRegistry

    root = f"s3://{bucket}/mlprovider/{MODEL}"
    return ModelRegistry(artifact_store(root), root)


def _described_weights(url: str) -> dict[str, float]:
    from airflow_mlprovider.serving.client import EndpointClient

    described = EndpointClient(url).endpoint(ENDPOINT)
    return {name: v["traffic_percent"] for name, v in described["variants"].items()}


def _report(cluster: AirflowCluster, db: MetadataDB, run_id: str) -> str:
    lines = [f"run {run_id}: {db.run_state(run_id)}", _timeline(db, run_id)]
    lines += [f"  {t}" for t in db.tries(run_id)]
    for name in WORKERS:
        for log in sorted((cluster.root / name / "logs").rglob("*.log")):
            if run_id in str(log):
                lines.append(f"--- {log.relative_to(cluster.root)}:\n{tail(log, 15)}")
    return "\n".join(lines) + "\n" + cluster.diagnose()
