"""What mirroring to a shadow variant costs live requests on the local endpoint server.

One server process (this checkout's package) per setup: the champion alone, the champion with a shadow running
the same trivial model, and the champion with a slow shadow (every answer takes --slow-ms, far beyond what one
shadow thread can keep up with: most mirrors are dropped). Each setup gets --requests routed requests per
concurrency level, in --rounds rounds that alternate the setups (load from other processes falls on all alike).
Printed per setup and level: throughput, p50/p99 latency of the LIVE requests, server CPU per live request, and
the mirrored / dropped counts from the window API. Uses serve_load.py's client and server helpers.

    python bench/shadow_overhead.py [--requests 2000] [--levels 1 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from serve_load import (
    MODEL,
    REQUEST_SCHEMA,
    RESPONSE_SCHEMA,
    TOKEN,
    Server,
    make_artifact,
    measure,
    merged,
    start_server,
    stop,
)


def slow_model(slow_ms: float) -> str:
    return textwrap.dedent(
        f"""
        import time


        def load(artifact_dir):
            def predict(request):
                time.sleep({slow_ms / 1000!r})
                return {{"prediction": request["x"] * 2.0}}

            return predict
        """
    )


def artifact(folder: Path, code: str) -> Path:
    path = make_artifact(folder)
    (path / "code" / "bench_model.py").write_text(code)
    from airflow_mlprovider.artifacts import write_manifest

    write_manifest(path)
    return path


def setup(name: str, shadow: Path | None, champion: Path) -> Server:
    from airflow_mlprovider.serving.client import EndpointClient

    proc, url, _ = start_server(None)
    admin = EndpointClient(url, TOKEN)
    body = {"request_schema": REQUEST_SCHEMA, "response_schema": RESPONSE_SCHEMA}
    admin.put_variant("bench", "champion", {**body, "artifact_uri": champion.as_uri(), "weight": 100})
    if shadow is not None:
        admin.put_variant("bench", "shadow", {**body, "artifact_uri": shadow.as_uri(), "weight": 0, "shadow": True})
    return Server(name, proc, url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per level and setup (default 2000)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10], help="concurrent connections (default 1 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds alternating the setups (default 2)")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="answer time of the slow shadow (default 20)")
    args = parser.parse_args()
    from airflow_mlprovider.serving.client import EndpointClient

    with tempfile.TemporaryDirectory(prefix="mlprovider-shadow-bench-") as tmp:
        champion = artifact(Path(tmp) / "champion", MODEL)
        slow = artifact(Path(tmp) / "slow", slow_model(args.slow_ms))
        servers = [setup("none", None, champion), setup("shadow", champion, champion), setup("slow", slow, champion)]
        for server in servers:  # warm-up: imports, first connections; not counted
            measure(server, 1, 200, 30.0)
        time.sleep(1.0)
        started = time.time()
        try:
            print("setup   conns requests     req/s   p50 ms   p99 ms   CPU us conn errors non-2xx  mirrored  dropped")
            for connections in args.levels:
                parts: dict[str, list] = {s.name: [] for s in servers}
                for _ in range(args.rounds):
                    for server in servers:
                        parts[server.name].append(measure(server, connections, args.requests // args.rounds, 30.0))
                for server in servers:
                    time.sleep(0.5 if server.name != "slow" else 0.1)  # let queued mirrors finish before counting
                    pair = EndpointClient(server.url).shadows("bench", started, time.time() + 1).get("shadow", {})
                    mirror = pair.get("champion", {"mirrored": 0, "dropped": 0})
                    print(f"{merged(parts[server.name]).line()} {mirror['mirrored']:>9} {mirror['dropped']:>8}")
                started = time.time()
        finally:
            for server in servers:
                stop(server.proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
