from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_mlprovider.artifacts import ArtifactExistsError, verify_manifest, write_manifest
from airflow_mlprovider.backends.local.filesystem_store import (
    INTERNAL_PREFIX,
    FilesystemArtifactStore,
    path_of,
    version_of,
)


@pytest.fixture
def store() -> FilesystemArtifactStore:
    return FilesystemArtifactStore()


def test_file_uris_and_absolute_paths_name_the_same_object(store, tmp_path: Path) -> None:
    store.write_bytes(f"file://{tmp_path}/a/b.txt", b"hello")
    assert store.read_bytes(str(tmp_path / "a" / "b.txt")) == b"hello"
    assert path_of("file://localhost/x/y%20z") == Path("/x/y z")


def test_relative_paths_and_remote_hosts_are_refused(store) -> None:
    with pytest.raises(ValueError, match="file:///abs/path"):
        store.read_bytes("relative/path")
    with pytest.raises(ValueError, match="must be local"):
        store.read_bytes("file://otherhost/x")


def test_missing_objects_raise_file_not_found_naming_the_uri(store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such artifact"):
        store.read_bytes(f"file://{tmp_path}/nope")
    assert not store.exists(f"file://{tmp_path}/nope")


def test_put_and_get_file_round_trip_leaves_no_temporary_files(store, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(4096))
    store.put_file(str(src), f"file://{tmp_path}/store/deep/obj.bin")
    store.put_file(str(src), f"file://{tmp_path}/store/deep/obj.bin")  # a retry overwrites
    store.get_file(f"file://{tmp_path}/store/deep/obj.bin", str(tmp_path / "out" / "copy.bin"))
    assert (tmp_path / "out" / "copy.bin").read_bytes() == src.read_bytes()
    assert sorted(p.name for p in (tmp_path / "store" / "deep").iterdir()) == ["obj.bin"]


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(INTERNAL_PREFIX))


def test_put_dir_is_write_once_and_accepts_an_identical_retry(store, tmp_path: Path) -> None:
    first = tmp_path / "first"
    (first / "model").mkdir(parents=True)
    (first / "model" / "old.pkl").write_bytes(b"old")
    second = tmp_path / "second"
    (second / "model").mkdir(parents=True)
    (second / "model" / "new.pkl").write_bytes(b"new")
    uri = f"file://{tmp_path}/artifacts/run1"
    store.put_dir(str(first), uri)
    store.put_dir(str(first), uri)  # a retried upload of the same files
    with pytest.raises(ArtifactExistsError, match="write-once"):
        store.put_dir(str(second), uri)
    store.get_dir(uri, str(tmp_path / "copy"))
    assert [p.name for p in (tmp_path / "copy" / "model").iterdir()] == ["old.pkl"]
    assert _visible(tmp_path / "artifacts") == ["run1"]
    assert [p.name for p in (tmp_path / "artifacts").iterdir() if p.name.startswith(f"{INTERNAL_PREFIX}dir")] == []


def test_put_dir_of_a_missing_source_leaves_nothing_visible(store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_dir(str(tmp_path / "missing"), f"file://{tmp_path}/artifacts/run1")
    assert _visible(tmp_path / "artifacts") == []
    assert store.list(f"file://{tmp_path}/artifacts/") == []


# A put_dir in a child process that stops for good at its Nth filesystem step (a folder made, a rename, a
# removal) and says which; the test then kills it with SIGKILL, as a lost worker would be.
PAUSING_PUT_DIR = """
import os, shutil, sys, time
from pathlib import Path
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
marker, stop_at, steps = Path(sys.argv[3]), int(sys.argv[4]), [0]
def pausing(module, name):
    real = getattr(module, name)
    def step(*args, **kwargs):
        steps[0] += 1
        if steps[0] == stop_at:
            marker.write_text(name)
            time.sleep(300)
        return real(*args, **kwargs)
    setattr(module, name, step)
for module, name in ((os, "makedirs"), (os, "rename"), (os, "replace"), (shutil, "rmtree")):
    pausing(module, name)
FilesystemArtifactStore().put_dir(sys.argv[1], sys.argv[2])
marker.write_text("finished")
"""


def _artifact(folder: Path) -> Path:
    for relative, text in (("model/weights.txt", "42"), ("model/deep/more.txt", "7"), ("code/m.py", "x = 1")):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    write_manifest(folder)
    return folder


@pytest.mark.parametrize("already_there", [False, True], ids=["first-upload", "re-upload"])
def test_kill_9_at_any_step_of_put_dir_never_loses_a_complete_artifact(store, tmp_path: Path, already_there) -> None:
    source = _artifact(tmp_path / "source")
    dest = tmp_path / "artifacts" / "a1b2"
    for stop_at in range(1, 50):
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)
        if already_there:
            store.put_dir(str(source), dest.as_uri())
        marker = tmp_path / "marker.txt"
        marker.unlink(missing_ok=True)
        child = subprocess.Popen([sys.executable, "-c", PAUSING_PUT_DIR, str(source), dest.as_uri(), str(marker),
                                  str(stop_at)])
        try:
            for _ in range(600):  # bounded wait for the child to reach its step
                if marker.exists() and marker.read_text():
                    break
                time.sleep(0.05)
            step = marker.read_text()
            child.send_signal(signal.SIGKILL)
            child.wait()
        finally:
            child.kill()
        if dest.exists() or already_there:  # the folder is complete whenever it is visible
            assert verify_manifest(dest), f"killed at {step} (step {stop_at})"
        store.put_dir(str(source), dest.as_uri())  # Airflow's retry
        assert verify_manifest(dest)
        assert _visible(dest.parent) == [dest.name]
        assert not [p for p in dest.parent.iterdir() if p.name.startswith(f"{INTERNAL_PREFIX}dir")], step
        if step == "finished":
            break
    else:
        raise AssertionError("put_dir never finished")


