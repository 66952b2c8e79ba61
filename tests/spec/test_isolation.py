"""A hostile spec costs bounded work and stays ONE invalid-spec DAG: a real DagBag parses a dags folder holding
the bad spec beside the good example specs, under Airflow's own 30 s import timeout, in a child process (a
hang there fails the test instead of the session).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_mlprovider.factory.invalid import INVALID_PREFIX
from airflow_mlprovider.spec import load_specs
from airflow_mlprovider.spec.loader import MAX_REPORTED_ERRORS, MAX_YAML_NODES

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"
GOOD_MODELS = {"demand_forecast", "tumor_classifier"}
# the serving example also has its monitoring DAG
GOOD_DAGS = GOOD_MODELS | {"demand_forecast__monitor"}
# A serialized example DAG is ~60 KB; a bad or huge spec must not grow it past this.
MAX_SERIALIZED_BYTES = 200_000

PARSE = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
seconds = time.perf_counter() - started
sizes = {d: len(json.dumps(DagSerialization.to_dict(dag), default=str)) for d, dag in bag.dags.items()}
print(json.dumps({"seconds": seconds, "sizes": sizes, "errors": {k: v[:500] for k, v in bag.import_errors.items()}}))
"""


def _example(model: str) -> str:
    return re.sub(r"^model: \S+", f"model: {model}", (EXAMPLES / "demand_forecast.model.yaml").read_text(), count=1,
                  flags=re.M)


def _alias_bomb() -> str:
    """~1.5 KB in code.params that expands to 9**9 values."""
    lines = ["    a0: &a0 [" + ",".join(['"xxxxxxxx"'] * 9) + "]"]
    lines += [f"    a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return re.sub(r"^  params: \{max_iter.*$", lambda _: "  params:\n" + "\n".join(lines), _example("bomb"),
                  count=1, flags=re.M)


def _unknown_keys() -> str:
    return _example("keys") + "".join(f"unknown_{i}: 1\n" for i in range(16_000))


def _huge() -> str:
    """50 MB: a description nobody would write, in an otherwise valid spec."""
    return _example("huge").replace("description: ", "description: " + "x" * 50_000_000, 1)


def _recursive_alias() -> str:
    return re.sub(r"^  params: \{max_iter.*$", "  params: &p {loop: *p}", _example("loop"), count=1, flags=re.M)


def _long_comments() -> str:
    """A valid spec with 200 KB of comments: still a DAG, whose doc_md shows only the start of the file."""
    return _example("commented") + "".join(f"# {'comment ' * 12}{i}\n" for i in range(2_000))


def _parse_in_child(folder: Path) -> dict:
    env = {**os.environ, "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "30"}
    done = subprocess.run([sys.executable, "-c", PARSE, str(folder)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__", "target", "logs", "*.duckdb*"))
    return folder


@pytest.mark.parametrize(
    ("name", "make", "valid"),
    [
        ("bomb", _alias_bomb, False),
        ("keys", _unknown_keys, False),
        ("huge", _huge, False),
        ("loop", _recursive_alias, False),
        ("commented", _long_comments, True),
    ],
)
def test_a_hostile_spec_is_one_small_dag_and_the_others_still_parse(dags_folder: Path, name, make, valid) -> None:
    (dags_folder / f"{name}.model.yaml").write_text(make())
    parsed = _parse_in_child(dags_folder)
    print(f"{name}: DagBag parsed in {parsed['seconds']:.2f}s")  # the figure, for the log; Airflow enforces 30 s
    assert parsed["errors"] == {}
    dag_id = name if valid else INVALID_PREFIX + name
    # a valid copy of the serving example has its monitoring DAG too
    assert set(parsed["sizes"]) == GOOD_DAGS | {dag_id} | ({f"{name}__monitor"} if valid else set())
    assert max(parsed["sizes"].values()) < MAX_SERIALIZED_BYTES, parsed["sizes"]


def test_errors_are_capped_and_counted(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "dags", ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))
    spec = tmp_path / "dags" / "keys.model.yaml"
    spec.write_text(_example("keys") + "".join(f"unknown_{i}: 1\n" for i in range(5_000)))
    errors = load_specs(tmp_path / "dags").errors[str(spec)]
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert all("unknown key" in e.message and e.line for e in errors[:-1])
    assert errors[-1].message == f"... and {5_000 - MAX_REPORTED_ERRORS:,} more problem(s) not shown"


def test_alias_limits_name_the_problem(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "dags", ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))
    cases = {
        "bomb": (_alias_bomb(), f"at most {MAX_YAML_NODES:,} are allowed"),
        "loop": (_recursive_alias(), "recursive document"),
        "many": (_example("many") + "x: &x 1\n" + "".join(f"y{i}: *x\n" for i in range(150)), "uses of YAML anchors"),
        "huge": (_example("huge") + "#" * 300_000 + "\n", "larger than 256 KB"),
        "deep": (_example("deep") + "x: " + "[" * 80 + "]" * 80 + "\n", "nested more than 64 levels"),
        "text": (_example("text") + f"x: &x {'y' * 100_000}\nz: [*x, *x, *x]\n", "characters with its aliases expanded"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / "dags" / f"{name}.model.yaml").write_text(text)
    result = load_specs(tmp_path / "dags")
    assert {s.model for s in result.specs} == GOOD_MODELS
    for name, (_, message) in cases.items():
        errors = result.errors[str(tmp_path / "dags" / f"{name}.model.yaml")]
        assert len(errors) == 1 and message in errors[0].message, errors


def test_an_unexpected_failure_is_one_invalid_spec(dags_folder: Path) -> None:
    """Whatever a spec makes the checker raise is reported as that spec's error: here a model module whose
    expression is too deep for Python's AST builder (RecursionError), which once took the whole folder down."""
    (dags_folder / "models" / "deep.py").write_text("x = 1" + " + 1" * 100_000 + "\n")
    (dags_folder / "deep.model.yaml").write_text(_example("deep").replace("models/demand_forecast.py", "models/deep.py"))
    parsed = _parse_in_child(dags_folder)
    assert parsed["errors"] == {}
    assert set(parsed["sizes"]) == GOOD_DAGS | {INVALID_PREFIX + "deep"}
