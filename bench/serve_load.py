"""Local endpoint server under load: throughput, p50/p99 latency and connection errors at 1, 10 and 50
concurrent connections against a trivial model, next to the stdlib ThreadingHTTPServer it replaced.

The stdlib server is the package as of BASELINE_COMMIT (the last commit before the ASGI server), extracted
with `git archive` into a temp dir and run from there. Each server runs in its own process; this process is
the client: asyncio over raw sockets, HTTP/1.1, one connection per concurrent client, kept alive when the
server allows it (the stdlib server closes every connection, so its clients reconnect per request, as real
clients must). A request is timed from the moment it is started (connecting included) to the last byte of
its answer. A connection error is a request that got no answer: refused, reset, closed early or no answer
within --timeout seconds. Loopback only; every level sends --requests requests to each server, in --rounds rounds that alternate
the servers, so that load from other processes falls on both alike.

    python bench/serve_load.py [--requests 3000] [--levels 1 10 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "88f78b94b7a217eed99eff11c9cd7e95e9b56cd4"  # the stdlib ThreadingHTTPServer
TOKEN = "bench-token"
GOAL_SPEEDUP = 5.0

MODEL = textwrap.dedent(
    """
    def load(artifact_dir):
        def predict(request):
            return {"prediction": request["x"] * 2.0}

        return predict
    """
)
REQUEST_SCHEMA = {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}
RESPONSE_SCHEMA = {"type": "object", "required": ["prediction"], "properties": {"prediction": {"type": "number"}}}

# Runs in the server's process: whichever airflow_mlprovider comes first on sys.path.
SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from airflow_mlprovider.serving import server
    running = server.EndpointServer("127.0.0.1", 0, admin_token=sys.argv[1])
    print(running.url, server.__file__, flush=True)
    running.serve_forever()
    """
)


@dataclass
class Level:
    server: str
    connections: int
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    connection_errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_cpu_s: float | None = None  # CPU time the server process spent on this level (Linux)

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.elapsed_s

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        non_2xx = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        errors = sum(self.connection_errors.values())
        detail = f" ({', '.join(f'{k} {n}' for k, n in sorted(self.connection_errors.items()))})" if errors else ""
        requests = len(self.latencies_s) + errors
        cpu = f"{1e6 * self.server_cpu_s / requests:>8.0f}" if self.server_cpu_s is not None else f"{'n/a':>8}"
        return (f"{self.server:<7} {self.connections:>5} {requests:>8} {self.throughput:>9.0f} "
                f"{self.quantile_ms(0.5):>8.2f} {self.quantile_ms(0.99):>8.2f} {cpu} {errors:>11}{detail} {non_2xx:>7}")


