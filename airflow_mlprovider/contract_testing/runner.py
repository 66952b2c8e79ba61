"""The contract checks of one spec, each a named step that runs what it needs first (docs/contract-tests.md).

    schemas             the request schema compiles; evaluate.prediction_field is a required response property
    preprocess          preprocess(sample) returns a DataFrame with the label and the split column
    train               train(train, validation, ctx) on a small sample writes artifacts
    load                load(dir) returns predict; load_batch(dir), when defined, returns predict_batch
    real_rows           the preprocessed rows (label removed) fit the request schema; predict() answers them
                        with valid responses holding the prediction field; predict_batch agrees
    generated_requests  predict() answers requests generated from the request schema (hypothesis-jsonschema)
                        with valid responses, without exceptions, within contract_test.max_latency_ms
    round_trip          the artifacts loaded again, in a fresh Python process, predict the same

A failure names the function, the (shrunk) input and the schema path of the violation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_mlprovider.spec.model import ModelSpec

CHECKS = ("schemas", "preprocess", "train", "load", "real_rows", "generated_requests", "round_trip")
#: rows of the real sample sent through predict() one by one (all of them go through predict_batch)
REQUEST_ROWS = 20
#: the share of the sample's rows trained on; the rest is the validation set train() is given
TRAIN_SHARE = 0.8
#: round_trip: the fresh process gets this long (it imports pandas and the model's libraries)
ROUND_TRIP_TIMEOUT_S = 120
#: a generated request over the latency budget is timed again up to this many times (its fastest time counts)
LATENCY_RETRIES = 3
#: a shown input is cut to this many characters
MAX_SHOWN = 2000


class ContractFailure(AssertionError):
    """A check failed: the message names the function, the input and the violation."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


@dataclass
class SpecReport:
    spec: str
    model: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def text(self) -> str:
        lines = []
        for r in self.results:
            verdict = "ok  " if r.passed else "FAIL"
            lines.append(f"{verdict} {self.model} {r.name} ({r.seconds:.1f}s)" + (f": {r.message}" if r.message else ""))
        return "\n".join(lines)


