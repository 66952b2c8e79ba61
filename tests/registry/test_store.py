from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion, version_id_for
from tests.registry.memory_store import DictArtifactStore

ROOT = "mem://models/demand"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def make_version(day: int, run: str | None = None, metric_value: float = 1.0) -> ModelVersion:
    end = START + timedelta(days=day)
    run_id = run or f"scheduled__{end.isoformat()}"
    return ModelVersion(
        version_id=version_id_for(run_id, end),
        model="demand",
        run_id=run_id,
        artifact_uri=f"file:///artifacts/demand/runs/{run_id}/model",
        data_interval_start=(end - timedelta(days=1)).isoformat(),
        data_interval_end=end.isoformat(),
        metric="rmse",
        metric_value=metric_value,
        metrics={"rmse": metric_value},
        manifest_digest="m" * 64,
        code_digest="c" * 64,
        created_at=end.isoformat(),
        spec_digest="s" * 64,
    )


@pytest.fixture(params=["memory", "filesystem"])
def backend(request, tmp_path) -> tuple:
    """Each registry test runs on the in-memory CAS store and on the embedded default filesystem store."""
    if request.param == "memory":
        return DictArtifactStore(), ROOT
    return FilesystemArtifactStore(), f"file://{tmp_path}/models/demand"


def test_version_id_is_deterministic_and_sorts_by_data_time() -> None:
    end = datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone.utc)
    assert version_id_for("manual__x", end) == version_id_for("manual__x", end)
    assert version_id_for("manual__x", end).startswith("20240305T060708-")
    assert version_id_for("manual__x", end) != version_id_for("manual__y", end)
    assert version_id_for("r", end) < version_id_for("r", end + timedelta(seconds=1))


def test_register_is_idempotent_and_first_record_wins(backend) -> None:
    registry = ModelRegistry(*backend)
    first = make_version(3)
    assert registry.register(first) == first
    # a retried task builds the record again (e.g. with a new created_at): the stored one stands
    assert registry.register(replace(first, created_at="later")) == first
    assert registry.get(first.version_id) == first
    assert registry.get("missing") is None
    assert registry.versions() == [first]
    store, root = backend
    assert store.list(f"{root}/registry/") == [f"{root}/registry/versions/{first.version_id}.json"]


def test_versions_sorted_by_data_time(backend) -> None:
    registry = ModelRegistry(backend[0], backend[1] + "/")
    versions = [make_version(day) for day in (5, 1, 3)]
    for v in versions:
        registry.register(v)
    assert [v.data_interval_end for v in registry.versions()] == sorted(v.data_interval_end for v in versions)


def test_promote_moves_pointer_and_keeps_history(backend) -> None:
    registry = ModelRegistry(*backend)
    old, new = make_version(1), make_version(2)
    registry.register(old)
    registry.register(new)
    assert registry.champion() is None
    assert registry.promote(old.version_id, "first model").promoted
    outcome = registry.promote(new.version_id, "9 vs 10")
    assert outcome.promoted and outcome.champion == new and outcome.reason == "9 vs 10"
    pointer = registry.champion_pointer()
    assert pointer["version_id"] == new.version_id and pointer["previous"] == old.version_id
    assert pointer["data_interval_end"] == new.data_interval_end and pointer["reason"] == "9 vs 10"
    assert [e["event"] for e in registry.events(new.version_id)] == ["promoted"]
    assert registry.events(new.version_id)[0]["details"] == {"previous": old.version_id}


def test_promoting_the_champion_again_is_a_no_op(backend) -> None:
    registry = ModelRegistry(*backend)
    v = registry.register(make_version(1))
    registry.promote(v.version_id, "first")
    before = registry.champion_pointer()
    outcome = registry.promote(v.version_id, "retry")
    assert outcome.promoted and "already the champion" in outcome.reason
    assert registry.champion_pointer() == before
    assert len(registry.events(v.version_id)) == 1


def test_backfill_is_refused_and_recorded(backend) -> None:
    registry = ModelRegistry(*backend)
    newer, backfill = registry.register(make_version(10)), registry.register(make_version(4, metric_value=0.1))
    registry.promote(newer.version_id, "first")
    outcome = registry.promote(backfill.version_id, "better metric")
    assert not outcome.promoted and outcome.champion == newer and "backfill" in outcome.reason
    assert registry.champion() == newer
    assert [e["event"] for e in registry.events(backfill.version_id)] == ["not_promoted_backfill"]


def test_promote_unknown_version_says_register_first(backend) -> None:
    with pytest.raises(LookupError, match="register\\(\\) it before promoting"):
        ModelRegistry(*backend).promote("nope", "x")


def test_events_keep_order_and_details(backend) -> None:
    registry = ModelRegistry(*backend)
    registry.record("v1", "rejected", "worse", candidate=2.0, champion=1.0)
    registry.record("v1", "rolled_back", "5xx")
    events = registry.events("v1")
    assert [(e["event"], e["reason"]) for e in events] == [("rejected", "worse"), ("rolled_back", "5xx")]
    assert events[0]["details"] == {"candidate": 2.0, "champion": 1.0} and events[0]["version_id"] == "v1"
    assert registry.events("v2") == []


