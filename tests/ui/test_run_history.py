"""Rollout records (run_history.py): the pure record functions and the store-backed history."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.run_history import RolloutHistory, concluded, error_rate, new_record, with_point

WINDOW = {"champion": {"requests": 200, "errors_5xx": 2, "errors_4xx": 1},
          "candidate": {"requests": 50, "errors_5xx": 5, "errors_4xx": 0}}


def test_a_point_keeps_the_windows_counts_and_nothing_else() -> None:
    record = new_record("m", "manual__1", "v-2", "v-1", "2024-01-01T00:00:00+00:00")
    record = with_point(record, at="t1", weight=10, action="advance", reason="ok",
                        stats={"window": WINDOW, "log_lr": {"5xx": 0.3}})
    [point] = record["points"]
    assert point == {"at": "t1", "weight": 10.0, "action": "advance", "reason": "ok",
                     "champion": WINDOW["champion"], "candidate": WINDOW["candidate"]}
    assert error_rate(point["candidate"]) == pytest.approx(0.1)
    assert error_rate(point["champion"], "errors_4xx") == pytest.approx(0.005)


@pytest.mark.parametrize("stats", [None, {}, {"window": {}}, {"window": {"candidate": {"requests": 1}}}])
def test_an_event_without_counts_gives_a_point_without_counts(stats: dict | None) -> None:
    record = with_point(new_record("m", "r", "c", None, "t0"), at="t1", weight=0, action="rollback", reason="x",
                        stats=stats)
    assert record["points"][0]["candidate"] is None and record["points"][0]["champion"] is None
    assert error_rate(None) is None and error_rate({"requests": 0, "errors_5xx": 0, "errors_4xx": 0}) is None


def test_conclusion_sets_outcome_and_end_and_refuses_unknown_outcomes() -> None:
    record = new_record("m", "r", "c", "p", "t0")
    assert record["outcome"] == "running" and record["finished_at"] is None
    done = concluded(record, "rollback", "t9")
    assert (done["outcome"], done["finished_at"]) == ("rollback", "t9")
    assert record["outcome"] == "running", "records are values: the original is unchanged"
    with pytest.raises(ValueError, match="'advance'"):
        concluded(record, "advance", "t9")


def test_recent_returns_the_newest_runs_first_reading_only_the_last(tmp_path: Path) -> None:
    history = RolloutHistory(FilesystemArtifactStore(), str(tmp_path / "m"))
    runs = {  # run key -> start time: a manual run started late for an early logical date sorts by its date
        "scheduled__2024-01-01T00_00_00_00_00": "2024-01-02T00:00:00+00:00",
        "scheduled__2024-01-03T00_00_00_00_00": "2024-01-04T00:00:00+00:00",
        "manual__2024-01-02T05_00_00_00_00": "2024-01-05T00:00:00+00:00",
    }
    for key, started in runs.items():
        history.save(key, new_record("m", key, "c", "p", started))
    assert history.load("missing") is None
    assert [r["run_id"] for r in history.recent(2)] == [  # the last two logical dates, by start time
        "manual__2024-01-02T05_00_00_00_00", "scheduled__2024-01-03T00_00_00_00_00"]
    assert len(history.recent(10)) == 3 and history.recent(0) == []
    assert history.uri("k") == f"{tmp_path}/m/rollouts/k.json"
