"""Every broken spec in tests/specs/{schema-errors,logic-errors} fails with the message and line its first line records:

    # expect: 7: unknown key 'trian'; did you mean 'train'?     (line '-': the error has no line)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_mlprovider.spec import SpecValidationError, load_spec_file, load_specs

SPECS = Path(__file__).resolve().parents[1] / "specs"
BROKEN = sorted((SPECS / "schema-errors").glob("*.model.yaml")) + sorted((SPECS / "logic-errors").glob("*.model.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+|-): (.+)$")


def _expectation(path: Path) -> tuple[int | None, str]:
    match = _EXPECT.match(path.read_text().splitlines()[0])
    assert match, f"{path} must start with '# expect: LINE: message fragment'"
    line, fragment = match.groups()
    return (None if line == "-" else int(line)), fragment


def test_the_corpus_is_large() -> None:
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: f"{p.parent.name}/{p.name.removesuffix('.model.yaml')}")
def test_broken_spec_reports_its_error(path: Path) -> None:
    line, fragment = _expectation(path)
    with pytest.raises(SpecValidationError) as raised:
        load_spec_file(path, dags_root=SPECS)
    matching = [e for e in raised.value.errors if fragment in str(e)]
    assert matching, f"no error contains {fragment!r}; got:\n{raised.value}"
    assert matching[0].line == line, str(matching[0])
    assert fragment in str(raised.value), "str() of the exception lists every error"


def test_good_specs_load() -> None:
    result = load_specs(SPECS / "good")
    assert result.errors == {}
    assert [spec.model for spec in result.specs] == ["churn", "sales"]
