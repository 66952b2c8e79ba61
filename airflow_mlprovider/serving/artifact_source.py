"""Where the endpoint server reads an artifact folder from: a local folder (path or file:// URI), or S3.

A server on its own host shares no disk with the Airflow workers that trained the model: it reads the registry's
s3:// artifact itself. It does so with its host's own AWS credentials (boto3's default chain: an instance
profile, a pod's IRSA role, the service user's ~/.aws), never with an Airflow connection: the server runs model
code, and Airflow's secrets stay with Airflow. That role needs only s3:GetObject and s3:ListBucket on the
artifact root (docs/deploy.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airflow_mlprovider.serving.errors import ServingError


def artifact_path(uri: str) -> Path:
    """The local folder of a file:// URI or a plain path; other schemes are refused."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    raise ServingError(400, f"the local endpoint server loads s3://, file:// URIs or local paths, not {parsed.scheme}://")


def copy_artifact(uri: str, dest: Path) -> None:
    """Copy the artifact folder at `uri` into `dest` (which must not exist yet); 422 when there is none."""
    if urlparse(uri).scheme == "s3":
        _download_s3(uri, dest)
        return
    source = artifact_path(uri)
    if not source.is_dir():
        raise ServingError(422, f"artifact folder {source} does not exist")
    shutil.copytree(source, dest)


def _download_s3(uri: str, dest: Path) -> None:
    import boto3
    import botocore.exceptions

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.strip("/") + "/"
    try:
        s3 = boto3.client("s3")
        keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for obj in page.get("Contents", [])]
        if not keys:
            raise ServingError(422, f"artifact folder {uri} holds no objects")
        dest.mkdir(parents=True)
        for key in keys:
            target = _inside(dest, key[len(prefix):], uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ServingError(422, f"cannot read artifact {uri} with this server's AWS credentials: {_reason(exc)}") from None


def _inside(root: Path, relative: str, uri: str) -> Path:
    """`root / relative`, refusing a key that would land outside the copy (a name with '..' or a leading '/')."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()) or target == root.resolve():
        raise ServingError(422, f"refused artifact {uri}: object name {relative!r} points outside the artifact folder")
    return target


def _reason(exc: Any) -> str:
    error = getattr(exc, "response", {}).get("Error", {})  # a ClientError's code and message; else the exception
    return f"{error.get('Code')}: {error.get('Message')}" if error else f"{type(exc).__name__}: {exc}"
