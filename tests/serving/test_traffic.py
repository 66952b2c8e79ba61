"""The traffic generator: row sources, a bounded replay whose counts match the server's window, the CLI."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import time
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main
from airflow_mlprovider.serving.client import EndpointClient
from airflow_mlprovider.serving.server import EndpointServer
from airflow_mlprovider.serving.traffic import FAILED, replay, rows_from_duckdb, rows_from_jsonl, rows_from_parquet
from tests.serving.serving_testing import TOKEN, variant_body


@pytest.fixture
def serving(server: EndpointServer, artifacts: dict[str, Path]) -> EndpointServer:
    admin = EndpointClient(server.url, TOKEN)
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 80))
    admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 20))
    return server


def test_rows_from_jsonl_parquet_and_duckdb_drop_the_label_and_are_json_safe(tmp_path: Path) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"x": 1, "y": 10}\n\n{"x": 2, "y": 20}\n')
    assert rows_from_jsonl(jsonl, drop=["y"]) == [{"x": 1}, {"x": 2}]

    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": [1.5, float("nan")], "day": [dt.date(2024, 1, 2)] * 2, "y": [0, 1]}), parquet)
    assert rows_from_parquet(parquet, drop=["y"]) == [{"x": 1.5, "day": "2024-01-02"}, {"x": None, "day": "2024-01-02"}]

    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE t AS SELECT 3::DECIMAL(5,2) AS x, TIMESTAMP '2024-01-02 03:04:05' AS at, 7 AS y")
    rows = rows_from_duckdb(db, "SELECT * FROM t", drop=["y"])
    assert rows == [{"x": 3.0, "at": "2024-01-02T03:04:05"}]
    assert isinstance(rows[0]["x"], float) and json.dumps(rows)


def test_replay_stops_at_the_count_and_matches_the_server_window(serving: EndpointServer) -> None:
    lines: list[str] = []
    started = time.time()
    rows = [{"x": 1}, {"x": 2}, {"x": "bad"}, {"x": 13}]
    tally = replay(rows, serving.url, "sales", rate=5000, count=400, seed=1, report=lines.append, report_every_s=0.05)
    assert tally.sent == 400
    assert tally.by_class == {"2xx": 200, "4xx": 100, "5xx": 100}
    assert sum(sum(c.values()) for c in tally.by_variant.values()) == 400
    window = EndpointClient(serving.url).window("sales", started - 1, time.time() + 1)
    for variant, counts in tally.by_variant.items():
        assert window[variant]["requests"] == sum(counts.values())
        assert window[variant]["errors_4xx"] == counts["4xx"]
        assert window[variant]["errors_5xx"] == counts["5xx"]
    assert lines[-1].endswith("(done)") and "sent=400 2xx=200 4xx=100 5xx=100" in lines[-1]
    assert "candidate" in lines[-1] and "champion" in lines[-1]


def test_replay_stops_after_the_duration(serving: EndpointServer) -> None:
    lines: list[str] = []
    tally = replay([{"x": 1}], serving.url, "sales", rate=200, duration_s=0.3, seed=2, report=lines.append)
    assert tally.sent == tally.by_class["2xx"] > 0
    assert lines == [lines[-1]] and lines[-1].endswith("(done)")


def test_replay_counts_an_unreachable_server_as_failed(serving: EndpointServer) -> None:
    url = serving.url
    serving.stop()
    tally = replay([{"x": 1}], url, "sales", rate=1000, count=5, report=lambda line: None)
    assert tally.by_class == {FAILED: 5}


@pytest.mark.parametrize(
    "kwargs, message",
    [({"rate": 0, "count": 1}, "rate must be above 0"), ({"rate": 1}, "must stop by itself")],
)
def test_replay_refuses_an_endless_or_empty_run(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replay([{"x": 1}], "http://127.0.0.1:9", "sales", **kwargs)
    with pytest.raises(ValueError, match="no rows"):
        replay([], "http://127.0.0.1:9", "sales", rate=1, count=1)


def test_traffic_cli_replays_a_jsonl_file(serving: EndpointServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"x": i, "label": i * 2}) for i in range(5)))
    argv = ["traffic", "--jsonl", str(rows), "--drop", "label", "--url", serving.url, "--endpoint", "sales",
            "--count", "25", "--rate", "2000", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "sent=25 2xx=25 4xx=0 5xx=0" in out[-1]
    assert main(["traffic", "--jsonl", str(rows), "--endpoint", "sales"]) == 2
    assert "--count and/or --duration" in capsys.readouterr().err
