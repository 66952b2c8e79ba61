from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    """A copy of the example dags folder (specs, models, schemas, defaults, loader file)."""
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    return folder
