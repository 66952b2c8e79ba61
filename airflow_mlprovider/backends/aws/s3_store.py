"""ArtifactStore on S3 (`s3://bucket/key`), through the amazon provider's S3Hook client.

Every object write is atomic on S3 (a reader sees the old or the new object, never half of one). A folder
is uploaded with its MANIFEST.json last, so a reader that verifies the manifest never trusts a partial folder.
`write_if` uses S3 conditional writes: `If-None-Match: *` to create, `If-Match: <etag>` to replace.

A role without s3:ListBucket gets 403 AccessDenied, not 404, for a key that does not exist (S3 will not tell it
what the bucket holds). Reads treat that 403 as "absent": safe, because every write that relies on absence is
conditional (If-None-Match) and fails if the object exists after all; a read that needs the data raises
FileNotFoundError saying both possibilities.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow_mlprovider.artifacts import MANIFEST, ArtifactExistsError
from airflow_mlprovider.backends.base import Versioned

# S3 answers a lost conditional write with 412 PreconditionFailed, or 409 when two conditional writes overlap.
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden"}  # a missing key, to a caller without s3:ListBucket


def _absent(uri: str) -> str:
    return (
        f"{uri} does not exist (or this AWS connection may not read it: S3 answers 403 for a missing key "
        "when the role lacks s3:ListBucket on the bucket)"
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    """('bucket', 'key') of an s3:// URI; a clear error for anything else."""
    if not uri.startswith("s3://") or len(uri) <= 5 or uri[5] == "/":
        raise ValueError(f"not an S3 URI: {uri!r}; expected s3://bucket/key")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3ArtifactStore:
    """Artifacts and the registry on S3. `aws_conn_id` names the Airflow AWS connection."""

    def __init__(self, aws_conn_id: str = "aws_default") -> None:
        self.aws_conn_id = aws_conn_id

    @cached_property
    def _s3(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def put_file(self, local_path: str, uri: str) -> None:
        bucket, key = split_s3_uri(uri)
        self._s3.upload_file(local_path, bucket, key)  # multipart above 8 MiB; the object appears whole

    def get_file(self, uri: str, local_path: str) -> None:
        bucket, key = split_s3_uri(uri)
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        partial = f"{local_path}.part"
        try:
            self._s3.download_file(bucket, key, partial)
        except self._s3.exceptions.ClientError as error:
            if _error_code(error) in _MISSING | _DENIED:
                raise FileNotFoundError(_absent(uri)) from None
            raise
        os.replace(partial, local_path)

    def put_dir(self, local_dir: str, uri: str) -> None:
        """Write-once: a folder whose MANIFEST.json is there is complete, and is never replaced by other files."""
        root = Path(local_dir)
        uploaded = self.read_versioned(f"{uri.rstrip('/')}/{MANIFEST}").data
        if uploaded is not None:
            if json.loads(uploaded).get("digest") != json.loads((root / MANIFEST).read_text()).get("digest"):
                raise ArtifactExistsError(f"{uri} already holds a different artifact: artifacts are write-once")
            return
        files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: (p.name == MANIFEST, str(p)))
        for path in files:
            self.put_file(str(path), f"{uri.rstrip('/')}/{path.relative_to(root).as_posix()}")

    def get_dir(self, uri: str, local_dir: str) -> None:
        prefix = uri.rstrip("/") + "/"
        objects = self.list(prefix)
        if not objects:
            raise FileNotFoundError(f"{uri} holds no objects")
        for object_uri in objects:
            self.get_file(object_uri, os.path.join(local_dir, object_uri[len(prefix) :]))

    def read_bytes(self, uri: str) -> bytes:
        versioned = self.read_versioned(uri)
        if versioned.data is None:
            raise FileNotFoundError(_absent(uri))
        return versioned.data

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3_uri(uri)
        self._s3.put_object(Bucket=bucket, Key=key, Body=data)

    def exists(self, uri: str) -> bool:
        """True for an object, or for a folder (a prefix holding at least one object)."""
        bucket, key = split_s3_uri(uri)
        if key:
            try:
                self._s3.head_object(Bucket=bucket, Key=key)
                return True
            except self._s3.exceptions.ClientError as error:
                if _error_code(error) not in _MISSING | _DENIED:
                    raise
        try:
            listing = self._s3.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/" if key else "", MaxKeys=1)
        except self._s3.exceptions.ClientError as error:
            if _error_code(error) in _DENIED:
                return False  # no s3:ListBucket: only objects can be seen, and this is none
            raise
        return listing.get("KeyCount", 0) > 0

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of every object under the folder `prefix_uri` (recursively), sorted."""
        bucket, key = split_s3_uri(prefix_uri)
        prefix = key.rstrip("/") + "/" if key else ""
        uris = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            uris.extend(f"s3://{bucket}/{obj['Key']}" for obj in page.get("Contents", []))
        return sorted(uris)

    def read_versioned(self, uri: str) -> Versioned:
        bucket, key = split_s3_uri(uri)
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            if _error_code(error) in _MISSING | _DENIED:
                return Versioned(data=None, version=None)
            raise
        return Versioned(data=response["Body"].read(), version=response["ETag"])

    def write_if(self, uri: str, data: bytes, expected_version: str | None) -> bool:
        bucket, key = split_s3_uri(uri)
        condition = {"IfNoneMatch": "*"} if expected_version is None else {"IfMatch": expected_version}
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, **condition)
        except self._s3.exceptions.ClientError as error:
            code = _error_code(error)
            if code in _LOST_RACE or (expected_version is not None and code in _MISSING):
                return False  # another writer replaced (or deleted) the version we read
            raise
        return True
