"""Open-ended inputs: durations, and arbitrary YAML documents that must give a ModelSpec or SpecErrors, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_mlprovider.spec import ModelSpec, SpecError, SpecValidationError, load_spec_file
from airflow_mlprovider.spec.errors import DURATION_WORDS
from airflow_mlprovider.spec.loader import spec_validator
from airflow_mlprovider.spec.model import seconds

GOOD = Path(__file__).resolve().parents[1] / "specs" / "good"
SCHEMA_KEYS = list(spec_validator().schema["properties"])
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(st.integers(1, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]))
def test_durations_parse(amount: int, unit: tuple[str, int]) -> None:
    text = f"{amount}{unit[0]}"
    assert spec_validator().is_valid({"model": "m", "default_args": {"retry_delay": text}} | _REQUIRED)
    assert seconds(text) == amount * unit[1]
    assert seconds(amount) == amount


@_SETTINGS
@given(st.text(alphabet="0123456789.smhd x-", max_size=8) | st.integers(-3, 3) | st.floats(-2, 2))
def test_a_duration_either_parses_or_says_what_is_allowed(tmp_path: Path, value: object) -> None:
    folder = tmp_path / "dags"
    if not folder.exists():
        shutil.copytree(GOOD, folder)
    doc = yaml.safe_load((GOOD / "sales.model.yaml").read_text()) | {"train": {"max_runtime": value}}
    (folder / "sales.model.yaml").write_text(yaml.safe_dump(doc))
    outcome = _outcome(folder / "sales.model.yaml")
    if isinstance(outcome, ModelSpec):
        assert outcome.train.max_runtime_s == seconds(value) > 0
    else:
        (error,) = outcome
        assert error.path == "train.max_runtime" and error.message.endswith(f"(allowed: {DURATION_WORDS})")


_REQUIRED = {
    "data": {"sql": "SELECT 1", "split": {"by": "time", "column": "day"}},
    "code": {"module": "m.py", "request_schema": "a.json", "response_schema": "b.json"},
    "evaluate": {"metric": "rmse", "label": "y"},
}

_scalars = st.none() | st.booleans() | st.integers(-5, 500) | st.floats(allow_nan=False, allow_infinity=False) | \
    st.sampled_from(["", "1m", "rmse", "aws", "s3://b/p", "../x", "models/sales.py", "time", "hash", "sagemaker"]) | \
    st.text(max_size=8)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(SCHEMA_KEYS + ["steps", "split", "by", "column", "module", "type", "path"]) | st.text(max_size=5),
    inner, max_size=4), max_leaves=12)


def _outcome(path: Path) -> ModelSpec | list[SpecError]:
    try:
        return load_spec_file(path)
    except SpecValidationError as exc:
        assert exc.errors and all(isinstance(e, SpecError) for e in exc.errors)
        return exc.errors


@_SETTINGS
@given(st.dictionaries(st.sampled_from(SCHEMA_KEYS) | st.text(max_size=6), _values, max_size=6))
def test_random_mappings_never_crash_the_loader(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "random.model.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert isinstance(_outcome(path), (ModelSpec, list))


@_SETTINGS
@given(st.sampled_from(list(_REQUIRED) + ["train", "rollout", "serving", "warehouse"]), _values)
def test_a_good_spec_with_one_section_replaced_never_crashes(tmp_path: Path, section: str, value: object) -> None:
    folder = tmp_path / "dags"
    if not folder.exists():
        shutil.copytree(GOOD, folder)
    doc = yaml.safe_load((GOOD / "churn.model.yaml").read_text())
    doc[section] = value
    path = folder / "churn.model.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert isinstance(_outcome(path), (ModelSpec, list))


@_SETTINGS
@given(st.text(max_size=80))
def test_random_text_never_crashes_the_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "text.model.yaml"
    path.write_text(text, encoding="utf-8")
    assert isinstance(_outcome(path), list)


_sections = st.sampled_from(list(_REQUIRED) + ["train", "rollout", "serving", "warehouse", "promote", "notify", "default_args"])


@_SETTINGS
@given(st.lists(st.tuples(_sections, _values), min_size=1, max_size=3))
def test_the_fast_schema_check_never_accepts_what_jsonschema_rejects(changes: list[tuple[str, object]]) -> None:
    from airflow_mlprovider.spec.loader import _passes_fast_check

    doc = yaml.safe_load((GOOD / "churn.model.yaml").read_text())
    for section, value in changes:
        doc[section] = value
    if _passes_fast_check(doc):
        assert spec_validator().is_valid(doc), list(spec_validator().iter_errors(doc))[:3]


def test_the_fast_schema_check_accepts_the_good_specs() -> None:
    from airflow_mlprovider.spec.loader import _passes_fast_check, _read_source

    for path in GOOD.glob("*.model.yaml"):
        assert _passes_fast_check(_read_source(path, "spec").doc), path  # dates stay text, as the loader reads them
