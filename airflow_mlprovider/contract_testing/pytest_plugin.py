"""pytest plugin (entry point `pytest11`): `pytest --mlprovider-specs dag_specs/` runs every spec's contract checks.

One test item per check per spec (`<spec file>::<model>::<check>`), so CI shows which check of which model failed;
the checks of one spec share one run (a check runs the ones before it once). Without the option the plugin
does nothing. Nothing heavy is imported until a check runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

_RUNS = pytest.StashKey[dict]()
_WORK = pytest.StashKey[tempfile.TemporaryDirectory]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlprovider", "airflow-mlprovider contract tests")
    group.addoption("--mlprovider-specs", action="append", default=[], metavar="PATH",
                    help="a *.model.yaml file or a folder of them: run their contract checks (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    work = config.stash.get(_WORK, None)
    if work is not None:
        work.cleanup()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from airflow_mlprovider.cli.test_models import spec_files

    paths = config.getoption("mlprovider_specs")
    for path in spec_files(paths) if paths else []:
        items.extend(SpecFile.from_parent(session, path=path.resolve()).collect())


class SpecFile(pytest.File):
    """A spec: one item per contract check, or one failing item when the spec itself is invalid."""

    def collect(self) -> list[pytest.Item]:
        from airflow_mlprovider.contract_testing.runner import CHECKS
        from airflow_mlprovider.spec import SpecValidationError, load_spec_file

        try:
            spec = load_spec_file(self.path)
        except SpecValidationError as exc:
            return [InvalidSpecItem.from_parent(self, name="spec", message=str(exc))]
        return [ContractCheckItem.from_parent(self, name=f"{spec.model}::{check}", spec=spec, check=check)
                for check in CHECKS]


class ContractCheckItem(pytest.Item):
    def __init__(self, *, spec: Any, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.check = check

    def runtest(self) -> None:
        from airflow_mlprovider.contract_testing.runner import ContractFailure, ContractRun

        config = self.config
        if _WORK not in config.stash:
            config.stash[_WORK] = tempfile.TemporaryDirectory(prefix="mlprovider-contract-")
        runs = config.stash[_RUNS]
        if self.spec.source not in runs:
            work = Path(config.stash[_WORK].name) / self.spec.model
            work.mkdir(parents=True, exist_ok=True)
            runs[self.spec.source] = ContractRun(self.spec, work)
        result = runs[self.spec.source].check(self.check)
        if not result.passed:
            raise ContractFailure(f"{self.spec.model} {self.check}: {result.message}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from airflow_mlprovider.contract_testing.runner import ContractFailure

        if isinstance(excinfo.value, ContractFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.spec.model}::{self.check}"


class InvalidSpecItem(pytest.Item):
    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def runtest(self) -> None:
        raise AssertionError(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return self.message
