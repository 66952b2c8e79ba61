"""ArtifactStore on a local (or shared, POSIX) folder: file:///abs/path URIs or plain absolute paths.

Every write lands under a hidden `.mlp-` name in the destination's folder and is renamed into place, so a
reader sees the old object or the new one, never half of one. Compare-and-swap (write_if) holds an
exclusive fcntl lock on a lock file beside the object, which serialises writers across processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from airflow_mlprovider.backends.base import Versioned

# Temporary files/folders and lock files start with this; list() never shows them.
INTERNAL_PREFIX = ".mlp-"


def path_of(uri: str) -> Path:
    """The local path of a file:// URI or an absolute path."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"{uri}: file:// URIs must be local (file:///abs/path), not on host {parsed.netloc!r}")
        return Path(unquote(parsed.path))
    if os.path.isabs(uri):
        return Path(uri)
    raise ValueError(f"{uri!r}: the filesystem store takes file:///abs/path URIs or absolute paths")


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hidden_sibling(path: Path, kind: str) -> Path:
    return path.with_name(f"{INTERNAL_PREFIX}{kind}-{uuid.uuid4().hex}-{path.name}")


def _replace_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write through `write(tmp_path)` to a hidden sibling, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_sibling(path, "tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class FilesystemArtifactStore:
    """The embedded default ArtifactStore (backends.base.ArtifactStore)."""

    def put_file(self, local_path: str, uri: str) -> None:
        _replace_file(path_of(uri), lambda tmp: shutil.copyfile(local_path, tmp))

    def get_file(self, uri: str, local_path: str) -> None:
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._existing(uri), local_path)

    def put_dir(self, local_dir: str, uri: str) -> None:
        """Copy a folder tree to `uri`, replacing what is there; the folder appears complete or not at all."""
        dest = path_of(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staged = _hidden_sibling(dest, "tmp")
        retired = _hidden_sibling(dest, "old")
        try:
            shutil.copytree(local_dir, staged)
            if dest.exists():  # a retried upload: swap the old tree out, the new one in
                os.rename(dest, retired)
            os.rename(staged, dest)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)

    def get_dir(self, uri: str, local_dir: str) -> None:
        src = path_of(uri)
        if not src.is_dir():
            raise FileNotFoundError(f"{uri}: no such artifact folder")
        shutil.copytree(src, local_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(f"{INTERNAL_PREFIX}*"))

    def read_bytes(self, uri: str) -> bytes:
        return self._existing(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> None:
        _replace_file(path_of(uri), lambda tmp: tmp.write_bytes(data))

    def exists(self, uri: str) -> bool:
        return path_of(uri).exists()

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the files whose URI starts with `prefix_uri` (object-store semantics), sorted."""
        prefix = path_of(prefix_uri)
        # 'runs/' lists a folder; 'runs/2024' lists every file whose path starts with that text
        is_folder = prefix_uri.endswith("/")
        root = prefix if is_folder else prefix.parent
        if not root.is_dir():
            return []
        wanted = f"{prefix}/" if is_folder else str(prefix)
        scheme = "file://" if prefix_uri.startswith("file://") else ""
        return sorted(
            f"{scheme}{file}"
            for file in root.rglob("*")
            if str(file).startswith(wanted)
            and not any(part.startswith(INTERNAL_PREFIX) for part in file.relative_to(root).parts)
            and file.is_file()
        )

    def read_versioned(self, uri: str) -> Versioned:
        try:
            data = path_of(uri).read_bytes()
        except FileNotFoundError:
            return Versioned(data=None, version=None)
        return Versioned(data=data, version=version_of(data))

    def write_if(self, uri: str, data: bytes, expected_version: str | None) -> bool:
        path = path_of(uri)
        with self._locked(path):
            if self.read_versioned(uri).version != expected_version:
                return False
            self.write_bytes(uri, data)
            return True

    def _existing(self, uri: str) -> Path:
        path = path_of(uri)
        if not path.is_file():
            raise FileNotFoundError(f"{uri}: no such artifact")
        return path

    @staticmethod
    @contextmanager
    def _locked(path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(f"{INTERNAL_PREFIX}lock-{path.name}")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
