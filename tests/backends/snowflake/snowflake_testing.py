"""Helpers of the Snowflake tests: the test connection id and a folder-backed store for extracts."""

from __future__ import annotations

import shutil
from pathlib import Path

CONN_ID = "snowflake_test"


class FolderStore:
    """The one ArtifactStore call an extract makes (put_file), into a local folder keyed by the URI."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local(self, uri: str) -> Path:
        return self.root / uri.split("://", 1)[-1]

    def put_file(self, local_path: str, uri: str) -> None:
        target = self.local(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, target)
