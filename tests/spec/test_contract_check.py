"""The model contract is checked from the module's source, never by importing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlprovider.spec.contract_check import check_model_module

GOOD = """
def preprocess(raw, ctx):
    return raw

def train(train, validation, ctx, *, seed=0):
    pass

def load(artifact_dir, *args):
    return lambda request: request
"""


def _check(tmp_path: Path, source: str) -> list[str]:
    path = tmp_path / "model.py"
    path.write_text(source)
    return [f"{e.line}: {e.message}" for e in check_model_module(path)]


def test_a_conforming_module_is_not_imported(tmp_path: Path) -> None:
    assert _check(tmp_path, "import module_that_does_not_exist\n" + GOOD) == []


@pytest.mark.parametrize(("change", "expected"), [
    (("def load(artifact_dir, *args)", "def load(artifact_dir, version)"),
     "8: load must take 1 positional argument: def load(artifact_dir)"),
    (("def preprocess(raw, ctx)", "def preprocess(*args)"), None),
    (("def train(train, validation, ctx, *, seed=0)", "def train(train, validation, ctx, *, seed)"),
     "5: train must take 3 positional arguments: def train(train, validation, ctx)"),
    (("def preprocess(raw, ctx)", "async def preprocess(raw, ctx)"),
     "2: preprocess is async; the contract needs a plain def preprocess(raw, ctx)"),
    (("def preprocess(raw, ctx)", "def _preprocess(raw, ctx)"),
     "None: the model module has no top-level def preprocess(raw, ctx)"),
    (("    pass", "    pass)"), "6: the model module does not parse: unmatched ')'"),
])
def test_contract_problems(tmp_path: Path, change: tuple[str, str], expected: str | None) -> None:
    assert _check(tmp_path, GOOD.replace(*change)) == ([expected] if expected else [])


def test_an_edited_module_is_checked_again(tmp_path: Path) -> None:
    assert _check(tmp_path, GOOD) == []
    assert _check(tmp_path, GOOD.replace("def load(", "def loader(") + "\n# longer\n") != []
