"""S3ArtifactStore against moto's S3 server through S3Hook's real boto3 client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from airflow_mlprovider.artifacts import write_manifest
from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore, split_s3_uri


@pytest.fixture
def store(aws_standin) -> S3ArtifactStore:
    return S3ArtifactStore()


def test_bytes_round_trip_and_missing_object(store, s3_bucket):
    uri = f"s3://{s3_bucket}/a/b.json"
    assert not store.exists(uri)
    store.write_bytes(uri, b'{"x": 1}')
    assert store.exists(uri)
    assert store.read_bytes(uri) == b'{"x": 1}'
    with pytest.raises(FileNotFoundError, match="does not exist"):
        store.read_bytes(f"s3://{s3_bucket}/a/missing.json")


def test_dir_round_trip_lists_folder_and_keeps_manifest_valid(store, s3_bucket, tmp_path):
    src = tmp_path / "src"
    (src / "model").mkdir(parents=True)
    (src / "model" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (src / "code").mkdir()
    (src / "code" / "m.py").write_text("def load(d):\n    return lambda r: r\n")
    manifest = write_manifest(src)
    uri = f"s3://{s3_bucket}/runs/r1/artifact"

    store.put_dir(str(src), uri)
    store.get_dir(uri, str(tmp_path / "dst"))

    assert store.exists(uri)  # a folder exists when it holds objects
    assert store.list(uri) == [f"{uri}/{name}" for name in ["MANIFEST.json", "code/m.py", "model/weights.bin"]]
    copied = json.loads((tmp_path / "dst" / "MANIFEST.json").read_text())
    assert copied == manifest
    assert (tmp_path / "dst" / "model" / "weights.bin").read_bytes() == b"\x00\x01" * 1000


def test_file_round_trip_and_missing_folder(store, s3_bucket, tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    store.put_file(str(tmp_path / "data.parquet"), f"s3://{s3_bucket}/x/data.parquet")
    store.get_file(f"s3://{s3_bucket}/x/data.parquet", str(tmp_path / "out" / "d.parquet"))
    assert (tmp_path / "out" / "d.parquet").read_bytes() == b"PAR1"
    with pytest.raises(FileNotFoundError):
        store.get_file(f"s3://{s3_bucket}/x/nope.parquet", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="holds no objects"):
        store.get_dir(f"s3://{s3_bucket}/empty", str(tmp_path / "empty"))


def test_write_if_create_then_replace_by_etag(store, s3_bucket):
    uri = f"s3://{s3_bucket}/registry/champion.json"
    assert store.read_versioned(uri).data is None
    assert store.write_if(uri, b"v1", None)
    assert not store.write_if(uri, b"again", None)  # it exists now
    first = store.read_versioned(uri)
    assert first.data == b"v1" and first.version
    assert store.write_if(uri, b"v2", first.version)
    assert not store.write_if(uri, b"stale", first.version)  # v1's ETag is no longer current
    assert store.read_bytes(uri) == b"v2"


@pytest.mark.parametrize("start_exists", [False, True])
def test_concurrent_write_if_from_same_version_has_one_winner(store, s3_bucket, start_exists):
    uri = f"s3://{s3_bucket}/registry/pointer.json"
    if start_exists:
        store.write_bytes(uri, b"base")
    version = store.read_versioned(uri).version
    writers = 8
    barrier = Barrier(writers)

    def race(i: int) -> bool:
        barrier.wait()
        return S3ArtifactStore().write_if(uri, f"writer-{i}".encode(), version)

    with ThreadPoolExecutor(writers) as pool:
        outcomes = list(pool.map(race, range(writers)))

    assert outcomes.count(True) == 1
    winner = outcomes.index(True)
    assert store.read_bytes(uri) == f"writer-{winner}".encode()


@pytest.mark.parametrize("bad", ["file:///tmp/x", "s3://", "s3:///key", "bucket/key"])
def test_non_s3_uri_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="expected s3://bucket/key"):
        split_s3_uri(bad)


def test_missing_keys_without_list_bucket_permission_read_as_absent(aws_standin, store, tmp_path):
    """Without s3:ListBucket S3 answers 403 (not 404) for a missing key: a first run must still work."""
    bucket = aws_standin.new_bucket(list_allowed=False)
    uri = f"s3://{bucket}/registry/champion.json"
    assert store.read_versioned(uri).data is None
    assert not store.exists(uri)
    with pytest.raises(FileNotFoundError, match="lacks s3:ListBucket"):
        store.read_bytes(uri)
    with pytest.raises(FileNotFoundError, match="lacks s3:ListBucket"):
        store.get_file(uri, str(tmp_path / "champion.json"))
    assert store.write_if(uri, b"v1", None)
    assert not store.write_if(uri, b"v1 again", None)  # the conditional write still sees that it exists
    assert store.exists(uri) and store.read_bytes(uri) == b"v1"
