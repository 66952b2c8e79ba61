"""`mlprovider validate FILE` checks FILE against the other specs of its folder for a duplicate model name."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_a_newer_copy_with_the_same_model_fails_and_names_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(SPECS / "good", folder)
    original = folder / "sales.model.yaml"
    copy = folder / "sales_v2.model.yaml"
    copy.write_text(original.read_text().replace("description:", "description: v2 -"))
    os.utime(copy, ns=(original.stat().st_mtime_ns + 10**9,) * 2)

    assert main(["validate", str(copy)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{copy}:") and f"model 'sales' is already defined in {original}, whose DAG stays" in line

    assert main(["validate", str(original)]) == 0, "the older spec keeps its DAG: validating it passes"
    assert capsys.readouterr().out == "ok: 1 specs\n"


def test_a_unique_model_name_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SPECS / "good" / "churn.model.yaml")]) == 0
    assert capsys.readouterr().out == "ok: 1 specs\n"
