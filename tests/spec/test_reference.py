"""docs/spec.md is the generator's output, and the generator's example is a valid spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from airflow_mlprovider.spec import load_specs
from airflow_mlprovider.spec.reference import EXAMPLE, render

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "tests" / "specs" / "good"


def test_docs_spec_md_is_generated() -> None:
    assert (ROOT / "docs" / "spec.md").read_text() == render(), (
        "regenerate: python -m airflow_mlprovider.spec.reference > docs/spec.md")


def test_every_schema_field_is_documented() -> None:
    schema = json.loads((ROOT / "airflow_mlprovider" / "spec" / "spec.schema.json").read_text())
    page = render()

    def fields(node: dict, prefix: str):
        for name, sub in node.get("properties", {}).items():
            yield prefix + name
            yield from fields(sub, prefix + name + ".")

    for field in fields(schema, ""):
        assert f"| `{field}` |" in page


def test_the_example_is_a_valid_spec(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(GOOD, folder)
    (folder / "churn.model.yaml").write_text(EXAMPLE)
    result = load_specs(folder)
    assert result.errors == {}
    assert "churn" in [spec.model for spec in result.specs]
