"""A distributed Airflow on this machine: PostgreSQL, Redis, the scheduler, dag-processor, triggerer, API server
and Celery workers, each process in its own folder (AIRFLOW_HOME, logs, tmp, its own copy of the dags folder),
sharing nothing on disk. They meet only where a real deployment's machines meet: the metadata DB, the broker,
the API server, S3 (moto's server) and the endpoint server, all over TCP.

Every child starts in a new session; `kill_worker()` SIGKILLs a worker's whole process tree (what a lost machine
looks like) and `stop()` does the same to every process, so nothing outlives the test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
#: what a child process inherits from the test's environment: the basics, and the AWS stand-in's settings
INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.5,
             diagnose: Callable[[], str] = lambda: "") -> Any:
    """Poll `check` until it returns something truthy; AssertionError naming `what` (and the diagnosis) after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{diagnose()}")
        time.sleep(interval_s)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(nothing)"


@dataclass
class Service:
    name: str
    folder: Path
    process: subprocess.Popen

    @property
    def log(self) -> Path:
        return self.folder / "process.log"


@dataclass
class AirflowCluster:
    """The Airflow processes of one deployment. `env` is what every Airflow process shares (settings and
    connections); `dags` is the dags folder each parsing process (dag-processor, workers) gets a copy of."""

    root: Path
    env: dict[str, str]
    dags: Path
    api_port: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    def role_env(self, name: str) -> dict[str, str]:
        folder = self.root / name
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env.update(self.env)
        env.update({
            "HOME": str(folder), "TMPDIR": str(folder / "tmp"), "AIRFLOW_HOME": str(folder),
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder / "dags"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "logs"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "PYTHONPATH": str(REPO),  # the worker hostname callable lives in the tests
        })
        return env

    def prepare(self, name: str, with_dags: bool) -> Path:
        folder = self.root / name
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        if with_dags:
            shutil.copytree(self.dags, folder / "dags")
        return folder

    def run(self, name: str, *args: str, timeout_s: float = 180) -> str:
        """A one-shot `airflow ...` command in the folder `name`; its output, or AssertionError with it."""
        folder = self.prepare(name, with_dags=False)
        done = subprocess.run([str(VENV_BIN / "airflow"), *args], cwd=folder, env=self.role_env(name),
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self, name: str, *args: str, with_dags: bool = False) -> Service:
        folder = self.prepare(name, with_dags)
        log = open(folder / "process.log", "ab")  # noqa: SIM115 - the child writes it for its whole life
        process = subprocess.Popen([str(VENV_BIN / "airflow"), *args], cwd=folder, env=self.role_env(name),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        self.services[name] = Service(name, folder, process)
        return self.services[name]

    def start_worker(self, name: str) -> Service:
        """A Celery worker running one task at a time, named `name` (celery node and task-instance hostname)."""
        return self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1",
                          "--skip-serve-logs", "--without-mingle", "--without-gossip", with_dags=True)

    def check_alive(self) -> None:
        """AssertionError with its log when a process (other than a killed worker) has exited."""
        for service in self.services.values():
            code = service.process.poll()
            assert code is None or service.name in self.killed, (
                f"{service.name} exited with status {code}:\n{tail(service.log)}")

    def polling(self, check: Callable[[], Any]) -> Callable[[], Any]:
        """`check`, failing at once when a process of the cluster has died (for wait_for)."""

        def poll() -> Any:
            self.check_alive()
            return check()

        return poll

    def api_ready(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2):
                return True
        except OSError:
            return False

    def kill_worker(self, name: str) -> None:
        """SIGKILL every process of worker `name` at once: the celery process group and the task processes the
        supervisor put in groups of their own (a lost machine)."""
        self.killed.add(name)
        _kill_tree(self.services[name].process)

    def diagnose(self) -> str:
        return "\n".join(f"--- {s.name} ({s.log}):\n{tail(s.log, 25)}" for s in self.services.values())

    def stop(self) -> None:
        """SIGKILL every process of the cluster: nothing of it is kept, so nothing needs a graceful stop."""
        for service in self.services.values():
            _kill_tree(service.process)


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL `process`, its process group and every descendant (some run in process groups of their own)."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for member in tree:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=10)
    process.wait(timeout=10)


def new_secret() -> str:
    return secrets.token_urlsafe(24)