def test_list_has_object_store_prefix_semantics_and_hides_internal_files(store, tmp_path: Path) -> None:
    root = f"file://{tmp_path}/reg"
    for name in ("versions/2024-a.json", "versions/2025-b.json", "versions/x/deep.json", "champion.json"):
        store.write_bytes(f"{root}/{name}", b"{}")
    store.write_if(f"{root}/champion.json", b"[]", version_of(b"{}"))
    assert store.list(f"{root}/versions/") == [
        f"{root}/versions/2024-a.json",
        f"{root}/versions/2025-b.json",
        f"{root}/versions/x/deep.json",
    ]
    assert store.list(f"{root}/versions/2025") == [f"{root}/versions/2025-b.json"]
    assert store.list(f"{root}/") == sorted([*store.list(f"{root}/versions/"), f"{root}/champion.json"])
    assert store.list(f"{root}/nothing/") == []
    assert store.list(str(tmp_path / "reg" / "champion")) == [str(tmp_path / "reg" / "champion.json")]


def test_write_if_creates_only_when_absent_and_swaps_only_from_the_current_version(store, tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/champion.json"
    assert store.read_versioned(uri).data is None
    assert store.write_if(uri, b"v1", None)
    assert not store.write_if(uri, b"again", None)
    current = store.read_versioned(uri)
    assert current.data == b"v1" and current.version == version_of(b"v1")
    assert store.write_if(uri, b"v2", current.version)
    assert not store.write_if(uri, b"v3", current.version)  # stale token
    assert store.read_bytes(uri) == b"v2"


def _race(uri: str, expected: str, payload: bytes, start: multiprocessing.synchronize.Barrier, won) -> None:
    start.wait()
    won.put((payload, FilesystemArtifactStore().write_if(uri, payload, expected)))


@pytest.mark.parametrize("round_", range(5))
def test_two_processes_racing_from_the_same_version_exactly_one_wins(tmp_path: Path, round_: int) -> None:
    uri = f"file://{tmp_path}/champion.json"
    store = FilesystemArtifactStore()
    store.write_bytes(uri, b"base")
    expected = store.read_versioned(uri).version
    mp = multiprocessing.get_context("fork")
    start, results = mp.Barrier(2), mp.Queue()
    racers = [mp.Process(target=_race, args=(uri, expected, f"writer-{i}".encode(), start, results)) for i in (0, 1)]
    for racer in racers:
        racer.start()
    outcomes = dict(results.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join()
    winners = [payload for payload, won in outcomes.items() if won]
    assert len(winners) == 1
    assert store.read_bytes(uri) == winners[0]


def _count_up(uri: str, times: int) -> None:
    store = FilesystemArtifactStore()
    for _ in range(times):
        while True:
            current = store.read_versioned(uri)
            if store.write_if(uri, str(int(current.data) + 1).encode(), current.version):
                break


def test_locks_leave_no_files_and_still_exclude_each_other(tmp_path: Path) -> None:
    """Lock files are removed after use; four processes counting through write_if lose no increment."""
    uri = f"file://{tmp_path}/reg/counter"
    store = FilesystemArtifactStore()
    store.write_bytes(uri, b"0")
    source = tmp_path / "source"
    source.mkdir()
    (source / "weights.bin").write_bytes(b"w")
    store.put_dir(str(source), f"file://{tmp_path}/other/artifact")
    mp = multiprocessing.get_context("fork")
    workers = [mp.Process(target=_count_up, args=(uri, 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert store.read_bytes(uri) == b"200"
    assert [p.name for p in tmp_path.rglob(".mlp-lock-*")] == []