def make_artifact(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from airflow_mlprovider.artifacts import CODE_DIR, MODEL_DIR, write_manifest

    (folder / MODEL_DIR).mkdir(parents=True)
    (folder / CODE_DIR).mkdir()
    (folder / CODE_DIR / "bench_model.py").write_text(MODEL)
    write_manifest(folder)
    return folder


def extract_baseline(commit: str, into: Path) -> Path:
    """The package as of `commit`, in `into` (a folder to put first on PYTHONPATH)."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "airflow_mlprovider"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def start_server(pythonpath: Path | None) -> tuple[subprocess.Popen, str, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, TOKEN], stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
    url, module = proc.stdout.readline().split()
    return proc, url, module


def deploy(url: str, artifact: Path) -> None:
    from airflow_mlprovider.serving.client import EndpointClient

    EndpointClient(url, TOKEN).put_variant(
        "bench", "trivial",
        {"artifact_uri": artifact.as_uri(), "request_schema": REQUEST_SCHEMA, "response_schema": RESPONSE_SCHEMA, "weight": 100},
    )


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the connection may be reused) of one response."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed before an answer")
    version, status = status_line.split()[:2]
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    await reader.readexactly(int(headers.get("content-length", 0)))
    connection = headers.get("connection", "")
    keep_alive = connection != "close" if version == b"HTTP/1.1" else connection == "keep-alive"
    return int(status), keep_alive


async def load_level(server: str, url: str, connections: int, requests: int, timeout_s: float) -> Level:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"x": 3}).encode()
    request = (f"POST /endpoints/bench/invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    level = Level(server, connections)
    remaining = iter(range(requests))

    async def client() -> None:
        reader = writer = None
        for _ in remaining:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout_s):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, int(port))
                    writer.write(request)
                    status, keep_alive = await read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                level.connection_errors[type(exc).__name__] += 1
                keep_alive = False
            else:
                level.latencies_s.append(time.perf_counter() - started)
                level.statuses[status] += 1
            if not keep_alive and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    level.elapsed_s = time.perf_counter() - started
    return level


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None where /proc does not exist)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    url: str


def measure(server: Server, connections: int, requests: int, timeout_s: float) -> Level:
    cpu_before = process_cpu_s(server.proc.pid)
    level = asyncio.run(load_level(server.name, server.url, connections, requests, timeout_s))
    cpu_after = process_cpu_s(server.proc.pid)
    if cpu_before is not None and cpu_after is not None:
        level.server_cpu_s = cpu_after - cpu_before
    return level


def merged(parts: list[Level]) -> Level:
    """One level from its rounds: requests over the summed time, pooled latencies."""
    total = Level(parts[0].server, parts[0].connections, server_cpu_s=0.0)
    for part in parts:
        total.elapsed_s += part.elapsed_s
        total.latencies_s += part.latencies_s
        total.connection_errors.update(part.connection_errors)
        total.statuses.update(part.statuses)
        total.server_cpu_s = None if total.server_cpu_s is None or part.server_cpu_s is None else total.server_cpu_s + part.server_cpu_s
    return total


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per level (default 3000)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50], help="concurrent connections (default 1 10 50)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without an answer that count as a connection error")
    parser.add_argument("--baseline", default=BASELINE_COMMIT, help="git commit of the stdlib server")
    parser.add_argument("--rounds", type=int, default=3,
                        help="each level alternates the servers this many times (background load hits both alike)")
    args = parser.parse_args()
    results: dict[str, list[Level]] = {"stdlib": [], "asgi": []}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp, contextlib.ExitStack() as running:
        artifact = make_artifact(Path(tmp) / "artifact")
        baseline = extract_baseline(args.baseline, Path(tmp) / "baseline")
        servers = []
        for name, pythonpath in (("stdlib", baseline), ("asgi", ROOT)):
            proc, url, module = start_server(pythonpath)
            running.callback(stop, proc)
            print(f"# {name}: {module}", flush=True)
            deploy(url, artifact)
            asyncio.run(load_level(name, url, 4, 300, args.timeout))  # warm-up: imports, caches
            servers.append(Server(name, proc, url))
        for connections in args.levels:
            parts: dict[str, list[Level]] = {server.name: [] for server in servers}
            for round_ in range(args.rounds):
                for server in servers if round_ % 2 == 0 else servers[::-1]:
                    parts[server.name].append(measure(server, connections, args.requests // args.rounds, args.timeout))
            for name, levels in parts.items():
                results[name].append(merged(levels))
    print(f"{'server':<7} {'conns':>5} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>8} {'conn errors':>11} {'non-2xx':>7}")
    for old, new in zip(results["stdlib"], results["asgi"]):
        print(old.line())
        print(new.line())
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; client and servers share them; "
          "CPU us: server CPU time per request")
    ok = True
    for old, new in zip(results["stdlib"], results["asgi"]):
        speedup = new.throughput / old.throughput
        errors = sum(new.connection_errors.values())
        p99_ok = new.quantile_ms(0.99) <= old.quantile_ms(0.99)
        print(f"{new.connections:>3} connections: {speedup:.1f}x throughput, p99 {new.quantile_ms(0.99):.2f} ms vs "
              f"{old.quantile_ms(0.99):.2f} ms, {errors} connection errors vs {sum(old.connection_errors.values())}")
        if new.connections == max(args.levels):
            ok = errors == 0 and speedup >= GOAL_SPEEDUP and p99_ok
    print(f"goal at {max(args.levels)} connections (0 connection errors, >= {GOAL_SPEEDUP:g}x throughput, p99 not worse): "
          f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
