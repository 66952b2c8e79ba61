"""The rows a contract test starts from: the spec's sample file, else the warehouse query; and their requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_mlprovider.spec.errors import SpecError
from airflow_mlprovider.spec.model import ModelSpec

#: rows of a sample rejected by the request schema that `validate` reports (the count is always given)
MAX_REPORTED_ROWS = 3


def read_sample(path: str | Path, rows: int) -> Any:
    """At most `rows` rows of a CSV, Parquet or JSON-lines file, as a DataFrame."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, nrows=rows)
    if suffix == ".parquet":
        return pd.read_parquet(path).head(rows)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pd.read_json(path, lines=True, nrows=rows)
    raise ValueError(f"{path}: a sample must be .csv, .parquet or .jsonl (JSON lines), not {suffix or 'no suffix'}")


def file_line(path: str | Path, position: int) -> int | None:
    """The line of row `position` in a sample file (CSV: after the header; JSON lines: one a line)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return position + 2
    if suffix in (".jsonl", ".ndjson", ".json"):
        return position + 1
    return None


def request_violations(rows: Any, label: str, validator: Any) -> Iterator[tuple[int, str, str]]:
    """(row position, schema path, message) of each row whose request (the row without the label) the schema rejects."""
    from jsonschema.exceptions import best_match

    from airflow_mlprovider.evaluation.predictions import requests_of

    features = rows.drop(columns=[label]) if label in rows.columns else rows
    for position, request in enumerate(requests_of(features)):
        error = best_match(validator.iter_errors(request))
        if error is not None:
            yield position, error.json_path, error.message


def request_schema_validator(spec: ModelSpec) -> Any:
    import json

    import jsonschema

    schema = json.loads(Path(spec.code.request_schema).read_text())
    return jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())


def sample_problems(spec: ModelSpec) -> list[SpecError]:
    """The static part of the contract on data: the sample's rows, label removed, must fit the request schema.

    (The contract test checks the rows preprocess returns; a sample is rows as the SQL returns them, which a
    model usually sends as they are, `id` and all.)
    """
    sample = spec.contract_test.sample
    if sample is None:
        return []
    try:
        rows = read_sample(sample, spec.contract_test.rows)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one problem of this spec
        return [SpecError(sample, None, None, "contract_test.sample", f"cannot read the sample: {exc}")]
    violations = list(request_violations(rows, spec.evaluate.label, request_schema_validator(spec)))
    problems = [
        SpecError(sample, file_line(sample, position), None, "contract_test.sample",
                  f"row {position}: the request schema {spec.code.request_schema} rejects it at {where}: {message}")
        for position, where, message in violations[:MAX_REPORTED_ROWS]
    ]
    if len(violations) > MAX_REPORTED_ROWS:
        problems.append(SpecError(sample, None, None, "contract_test.sample",
                                  f"... {len(violations)} of {len(rows)} rows are rejected by the request schema"))
    return problems
