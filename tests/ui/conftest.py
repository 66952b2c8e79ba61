"""`--models-page-screenshots DIR`: the browser test also saves the Models page's screenshots there (docs/img)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--models-page-screenshots", metavar="DIR", default=None,
                     help="save screenshots of the Models page into DIR (docs/img for the documentation)")
