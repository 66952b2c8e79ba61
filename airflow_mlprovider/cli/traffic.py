"""`mlprovider traffic`: replay rows as requests against the local endpoint server.

Either one endpoint from a file or query, or (`--specs`) every served model of a specs folder: the folder is
re-read every `--discover-every` seconds and a model gets traffic from the moment its endpoint has a variant
with weight, so a model added while the demo runs is served demo traffic too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from airflow_mlprovider.serving.client import DEFAULT_URL, EndpointClient, EndpointServerUnreachable
from airflow_mlprovider.serving.traffic import replay, rows_from_duckdb, rows_from_jsonl, rows_from_parquet

MAX_ROWS = 5000  # per model: enough variety for the rollout statistics, small enough to build in seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--jsonl", help="a JSONL file, one request per line")
    source.add_argument("--parquet", help="a Parquet file, one request per row")
    source.add_argument("--duckdb", metavar="PATH", help="a DuckDB database (with --sql)")
    source.add_argument("--specs", metavar="FOLDER", help="every served model of this specs folder, its rows from its own SQL and preprocess()")
    parser.add_argument("--sql", help="with --duckdb: the query whose rows are the requests")
    parser.add_argument("--drop", action="append", default=[], metavar="COL", help="column to leave out (the label); repeatable")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the endpoint server (default {DEFAULT_URL})")
    parser.add_argument("--endpoint", help="endpoint name (required unless --specs)")
    parser.add_argument("--rate", type=float, default=20.0, help="mean requests per second (per model with --specs), Poisson arrivals (default 20)")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--workers", type=int, default=4, help="concurrent requests (default 4)")
    parser.add_argument("--seed", type=int, help="seed of the arrival times")
    parser.add_argument("--discover-every", type=float, default=15.0, metavar="S", help="with --specs: re-read the folder and the endpoints every S seconds (default 15)")


def spec_query(spec: Any) -> tuple[str, Any]:
    """The spec's extract SQL for an interval ending now, with its bind parameters."""
    from datetime import datetime, timezone

    from airflow_mlprovider.backends import warehouse_for
    from airflow_mlprovider.sql_template import render

    now = datetime.now(timezone.utc)
    return render(spec.data.sql, {"data_interval_start": now, "data_interval_end": now, "ds": now.date(),
                                  "params": spec.data.params, "model": spec.model}, warehouse_for(spec).placeholder)


def spec_requests(spec: Any, workdir: Path) -> list[dict[str, Any]]:
    """Rows shaped like the evaluate step's requests: the spec's SQL on its DuckDB warehouse, preprocessed, label dropped."""
    import duckdb

    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.contract import ModelContext
    from airflow_mlprovider.serving.traffic import json_safe

    sql, params = spec_query(spec)
    with duckdb.connect(spec.warehouse.path, read_only=True) as con:
        raw = con.execute(sql, params).df()
    module = import_module_from_path(spec.code.module)
    rows = module.preprocess(raw, ModelContext(model=spec.model, artifact_dir=str(workdir), params=spec.code.params))
    rows = rows.drop(columns=[spec.evaluate.label]).tail(MAX_ROWS)
    return [{str(k): json_safe(v) for k, v in row.items()} for row in rows.to_dict(orient="records")]


def _is_served(client: EndpointClient, endpoint: str) -> bool:
    try:
        state = client.endpoint(endpoint)
    except EndpointServerUnreachable:
        return False
    return bool(state) and any(v.get("weight", 0) > 0 for v in state.get("variants", {}).values())


def discover_and_replay(args: argparse.Namespace) -> int:
    """Start a replay thread per served model as it appears; stop at --duration/--count or Ctrl-C."""
    from airflow_mlprovider.spec import load_specs

    client = EndpointClient(args.url)
    workdir = Path(tempfile.mkdtemp(prefix="mlprovider-traffic-"))  # ctx.artifact_dir of preprocess()
    started_at, replaying, failed = time.monotonic(), {}, set()
    stop_at = None if args.duration is None else started_at + args.duration
    try:
        while stop_at is None or time.monotonic() < stop_at:
            for spec in load_specs(Path(args.specs)).specs:
                if not spec.serving or spec.model in replaying or spec.warehouse.type != "duckdb":
                    continue
                endpoint = spec.serving.endpoint
                if not _is_served(client, endpoint):
                    continue
                try:
                    rows = spec_requests(spec, workdir)
                except Exception as exc:  # noqa: BLE001 - the model's own code or a locked warehouse: try next round
                    if spec.model not in failed:
                        print(f"{spec.model}: no traffic yet, building its requests failed: {exc}", flush=True)
                        failed.add(spec.model)
                    continue
                remaining = None if stop_at is None else max(stop_at - time.monotonic(), 1.0)
                print(f"{spec.model}: endpoint {endpoint} is served; replaying {len(rows)} requests at {args.rate}/s", flush=True)
                thread = threading.Thread(
                    target=replay, name=f"traffic-{spec.model}", daemon=True,
                    args=(rows, args.url, endpoint),
                    kwargs={"rate": args.rate, "count": args.count, "duration_s": remaining or 8 * 3600.0,
                            "workers": args.workers, "seed": args.seed,
                            "report": lambda line, model=spec.model: print(f"{model}: {line}", flush=True)})
                thread.start()
                replaying[spec.model] = thread
            time.sleep(args.discover_every)
    except KeyboardInterrupt:  # Ctrl-C (or the demo stopping) ends the replays: not an error
        pass
    return 0


def run(args: argparse.Namespace) -> int:
    if args.specs:
        return discover_and_replay(args)
    if args.endpoint is None:
        print("give --endpoint (or --specs for every served model)", file=sys.stderr)
        return 2
    if args.count is None and args.duration is None:
        print("give --count and/or --duration: the replay must stop by itself", file=sys.stderr)
        return 2
    if bool(args.duckdb) != bool(args.sql):
        print("--duckdb and --sql go together", file=sys.stderr)
        return 2
    if args.jsonl:
        rows = rows_from_jsonl(args.jsonl, args.drop)
    elif args.parquet:
        rows = rows_from_parquet(args.parquet, args.drop)
    else:
        rows = rows_from_duckdb(args.duckdb, args.sql, args.drop)
    if not rows:
        print("the source has no rows", file=sys.stderr)
        return 1
    try:
        tally = replay(
            rows, args.url, args.endpoint, rate=args.rate, count=args.count, duration_s=args.duration,
            workers=args.workers, seed=args.seed, report=lambda line: print(line, flush=True),
        )
    except KeyboardInterrupt:  # Ctrl-C (or the demo stopping) ends a replay early: not an error
        return 0
    return 0 if tally.by_class["2xx"] else 1
