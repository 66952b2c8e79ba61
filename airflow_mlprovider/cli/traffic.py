"""`mlprovider traffic`: replay rows as requests against one endpoint of the local endpoint server."""

from __future__ import annotations

import argparse
import sys

from airflow_mlprovider.serving.client import DEFAULT_URL
from airflow_mlprovider.serving.traffic import replay, rows_from_duckdb, rows_from_jsonl, rows_from_parquet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--jsonl", help="a JSONL file, one request per line")
    source.add_argument("--parquet", help="a Parquet file, one request per row")
    source.add_argument("--duckdb", metavar="PATH", help="a DuckDB database (with --sql)")
    parser.add_argument("--sql", help="with --duckdb: the query whose rows are the requests")
    parser.add_argument("--drop", action="append", default=[], metavar="COL", help="column to leave out (the label); repeatable")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the endpoint server (default {DEFAULT_URL})")
    parser.add_argument("--endpoint", required=True, help="endpoint name")
    parser.add_argument("--rate", type=float, default=20.0, help="mean requests per second, Poisson arrivals (default 20)")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--workers", type=int, default=4, help="concurrent requests (default 4)")
    parser.add_argument("--seed", type=int, help="seed of the arrival times")


def run(args: argparse.Namespace) -> int:
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
