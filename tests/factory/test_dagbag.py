"""The loader file through a real DagBag: every good spec is a DAG, a bad one never hides the others."""

from __future__ import annotations

import os
import re
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from airflow_mlprovider.factory.invalid import INVALID_PREFIX


def _bag(folder: Path) -> DagBag:
    return DagBag(dag_folder=str(folder), safe_mode=True)


def _model_names(folder: Path) -> set[str]:
    return {re.search(r"^model:\s*(\S+)", p.read_text(), re.M).group(1) for p in folder.glob("*.model.yaml")}


def test_one_dag_per_example_spec(dags_folder: Path) -> None:
    bag = _bag(dags_folder)
    assert bag.import_errors == {}
    names = _model_names(dags_folder)
    assert len(names) >= 2
    monitors = {d for d in bag.dag_ids if d.endswith("__monitor")}  # one per serving spec
    assert set(bag.dag_ids) - monitors == names
    assert {d.removesuffix("__monitor") for d in monitors} <= names and monitors


def test_a_bad_spec_does_not_hide_the_good_ones(dags_folder: Path) -> None:
    good = _model_names(dags_folder)
    spec = next(dags_folder.glob("*.model.yaml")).read_text()
    (dags_folder / "broken.model.yaml").write_text(re.sub(r"^model:.*$", "model: broken_model\ntrian: {}", spec, count=1, flags=re.M))
    (dags_folder / "not_yaml.model.yaml").write_text("model: [unclosed\n")
    bag = _bag(dags_folder)
    assert bag.import_errors == {}
    assert good <= set(bag.dag_ids)
    assert "broken_model" not in bag.dag_ids
    broken = bag.dags[INVALID_PREFIX + "broken"]
    assert "broken.model.yaml" in broken.doc_md
    assert "did you mean 'train'" in broken.doc_md
    assert "invalid-spec" in broken.tags
    assert broken.dag_display_name.startswith("INVALID SPEC broken.model.yaml")
    not_yaml = bag.dags[INVALID_PREFIX + "not_yaml"]
    assert re.search(r"not_yaml\.model\.yaml:\d+:\d+: .*YAML syntax error", not_yaml.doc_md)


def test_a_copy_with_the_same_model_name_does_not_take_the_existing_dag_down(dags_folder: Path) -> None:
    first = sorted(dags_folder.glob("*.model.yaml"))[0]
    model = re.search(r"^model:\s*(\S+)", first.read_text(), re.M).group(1)
    copy = dags_folder / "copy.model.yaml"
    copy.write_text(first.read_text())
    os.utime(copy, ns=(first.stat().st_mtime_ns + 10**9,) * 2)  # dropped in after the production spec
    bag = _bag(dags_folder)
    assert bag.import_errors == {}
    assert bag.dags[model].fileloc and model in bag.dag_ids, "the DAG that already existed stays"
    assert INVALID_PREFIX + first.name.removesuffix(".model.yaml") not in bag.dag_ids
    newcomer = bag.dags[INVALID_PREFIX + "copy"]
    assert first.name in newcomer.doc_md and "copy.model.yaml" in newcomer.doc_md


def test_other_yaml_in_the_dags_folder_is_ignored(dags_folder: Path) -> None:
    (dags_folder / "profiles.yml").write_text("not: a spec\n")
    (dags_folder / "something.yaml").write_text("model: 3\n")
    bag = _bag(dags_folder)
    assert not [d for d in bag.dag_ids if d.startswith(INVALID_PREFIX)]