def test_concurrent_promotions_from_threads(backend) -> None:
    """Many registries race to promote versions of different data times: the newest wins, nothing is lost."""
    versions = [make_version(day) for day in range(1, 17)]
    setup = ModelRegistry(*backend)
    for v in versions:
        setup.register(v)

    def promote(v: ModelVersion):
        registry = ModelRegistry(*backend)  # one registry object per writer, sharing only the store
        outcome = registry.promote(v.version_id, f"race {v.version_id}")
        registry.record(v.version_id, "raced", "done")
        return outcome

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(promote, versions))

    assert setup.champion() == versions[-1]
    assert outcomes[-1].promoted
    for v, outcome in zip(versions, outcomes):
        events = [e["event"] for e in setup.events(v.version_id)]
        assert events == ["promoted" if outcome.promoted else "not_promoted_backfill", "raced"]
    # every move of the pointer went forward in data time
    for v, outcome in zip(versions, outcomes):
        previous = setup.events(v.version_id)[0]["details"].get("previous") if outcome.promoted else None
        if previous is not None:
            assert setup.get(previous).data_interval_end <= v.data_interval_end


@settings(max_examples=60, deadline=None)
@given(days=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=12))
def test_pointer_never_moves_backward(days: list[int]) -> None:
    registry = ModelRegistry(DictArtifactStore(), ROOT)
    newest = None
    for i, day in enumerate(days):
        v = registry.register(make_version(day, run=f"run-{i}"))
        outcome = registry.promote(v.version_id, "metric better")
        newest = max(newest or v.data_interval_end, v.data_interval_end)
        assert outcome.promoted == (v.data_interval_end >= newest)
        assert registry.champion().data_interval_end == newest


def _promote_in_process(root: str, version_id: str, events: int) -> bool:
    registry = ModelRegistry(FilesystemArtifactStore(), root)
    for i in range(events):
        registry.record("shared", "raced", f"{version_id} #{i}")
    return registry.promote(version_id, f"race {version_id}").promoted


def test_concurrent_promotions_from_processes(tmp_path) -> None:
    """Separate processes share only the folder: the newest-data version ends as champion, no event is lost."""
    root = f"file://{tmp_path}/models/demand"
    registry = ModelRegistry(FilesystemArtifactStore(), root)
    versions = [registry.register(make_version(day)) for day in (3, 9, 1, 7, 5, 8, 2, 6)]
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        promoted = list(pool.map(_promote_in_process, [root] * len(versions), [v.version_id for v in versions],
                                 [5] * len(versions)))
    assert registry.champion().data_interval_end == max(v.data_interval_end for v in versions)
    assert len(registry.events("shared")) == 5 * len(versions)
    for v, was_promoted in zip(versions, promoted):
        events = [e["event"] for e in registry.events(v.version_id)]
        assert events == ["promoted" if was_promoted else "not_promoted_backfill"]


def test_registering_a_version_again_with_another_artifact_is_refused(backend) -> None:
    from airflow_mlprovider.registry import VersionConflictError

    registry = ModelRegistry(*backend)
    first = make_version(3)
    registry.register(first)
    retrained = replace(first, artifact_uri=first.artifact_uri + "-again", manifest_digest="n" * 64)
    with pytest.raises(VersionConflictError, match="never changes") as refused:
        registry.register(retrained)
    assert "m" * 64 in str(refused.value) and "n" * 64 in str(refused.value)
    assert registry.get(first.version_id) == first


# promote() in a child process that stops for good right after its champion compare-and-swap succeeded
KILLED_AFTER_SWAP = """
import sys, time
from pathlib import Path
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.registry.store import ModelRegistry

class StopAfterSwap(FilesystemArtifactStore):
    def write_if(self, uri, data, expected_version):
        written = super().write_if(uri, data, expected_version)
        if written and uri.endswith("/champion.json"):
            Path(sys.argv[3]).write_text("swapped")
            time.sleep(300)
        return written

ModelRegistry(StopAfterSwap(), sys.argv[1]).promote(sys.argv[2], "beats the champion")
"""


def test_a_kill_9_after_the_champion_swap_does_not_lose_the_promoted_event(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = f"file://{tmp_path}/models/demand"
    registry = ModelRegistry(FilesystemArtifactStore(), root)
    old, new = make_version(1), make_version(2)
    for version in (old, new):
        registry.register(version)
    registry.promote(old.version_id, "first model")
    marker = tmp_path / "swapped"
    child = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_SWAP, root, new.version_id, str(marker)])
    try:
        for _ in range(600):  # bounded wait for the child to reach the swap
            if marker.exists():
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    assert registry.champion_pointer()["version_id"] == new.version_id
    assert registry.events(new.version_id) == []  # the kill landed between the swap and the event
    outcome = registry.promote(new.version_id, "beats the champion")  # Airflow's retry
    assert outcome.promoted
    events = registry.events(new.version_id)
    assert [(e["event"], e["reason"], e["details"]) for e in events] == [
        ("promoted", "beats the champion", {"previous": old.version_id})
    ]
    registry.promote(new.version_id, "beats the champion")  # another retry records nothing twice
    assert len(registry.events(new.version_id)) == 1


def test_a_later_promotion_recovers_a_lost_promoted_event_too(backend) -> None:
    """Without a retry of the killed task, the next promotion (of any version) writes the missing event."""
    store, root = backend
    registry = ModelRegistry(store, root)
    old, new = make_version(1), make_version(2)
    for version in (old, new):
        registry.register(version)
    pointer = {"version_id": old.version_id, "data_interval_end": old.data_interval_end,
               "promoted_at": "2024-01-02T03:04:05.123456+00:00", "reason": "first model", "previous": None}
    store.write_if(registry.champion_uri, json.dumps(pointer).encode(), None)  # a swap whose writer then died
    registry.promote(new.version_id, "better")
    assert [e["event"] for e in registry.events(old.version_id)] == ["promoted"]
    assert [e["event"] for e in registry.events(new.version_id)] == ["promoted"]
