"""Replay rows as invocations of one endpoint at a rate with Poisson arrivals, until a count or a duration.

Rows come from a JSONL file, a Parquet file or a DuckDB query; the label column is dropped with `drop`.
Every request goes to the URL given and nowhere else. A one-line summary (sent, 2xx/4xx/5xx overall and
by variant) is reported every `report_every_s` seconds and once at the end.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from airflow_mlprovider.serving.client import EndpointClient, EndpointServerUnreachable

FAILED = "failed"  # no HTTP answer at all (server down, timeout)


def json_safe(value: Any) -> Any:
    """Warehouse values as JSON values: dates as ISO strings, decimals and numpy scalars as numbers, NaN as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _without(rows: Iterable[dict[str, Any]], drop: Sequence[str]) -> list[dict[str, Any]]:
    return [{k: json_safe(v) for k, v in row.items() if k not in drop} for row in rows]


def rows_from_jsonl(path: str | Path, drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    with open(path) as fh:
        return _without((json.loads(line) for line in fh if line.strip()), drop)


def rows_from_parquet(path: str | Path, drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return _without(pq.read_table(path).to_pylist(), drop)


def rows_from_duckdb(path: str | Path, sql: str, drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        cursor = conn.execute(sql)
        columns = [d[0] for d in cursor.description]
        return _without((dict(zip(columns, row)) for row in cursor.fetchall()), drop)


class TrafficTally:
    """Answers by status class, overall and by variant (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.by_class: Counter[str] = Counter()
        self.by_variant: dict[str, Counter[str]] = {}

    def add(self, status: int | None, variant: str | None) -> None:
        status_class = FAILED if status is None else f"{status // 100}xx"
        with self._lock:
            self.sent += 1
            self.by_class[status_class] += 1
            if variant is not None:
                self.by_variant.setdefault(variant, Counter())[status_class] += 1

    def line(self, elapsed_s: float) -> str:
        with self._lock:
            overall = " ".join(f"{c}={self.by_class[c]}" for c in ("2xx", "4xx", "5xx", FAILED) if self.by_class[c] or c != FAILED)
            variants = " | ".join(
                f"{name} " + " ".join(f"{c}={n}" for c, n in sorted(counts.items()))
                for name, counts in sorted(self.by_variant.items())
            )
            return f"[{elapsed_s:6.1f}s] sent={self.sent} {overall}" + (f" | {variants}" if variants else "")


def replay(
    rows: Sequence[dict[str, Any]],
    url: str,
    endpoint: str,
    *,
    rate: float,
    count: int | None = None,
    duration_s: float | None = None,
    workers: int = 4,
    seed: int | None = None,
    report: Callable[[str], None] = print,
    report_every_s: float = 10.0,
) -> TrafficTally:
    """Send rows (cycling through them) at `rate` requests/s on average until `count` or `duration_s`."""
    if not rows:
        raise ValueError("no rows to replay")
    if rate <= 0:
        raise ValueError(f"rate must be above 0 requests/s, got {rate}")
    if count is None and duration_s is None:
        raise ValueError("give a count and/or a duration: the replay must stop by itself")
    client = EndpointClient(url)
    tally = TrafficTally()
    rng = random.Random(seed)
    in_flight = threading.BoundedSemaphore(workers * 4)  # a slow server lowers the rate instead of growing a queue

    def send(row: dict[str, Any]) -> None:
        try:
            status, variant, _ = client.invoke(endpoint, row)
        except EndpointServerUnreachable:
            status, variant = None, None
        finally:
            in_flight.release()
        tally.add(status, variant)

    started = time.monotonic()
    next_arrival = started
    next_report = started + report_every_s
    submitted = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlprovider-traffic") as pool:
        while count is None or submitted < count:
            next_arrival += rng.expovariate(rate)
            if duration_s is not None and next_arrival - started >= duration_s:
                break
            while True:
                now = time.monotonic()
                if now >= next_report:
                    report(tally.line(now - started))
                    next_report = now + report_every_s
                if now >= next_arrival:
                    break
                time.sleep(min(next_arrival, next_report) - now)
            in_flight.acquire()
            pool.submit(send, rows[submitted % len(rows)])
            submitted += 1
    report(tally.line(time.monotonic() - started) + " (done)")
    return tally
