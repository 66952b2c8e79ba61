"""PostgreSQL and Redis servers run as child processes in a data folder, for the demo and the tests.

Both listen on 127.0.0.1 only. PostgreSQL refuses to run as root, so when we are root initdb and the server
run as the `postgres` system user (`runuser -u postgres --`) in a data folder that user owns. The Unix socket
lives inside the data folder, so two instances never share /var/run/postgresql.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSDEPS_HINT = "run `make sysdeps` (installs Debian's postgresql and redis-server)"
DB_NAME = DB_USER = DB_PASSWORD = "airflow"


class LocalServiceError(RuntimeError):
    """A local server could not be found, started or reached."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _end_child(proc: subprocess.Popen | None, timeout: float) -> None:
    """Reap a child, killing its process group if it outlives `timeout`."""
    if proc is None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def postgres_bindir() -> Path:
    """The folder holding initdb and postgres: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versioned, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise LocalServiceError(f"PostgreSQL server binaries (initdb, postgres) not found in {[str(c) for c in candidates] or 'pg_config --bindir or /usr/lib/postgresql/*/bin'}; {SYSDEPS_HINT}")


class LocalPostgres:
    """A PostgreSQL cluster in `data_dir/pgdata` with role and database `airflow` (password `airflow`)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.cluster = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self._proc: subprocess.Popen | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{DB_NAME}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._as_postgres:
            return
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        os.chmod(self.data_dir, 0o700)
        # every parent must be traversable by the postgres user, else initdb fails with a vaguer message
        probe = subprocess.run(self._cmd("test", "-w", str(self.data_dir)), capture_output=True, check=False)
        if probe.returncode != 0:
            raise LocalServiceError(f"the postgres system user cannot write {self.data_dir}: make its parent folders traversable (chmod o+x) or choose another data dir")

    def _stop_stale(self) -> None:
        """A server left running by an earlier process in the same cluster (e.g. after a crash) is stopped."""
        pid_file = self.cluster / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid != os.getpid() and _pid_alive(pid):
            os.kill(pid, signal.SIGINT)
            _wait_gone(pid, 30)

    def start(self) -> str:
        """initdb if needed, start, wait until it accepts connections; returns the SQLAlchemy URL."""
        bindir = postgres_bindir()
        self._prepare_dir()
        if not (self.cluster / "PG_VERSION").exists():
            init = subprocess.run(self._cmd(str(bindir / "initdb"), "-D", str(self.cluster), "-U", "postgres", "-E", "UTF8",
                                            "--auth-local=trust", "--auth-host=scram-sha-256"),
                                  capture_output=True, text=True, check=False)
            if init.returncode != 0:
                raise LocalServiceError(f"initdb failed in {self.cluster}:\n{init.stderr[-2000:]}")
        self._stop_stale()
        if not _port_free(self.port):
            raise LocalServiceError(f"port {self.port} on 127.0.0.1 is already in use; choose another PostgreSQL port")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it for its whole life
        self._proc = subprocess.Popen(
            self._cmd(str(bindir / "postgres"), "-D", str(self.cluster), "-p", str(self.port),
                      "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir}"),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._wait_ready(timeout=60)
        self._ensure_airflow_db()
        return self.url

    def _connect(self, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(host=str(self.data_dir), port=self.port, user="postgres", dbname=dbname, connect_timeout=3)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                self._proc = None
                raise LocalServiceError(f"PostgreSQL exited at start; {self.log_path}:\n{_log_tail(self.log_path)}")
            try:
                self._connect().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LocalServiceError(f"PostgreSQL did not accept connections within {timeout:.0f} s; {self.log_path}:\n{_log_tail(self.log_path)}") from None
                time.sleep(0.2)

    def _ensure_airflow_db(self) -> None:
        con = self._connect()
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE ROLE {DB_USER} LOGIN PASSWORD %s", (DB_PASSWORD,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        finally:
            con.close()

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: open sessions are ended); idempotent."""
        if self._proc is None:
            return
        pid_file = self.cluster / "postmaster.pid"
        try:
            postmaster = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None
        if postmaster is not None and _pid_alive(postmaster):
            # runuser would turn our signal into SIGTERM (a smart shutdown that waits for clients): signal the server
            os.kill(postmaster, signal.SIGINT)
        elif self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGINT)
        _end_child(self._proc, timeout=30)
        self._proc = None


class LocalRedis:
    """A Redis server without persistence, its working folder `data_dir`."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.log_path = self.data_dir / "redis.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start and wait until it answers PING; returns the Redis URL."""
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None)
        if binary is None:
            raise LocalServiceError(f"redis-server not found; {SYSDEPS_HINT}")
        if not _port_free(self.port):
            raise LocalServiceError(f"port {self.port} on 127.0.0.1 is already in use; choose another Redis port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it for its whole life
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir), "--daemonize", "no",
             "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not self._answers_ping():
            if self._proc.poll() is not None:
                self._proc = None
                raise LocalServiceError(f"redis-server exited at start; {self.log_path}:\n{_log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServiceError(f"redis-server did not answer within 30 s; {self.log_path}:\n{_log_tail(self.log_path)}")
            time.sleep(0.1)
        return self.url

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (nothing to save); idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
        _end_child(self._proc, timeout=15)
        self._proc = None
