"""The loader file through a real DagBag: every good spec is a DAG, a bad one never hides the others."""

from __future__ import annotations

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
    assert set(bag.dag_ids) == names


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


def test_two_specs_with_one_model_name_name_both_files(dags_folder: Path) -> None:
    first = sorted(dags_folder.glob("*.model.yaml"))[0]
    (dags_folder / "copy.model.yaml").write_text(first.read_text())
    bag = _bag(dags_folder)
    for source in (first, dags_folder / "copy.model.yaml"):
        dag = bag.dags[INVALID_PREFIX + source.name.removesuffix(".model.yaml")]
        assert first.name in dag.doc_md and "copy.model.yaml" in dag.doc_md


def test_other_yaml_in_the_dags_folder_is_ignored(dags_folder: Path) -> None:
    (dags_folder / "profiles.yml").write_text("not: a spec\n")
    (dags_folder / "something.yaml").write_text("model: 3\n")
    bag = _bag(dags_folder)
    assert not [d for d in bag.dag_ids if d.startswith(INVALID_PREFIX)]
