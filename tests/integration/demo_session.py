"""`mlprovider demo` running in a clone-like folder, driven the way the README tells a user to."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def user_env() -> dict[str, str]:
    """A user's shell: none of the test session's Airflow settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def clone_like_folder() -> Path:
    """dag_specs and the venv (linked) in a fresh folder the postgres system user can traverse."""
    root = Path(tempfile.mkdtemp(prefix="mlp-clone-"))
    os.chmod(root, 0o711)
    shutil.copytree(REPO / "dag_specs", root / "dag_specs", ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


class RunningDemo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {"port": free_port(), "endpoint-port": free_port(), "postgres-port": free_port()}
        self.out, self.err = root / "demo.stdout", root / "demo.stderr"
        self.proc: subprocess.Popen | None = None
        self._token: str | None = None

    def start(self, timeout: float = 900) -> None:
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [".venv/bin/mlprovider", "demo", "--specs", "dag_specs", "--traffic-rate", "10",
                 *[f"--{k}={v}" for k, v in self.ports.items()]],
                cwd=self.root, env=user_env(), stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.stdout():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo did not start:\n{self.stdout()[-3000:]}\n{self.stderr()[-3000:]}")
            time.sleep(2)

    def stop(self) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def sh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A documented command, run in the clone-like folder as a user's shell would."""
        return subprocess.run(command, shell=True, cwd=self.root, env=user_env(), capture_output=True, text=True, timeout=timeout)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            user, password = re.search(r"login: (\S+) / (\S+)", self.stdout()).groups()
            self._token = self._call("POST", "/auth/token", {"username": user, "password": password})["access_token"]
        return self._call(method, path, body, self._token)

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['port']}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/v2/monitor/health")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def wait_for(self, condition, timeout: float, what: str, poll: float = 5) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
            except (urllib.error.URLError, OSError):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.stderr()[-2000:]}")
            time.sleep(poll)
