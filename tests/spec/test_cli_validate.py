"""`mlprovider validate PATH...` through the CLI entry point."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_a_valid_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SPECS / "good")]) == 0
    assert capsys.readouterr().out == "ok: 2 specs\n"


def test_files_and_folders_with_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, other = tmp_path / "dags", tmp_path / "other"
    shutil.copytree(SPECS / "good", folder)
    shutil.copytree(SPECS / "good", other)
    broken = folder / "broken.model.yaml"
    broken.write_text((folder / "sales.model.yaml").read_text().replace("model: sales", "model: broken\ntrian: {}"))
    bad_file = other / "churn.model.yaml"
    bad_file.write_text(bad_file.read_text().replace("steps: [10, 50, 100]", "steps: [10, 5, 100]"))
    assert main(["validate", str(folder), str(bad_file), str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{broken}:3:1: trian: unknown key 'trian'; did you mean 'train'?",
        f"{bad_file}:28:15: rollout.steps[1]: 5 follows 10: steps must be strictly increasing",
        f"{tmp_path / 'missing'}: no such file or folder",
    ]
