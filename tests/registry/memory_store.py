"""An in-memory ArtifactStore with the protocol's compare-and-swap semantics, for registry tests."""

from __future__ import annotations

import hashlib
import threading

from airflow_mlprovider.backends.base import Versioned


class DictArtifactStore:
    """Objects in a dict; write_if is atomic under a lock and versions are content hashes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def read_bytes(self, uri: str) -> bytes:
        return self.objects[uri]

    def write_bytes(self, uri: str, data: bytes) -> None:
        with self._lock:
            self.objects[uri] = data

    def exists(self, uri: str) -> bool:
        return uri in self.objects

    def list(self, prefix_uri: str) -> list[str]:
        return sorted(k for k in list(self.objects) if k.startswith(prefix_uri))

    def read_versioned(self, uri: str) -> Versioned:
        with self._lock:
            data = self.objects.get(uri)
        return Versioned(data, None if data is None else hashlib.sha256(data).hexdigest())

    def write_if(self, uri: str, data: bytes, expected_version: str | None) -> bool:
        with self._lock:
            current = self.objects.get(uri)
            version = None if current is None else hashlib.sha256(current).hexdigest()
            if version != expected_version:
                return False
            self.objects[uri] = data
            return True