def shown(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def response_violation(response: Any, validator: Any, prediction_field: str) -> str | None:
    """Why a response breaks the contract (with the schema path), or None."""
    from jsonschema.exceptions import best_match

    if not isinstance(response, dict):
        return f"returned {type(response).__name__}, not a JSON object"
    error = best_match(validator.iter_errors(response))
    if error is not None:
        schema_path = "/".join(map(str, error.absolute_schema_path))
        return f"response {shown(response)} breaks the response schema at {error.json_path} " \
               f"(schema #/{schema_path}): {error.message}"
    if prediction_field not in response:
        return f"response {shown(response)} has no {prediction_field!r} field (evaluate.prediction_field)"
    return None


class ContractRun:
    """The checks of one spec, run lazily in order: a check runs the ones before it once, and fails if they did."""

    def __init__(self, spec: ModelSpec, work_dir: str | Path) -> None:
        self.spec = spec
        self.work = Path(work_dir)
        self.results: dict[str, CheckResult] = {}
        self.state: dict[str, Any] = {}

    # ------------------------------------------------------------------ driving

    def check(self, name: str) -> CheckResult:
        """Run check `name` (and, once, every check before it); its result."""
        if name not in CHECKS:
            raise ValueError(f"unknown check {name!r}: one of {', '.join(CHECKS)}")
        for earlier in CHECKS[: CHECKS.index(name)]:
            if earlier not in self.results:
                self._run(earlier)
            if not self.results[earlier].passed:
                return self.results.setdefault(
                    name, CheckResult(name, False, f"not run: the {earlier} check failed"))
        if name not in self.results:
            self._run(name)
        return self.results[name]

    def run_all(self) -> SpecReport:
        return SpecReport(self.spec.source, self.spec.model, [self.check(name) for name in CHECKS])

    def _run(self, name: str) -> None:
        started = time.monotonic()
        try:
            getattr(self, f"_{name}")()
            result = CheckResult(name, True)
        except ContractFailure as exc:
            result = CheckResult(name, False, str(exc))
        except Exception as exc:  # noqa: BLE001 - the model's own code raised: report it, do not crash the runner
            result = CheckResult(name, False, f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        self.results[name] = result

    # ------------------------------------------------------------------ helpers

    def _module(self) -> Any:
        if "module" not in self.state:
            from airflow_mlprovider.artifacts import import_module_from_path

            self.state["module"] = import_module_from_path(self.spec.code.module)
        return self.state["module"]

    def _context(self, artifact_dir: Path) -> Any:
        from airflow_mlprovider.contract import ModelContext

        end = datetime.now(timezone.utc).replace(microsecond=0)
        return ModelContext(
            model=self.spec.model, artifact_dir=str(artifact_dir),
            params={**self.spec.code.params, **self.spec.contract_test.params},
            data_interval_start=(end - timedelta(days=1)).isoformat(), data_interval_end=end.isoformat(),
            run_key="contract_test",
        )

    def _call(self, function: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            raise ContractFailure(f"{function} raised {type(exc).__name__}: {exc}") from exc

    def _raw_rows(self) -> Any:
        """The spec's sample, else its SQL on the warehouse for an interval ending now."""
        settings = self.spec.contract_test
        if settings.sample is not None:
            from airflow_mlprovider.contract_testing.sample import read_sample

            return read_sample(settings.sample, settings.rows)
        import pandas as pd

        from airflow_mlprovider import sql_template
        from airflow_mlprovider.backends import artifact_store, warehouse_for

        end = datetime.now(timezone.utc)
        start = end - timedelta(days=1)
        warehouse = warehouse_for(self.spec)
        sql, params = sql_template.render(self.spec.data.sql, {
            "data_interval_start": start, "data_interval_end": end, "ds": start.date(),
            "params": dict(self.spec.data.params), "model": self.spec.model}, warehouse.placeholder)
        out = self.work / "extract.parquet"
        warehouse.extract(sql, params, out.as_uri(), artifact_store(out.as_uri()))
        return pd.read_parquet(out).head(settings.rows)

    # ------------------------------------------------------------------ the checks

    def _schemas(self) -> None:
        import jsonschema

        from airflow_mlprovider.spec.contract_check import prediction_field_problem

        schemas = {}
        for kind in ("request_schema", "response_schema"):
            path = getattr(self.spec.code, kind)
            schema = json.loads(Path(path).read_text())
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ContractFailure(f"{path} is not a valid JSON Schema: {exc.message}") from None
            schemas[kind] = cls(schema, format_checker=cls.FORMAT_CHECKER)
        problem = prediction_field_problem(
            schemas["response_schema"].schema, self.spec.evaluate.prediction_field, self.spec.code.response_schema)
        if problem:
            raise ContractFailure(f"evaluate.prediction_field: {problem}")
        self.state["request_validator"] = schemas["request_schema"]
        self.state["response_validator"] = schemas["response_schema"]

    def _preprocess(self) -> None:
        import pandas as pd

        raw = self._raw_rows()
        if raw.empty:
            source = self.spec.contract_test.sample or "the SQL on the warehouse"
            raise ContractFailure(f"no rows to preprocess from {source}")
        module = self._module()
        (self.work / "preprocess").mkdir(parents=True, exist_ok=True)
        rows = self._call("preprocess(raw, ctx)", lambda: module.preprocess(raw, self._context(self.work / "preprocess")))
        if not isinstance(rows, pd.DataFrame):
            raise ContractFailure(f"preprocess(raw, ctx) returned {type(rows).__name__}, not a DataFrame")
        needed = {self.spec.evaluate.label: "evaluate.label", self.spec.data.split.column: "data.split.column"}
        for column, key in needed.items():
            if column not in rows.columns:
                raise ContractFailure(
                    f"preprocess(raw, ctx) returned no {column!r} column ({key}); columns: {', '.join(map(str, rows.columns))}")
        if len(rows) < 2:
            raise ContractFailure(f"preprocess(raw, ctx) kept {len(rows)} of {len(raw)} rows: too few to train on")
        self.state["rows"] = rows.reset_index(drop=True)

    def _train(self) -> None:
        rows = self.state["rows"]
        split = self.spec.data.split
        ordered = rows.sort_values(split.column, kind="stable") if split.by == "time" else rows
        cut = max(1, int(len(ordered) * TRAIN_SHARE))
        train, validation = ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
        artifacts = self.work / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        module = self._module()
        self._call("train(train, validation, ctx)", lambda: module.train(train, validation, self._context(artifacts)))
        if not any(artifacts.iterdir()):
            raise ContractFailure(f"train(train, validation, ctx) wrote nothing into ctx.artifact_dir ({artifacts})")
        self.state["artifacts"] = artifacts

    def _load(self) -> None:
        module = self._module()
        artifacts = str(self.state["artifacts"])
        predict = self._call("load(artifact_dir)", lambda: module.load(artifacts))
        if not callable(predict):
            raise ContractFailure(f"load(artifact_dir) returned {type(predict).__name__}, not predict(request)")
        batch = getattr(module, "load_batch", None)
        predict_batch = None
        if callable(batch):
            predict_batch = self._call("load_batch(artifact_dir)", lambda: batch(artifacts))
            if not callable(predict_batch):
                raise ContractFailure(
                    f"load_batch(artifact_dir) returned {type(predict_batch).__name__}, not predict_batch(frame)")
        self.state["predict"], self.state["predict_batch"] = predict, predict_batch

    def _real_rows(self) -> None:
        from airflow_mlprovider.contract_testing.sample import request_violations
        from airflow_mlprovider.evaluation.predictions import LoadedModel, requests_of, sample_positions, score_model

        rows, label = self.state["rows"], self.spec.evaluate.label
        rejected = list(request_violations(rows, label, self.state["request_validator"]))
        if rejected:
            position, where, message = rejected[0]
            request = requests_of(rows.drop(columns=[label]).iloc[[position]])[0]
            raise ContractFailure(
                f"{len(rejected)} of {len(rows)} preprocessed rows do not fit the request schema "
                f"{self.spec.code.request_schema}; row {position} {shown(request)} at {where}: {message}")
        features = rows.drop(columns=[label])
        positions = sample_positions(len(rows), REQUEST_ROWS)
        model = LoadedModel(self.state["predict"], self.state["predict_batch"])
        answers = score_model(
            model, features, self.state["response_validator"], self.spec.evaluate.prediction_field, positions)
        if answers.violations:
            raise ContractFailure(
                f"predict(request) on the real rows: {answers.violations} responses break the contract: "
                + "; ".join(answers.messages))
        requests = requests_of(features.iloc[positions])
        self.state["requests"] = requests
        self.state["responses"] = [self.state["predict"](r) for r in requests]

    def _generated_requests(self) -> None:
        from hypothesis import HealthCheck, given, settings
        from hypothesis.errors import Flaky

        from airflow_mlprovider.contract_testing.generated_requests import request_strategy

        settings_ = self.spec.contract_test
        predict = self.state["predict"]
        validator = self.state["response_validator"]
        field_name = self.spec.evaluate.prediction_field
        budget_s = settings_.max_latency_ms / 1000

        slowest: list[tuple[float, dict[str, Any]]] = []  # the slowest request: timed again after the run

        @settings(max_examples=settings_.examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False)
        @given(request_strategy(self.state["request_validator"].schema))
        def answers_every_request(request: dict[str, Any]) -> None:
            started = time.perf_counter()
            try:
                response = predict(request)
            except Exception as exc:
                raise ContractFailure(f"predict({shown(request)}) raised {type(exc).__name__}: {exc}") from None
            elapsed = time.perf_counter() - started
            problem = response_violation(response, validator, field_name)
            if problem:
                raise ContractFailure(f"predict({shown(request)}): {problem}")
            if not slowest or elapsed > slowest[0][0]:
                slowest[:] = [(elapsed, request)]

        predict(self.state["requests"][0])  # warm-up: the first call may load lazily, it is not the latency
        try:
            answers_every_request()
        except Flaky as exc:  # a failure that did not repeat: show what failed the first time
            first = getattr(exc, "exceptions", [exc])[0]
            raise ContractFailure(f"predict() failed on a generated request, but not when it was repeated: {first}") \
                from None
        if not slowest or slowest[0][0] <= budget_s:
            return
        elapsed, request = slowest[0]
        for _ in range(LATENCY_RETRIES):  # a busy machine's one slow call is not the model's latency
            started = time.perf_counter()
            predict(request)
            elapsed = min(elapsed, time.perf_counter() - started)
        if elapsed > budget_s:
            raise ContractFailure(
                f"predict({shown(request)}) took {elapsed * 1000:.0f} ms (its fastest of {LATENCY_RETRIES + 1} calls), "
                f"over contract_test.max_latency_ms ({settings_.max_latency_ms:g})")

    def _round_trip(self) -> None:
        from airflow_mlprovider.contract_testing.fresh_load import plain
        from airflow_mlprovider.evaluation.predictions import agree

        field_name = self.spec.evaluate.prediction_field
        payload = self.work / "round_trip.json"
        payload.write_text(json.dumps({"module": self.spec.code.module, "artifacts": str(self.state["artifacts"]),
                                       "requests": self.state["requests"]}))
        completed = subprocess.run(
            [sys.executable, "-m", "airflow_mlprovider.contract_testing.fresh_load", str(payload)],
            capture_output=True, text=True, timeout=ROUND_TRIP_TIMEOUT_S, check=False,
        )
        if completed.returncode != 0:
            raise ContractFailure(f"load(artifact_dir) in a fresh process failed: {completed.stderr.strip()[-MAX_SHOWN:]}")
        fresh = json.loads(completed.stdout)
        for request, before, after in zip(self.state["requests"], self.state["responses"], fresh):
            if not agree(json.loads(json.dumps(before[field_name], default=plain)), after[field_name]):
                raise ContractFailure(
                    f"predict({shown(request)}) answered {shown(before[field_name])} before and "
                    f"{shown(after[field_name])} after the artifacts were loaded in a fresh process")


def run_spec(path: str | Path, *, work_dir: str | Path | None = None, dags_root: str | Path | None = None,
             defaults_file: str | Path | None = None) -> SpecReport:
    """Load the spec (validated as the factory loads it) and run every check; a report, never an exception."""
    from airflow_mlprovider.spec import SpecValidationError, load_spec_file

    try:
        spec = load_spec_file(path, dags_root=dags_root, defaults_file=defaults_file)
    except SpecValidationError as exc:
        return SpecReport(str(path), Path(path).name, [CheckResult("spec", False, str(exc))])
    if work_dir is not None:
        return ContractRun(spec, work_dir).run_all()
    with tempfile.TemporaryDirectory(prefix=f"mlprovider-test-{spec.model}-") as tmp:
        return ContractRun(spec, tmp).run_all()
