"""ArtifactStore on a local (or shared, POSIX) folder: file:///abs/path URIs or plain absolute paths.

Every write lands under a hidden `.mlp-` name in the destination's folder and is renamed into place, so a
reader sees the old object or the new one, never half of one. Compare-and-swap (write_if) holds an
exclusive fcntl lock on a lock file beside the object, which serialises writers across processes.

Folders (artifacts) are write-once: put_dir stages a copy and renames it into place in ONE rename, never
moving an existing folder aside, so a writer killed at any instant leaves the complete folder or none. It
refuses to replace a folder holding different files (ArtifactExistsError) and accepts an identical one (a
retried upload). A killed writer's staging copy is removed by the next put_dir to the same place.
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

from airflow_mlprovider.artifacts import ArtifactExistsError, sha256_file
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


def _staged_for(hidden: Path) -> str | None:
    """The destination name of a `_hidden_sibling` path ('.mlp-<kind>-<32 hex>-<name>'), else None."""
    kind_and_rest = hidden.name.removeprefix(INTERNAL_PREFIX)
    _, _, rest = kind_and_rest.partition("-")
    token, dash, name = rest[:32], rest[32:33], rest[33:]
    return name if dash == "-" and len(token) == 32 and all(c in "0123456789abcdef" for c in token) else None


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


def _tree_listing(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}


class FilesystemArtifactStore:
    """The embedded default ArtifactStore (backends.base.ArtifactStore)."""

    def put_file(self, local_path: str, uri: str) -> None:
        _replace_file(path_of(uri), lambda tmp: shutil.copyfile(local_path, tmp))

    def get_file(self, uri: str, local_path: str) -> None:
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._existing(uri), local_path)

    def put_dir(self, local_dir: str, uri: str) -> None:
        """Copy a folder tree to `uri` once: it appears complete or not at all, and is never replaced."""
        dest = path_of(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(dest):  # one writer per folder; the lock dies with its holder
            for leftover in dest.parent.glob(f"{INTERNAL_PREFIX}dir-*"):
                if _staged_for(leftover) == dest.name:  # a killed writer's copy (no live writer: we hold the lock)
                    shutil.rmtree(leftover, ignore_errors=True)
            if not dest.exists():
                staged = _hidden_sibling(dest, "dir")
                try:
                    shutil.copytree(local_dir, staged)
                    os.rename(staged, dest)
                finally:
                    shutil.rmtree(staged, ignore_errors=True)
                return
        if _tree_listing(Path(local_dir)) != _tree_listing(dest):
            raise ArtifactExistsError(f"{uri} already holds a different folder: artifacts are write-once")

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
        """Hold an exclusive lock on a file beside `path`, removed again on release.

        The holder unlinks the lock file before unlocking, so a process that was waiting on that file wakes up
        holding a lock nobody else can see: it checks that its file is still the one at the path, and if not,
        starts over with a fresh file.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(f"{INTERNAL_PREFIX}lock-{path.name}")
        while True:
            lock = open(lock_path, "a")  # noqa: SIM115 - closed below, after the unlink
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if os.fstat(lock.fileno()).st_ino == os.stat(lock_path).st_ino:
                    break
            except FileNotFoundError:
                pass
            lock.close()
        try:
            yield
        finally:
            os.unlink(lock_path)
            lock.close()
