"""`mlprovider new NAME`: scaffold a model — a spec, a model module, its request/response schemas and a test.

It asks the model's questions (task type, label, key and time columns, split, metric and direction, promotion
rule, resources, max runtime, schedule, platform, serving) when stdin is a terminal, each with a default;
every question has a flag, and without a terminal the flags and defaults are used as they are. The files are
valid as written (`mlprovider validate` passes): the user replaces the SQL and the model.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from airflow_mlprovider.spec.model import BUILTIN_METRIC_DIRECTIONS

TASKS = ("regression", "binary", "multiclass")
SPLITS = ("time", "key")
PLATFORMS = ("local", "aws")
DEFAULT_METRIC = {"regression": "rmse", "binary": "roc_auc", "multiclass": "f1_macro"}
TASK_METRICS = {
    "regression": ("rmse", "mae", "mape", "r2"),
    "binary": ("roc_auc", "log_loss", "accuracy", "f1", "f1_macro", "f1_weighted"),
    "multiclass": ("f1_macro", "f1_weighted", "accuracy", "log_loss", "roc_auc"),
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_DURATION = re.compile(r"[0-9]+(\.[0-9]+)?[smhd]")
_PROMOTION_TERMS = {
    "min_improvement": "min_relative_improvement", "min_absolute": "min_absolute_improvement",
    "confidence": "confidence", "min_test_rows": "min_test_rows", "first_model": "first_model_threshold",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model name: lower case letters, digits and _, starting with a letter")
    parser.add_argument("--dir", "--specs", dest="dir", default="dag_specs", help="the specs (dags) folder")
    parser.add_argument("--task", choices=TASKS, help="what the model predicts (default regression)")
    parser.add_argument("--table", help="the warehouse table the SQL reads (default: the model name)")
    parser.add_argument("--label", help="the column to predict (default target)")
    parser.add_argument("--key-column", help="the column identifying a row (default id)")
    parser.add_argument("--time-column", help="the column holding the row's time (default: none)")
    parser.add_argument("--split", choices=SPLITS, help="test set: the latest rows (time) or a stable hash of the key "
                        "(default: time with a time column, else key)")
    parser.add_argument("--test-fraction", type=float, help="share of the rows held out for the test set (default 0.2)")
    parser.add_argument("--metric", help="the metric that decides promotion (default: rmse, roc_auc or f1_macro by task)")
    parser.add_argument("--direction", choices=("maximize", "minimize"), help="default: the metric's own")
    parser.add_argument("--promotion", help="rule against the champion: 'better', or terms like 'min_improvement:0.01', "
                        "'min_absolute:0.5', 'confidence:0.95', 'min_test_rows:500', 'on_tie:promote' joined by "
                        "commas (default min_improvement:0.01)")
    parser.add_argument("--cpus", type=int, help="vCPUs for training (default 2)")
    parser.add_argument("--memory", type=float, help="memory for training in GB (default 4)")
    parser.add_argument("--max-runtime", help="training is killed after this, e.g. 30m (default 30m)")
    parser.add_argument("--schedule", help="cron or preset (default @daily)")
    parser.add_argument("--platform", choices=PLATFORMS, help="local (embedded) or aws: SageMaker instance types "
                        "picked by price for --cpus/--memory (default local)")
    parser.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                        help="serve the champion and roll candidates out (default: serve)")


@dataclass(frozen=True)
class Question:
    dest: str
    prompt: str
    default: Callable[[dict[str, Any]], Any]
    parse: Callable[[str, dict[str, Any]], Any]  # raises ValueError with the reason


def _choice(options: tuple[str, ...]) -> Callable[[str, dict[str, Any]], str]:
    def parse(text: str, answers: dict[str, Any]) -> str:
        if text not in options:
            raise ValueError(f"one of {', '.join(options)}")
        return text

    return parse


def _column(text: str, answers: dict[str, Any]) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise ValueError("a column name: letters, digits and _")
    return text


def _optional_column(text: str, answers: dict[str, Any]) -> str | None:
    return None if text in ("", "none", "-") else _column(text, answers)


def _fraction(text: str, answers: dict[str, Any]) -> float:
    value = float(text)
    if not 0 < value < 0.5:
        raise ValueError("a fraction between 0 and 0.5")
    return value


def _metric(text: str, answers: dict[str, Any]) -> str:
    if text in BUILTIN_METRIC_DIRECTIONS or re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", text):
        if text in BUILTIN_METRIC_DIRECTIONS and text not in TASK_METRICS[answers["task"]]:
            raise ValueError(f"for {answers['task']}: one of {', '.join(TASK_METRICS[answers['task']])}")
        return text
    raise ValueError(f"one of {', '.join(TASK_METRICS[answers['task']])} or 'module:function'")


def promotion_rule(text: str) -> dict[str, Any]:
    """'better' -> {} (strictly better); 'min_improvement:0.01,confidence:0.95' -> the spec's promote keys."""
    rule: dict[str, Any] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        if term == "better":
            continue
        key, _, value = term.partition(":")
        if key == "on_tie" and value in ("keep", "promote"):
            rule["on_tie"] = value
        elif key in _PROMOTION_TERMS and value:
            number = float(value)
            rule[_PROMOTION_TERMS[key]] = int(number) if key == "min_test_rows" else number
        else:
            raise ValueError(
                f"{term!r}: use 'better' or {', '.join(k + ':N' for k in _PROMOTION_TERMS)}, on_tie:promote")
    return rule


def _promotion(text: str, answers: dict[str, Any]) -> str:
    promotion_rule(text)
    return text


def _positive(kind: type) -> Callable[[str, dict[str, Any]], Any]:
    def parse(text: str, answers: dict[str, Any]) -> Any:
        value = kind(text)
        if value <= 0:
            raise ValueError("a positive number")
        return value

    return parse


def _duration(text: str, answers: dict[str, Any]) -> str:
    if not _DURATION.fullmatch(text):
        raise ValueError("a duration such as 90s, 30m, 2h")
    return text


def _text(text: str, answers: dict[str, Any]) -> str:
    if not text:
        raise ValueError("a value")
    return text


def _yes_no(text: str, answers: dict[str, Any]) -> bool:
    if text.lower() in ("y", "yes", "true"):
        return True
    if text.lower() in ("n", "no", "false"):
        return False
    raise ValueError("yes or no")


QUESTIONS = (
    Question("task", "Task type (regression, binary, multiclass)", lambda a: "regression", _choice(TASKS)),
    Question("table", "Warehouse table the SQL reads", lambda a: a["name"], _column),
    Question("label", "Label: the column to predict", lambda a: "target", _column),
    Question("key_column", "Key column identifying a row", lambda a: "id", _column),
    Question("time_column", "Time column ('none' if there is none)", lambda a: None, _optional_column),
    Question("split", "Test set by time (latest rows) or by key (stable hash)",
             lambda a: "time" if a["time_column"] else "key", _choice(SPLITS)),
    Question("test_fraction", "Test fraction", lambda a: 0.2, _fraction),
    Question("metric", "Metric", lambda a: DEFAULT_METRIC[a["task"]], _metric),
    Question("direction", "Direction (maximize, minimize)",
             lambda a: BUILTIN_METRIC_DIRECTIONS.get(a["metric"], "maximize"), _choice(("maximize", "minimize"))),
    Question("promotion", "Promotion rule against the champion", lambda a: "min_improvement:0.01", _promotion),
    Question("cpus", "CPUs for training", lambda a: 2, _positive(int)),
    Question("memory", "Memory for training (GB)", lambda a: 4.0, _positive(float)),
    Question("max_runtime", "Max training runtime", lambda a: "30m", _duration),
    Question("schedule", "Schedule", lambda a: "@daily", _text),
    Question("platform", "Platform (local, aws)", lambda a: "local", _choice(PLATFORMS)),
    Question("serve", "Serve the champion and roll candidates out (yes, no)", lambda a: True, _yes_no),
)


def _show(value: Any) -> str:
    return "none" if value is None else "yes" if value is True else "no" if value is False else str(value)


def ask(question: Question, answers: dict[str, Any]) -> Any:
    """Prompt until the answer parses; an empty answer takes the default."""
    default = question.default(answers)
    while True:
        text = input(f"{question.prompt} [{_show(default)}]: ").strip()
        if not text:
            return default
        try:
            return question.parse(text, answers)
        except ValueError as exc:
            print(f"  expected {exc}", flush=True)


def answers_for(args: argparse.Namespace, interactive: bool) -> dict[str, Any]:
    """Every question's answer: the flag when given, else a prompt (interactive) or the default."""
    answers: dict[str, Any] = {"name": args.name}
    for question in QUESTIONS:
        given = getattr(args, question.dest)
        if given is not None:
            if isinstance(given, str):  # choices are checked by argparse; the rest like a typed answer
                given = question.parse(given, answers)
            answers[question.dest] = given
        elif interactive:
            answers[question.dest] = ask(question, answers)
        else:
            answers[question.dest] = question.default(answers)
    if answers["split"] == "time" and not answers["time_column"]:
        raise ValueError("--split time needs --time-column (the column the rows are ordered by)")
    _metric(answers["metric"], answers)
    return answers


def prediction_field(answers: dict[str, Any]) -> str:
    """The response field evaluate scores: probabilities for roc_auc / log_loss, else the prediction."""
    if answers["metric"] in ("roc_auc", "log_loss"):
        return "probability" if answers["task"] == "binary" else "probabilities"
    return "prediction"


def response_schema(answers: dict[str, Any]) -> dict[str, Any]:
    title = f"{answers['name']} response"
    if answers["task"] == "regression":
        properties: dict[str, Any] = {"prediction": {"type": "number", "description": f"Predicted {answers['label']}."}}
    else:
        label = {"type": ["string", "number", "boolean"], "description": f"The most probable {answers['label']}."}
        probability = {"type": "number", "minimum": 0, "maximum": 1}
        if answers["task"] == "binary":
            properties = {"prediction": label, "probability": {**probability, "description": "P(the greater label)."}}
        else:
            properties = {"prediction": label, "probabilities": {
                "type": "object", "additionalProperties": probability, "minProperties": 2,
                "description": "P(label) per label (the label as text)."}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
            "required": sorted(properties), "properties": properties}


def request_schema(answers: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{answers['name']} request",
        "description": f"One row of {answers['table']} without {answers['label']}: list its columns under properties "
                       "(with types and required) so the contract test and the endpoint check real requests.",
        "type": "object", "properties": {},
    }


def _instance_lines(answers: dict[str, Any], purpose: str, indent: str) -> list[str]:
    from airflow_mlprovider.backends.aws.instance_picker import pick_instance

    choice = pick_instance(answers["cpus"], answers["memory"], purpose=purpose)
    chosen = choice.chosen
    return [f"{indent}instance_type: {chosen.name}   # {chosen.vcpus} vCPU, {chosen.memory_gib:g} GiB, "
            f"${chosen.usd_per_hour:.3f}/h for {purpose} (vendored prices: `mlprovider instance --purpose {purpose}`)"]


def spec_text(answers: dict[str, Any], files: dict[str, str]) -> str:
    """The spec, with a comment on every choice."""
    a = answers
    task_words = {"regression": "a regression", "binary": "a binary classifier", "multiclass": "a multiclass classifier"}
    lines = [
        f"# {a['name']}: {task_words[a['task']]}, scaffolded by `mlprovider new`. Every field: docs/spec.md.",
        f"model: {a['name']}",
        f"description: \"{a['name']}: predicts {a['label']} ({a['task']})\"",
        f"schedule: \"{a['schedule']}\"",
        "start_date: \"2025-01-01\"",
    ]
    if a["platform"] == "aws":
        lines += ["platform: aws", "artifact_root: s3://CHANGE-ME-bucket/mlprovider   # SageMaker reads models from S3"]
    lines += ["", "data:", "  # Jinja values become bind parameters, never text in the SQL.", "  sql: |",
              f"    SELECT * FROM {a['table']}"]
    if a["time_column"]:
        lines.append(f"    WHERE CAST({a['time_column']} AS TIMESTAMP) < {{{{ data_interval_end }}}}")
    if a["split"] == "time":
        lines.append(f"  split: {{by: time, column: {a['time_column']}, validation: 0.15, test: {a['test_fraction']:g}}}"
                     "   # the latest rows are the test set")
    else:
        lines.append(f"  split: {{by: hash, column: {a['key_column']}, validation: 0.15, test: {a['test_fraction']:g}}}"
                     "   # a stable hash of the key")
    lines += ["", "code:", f"  module: {files['module']}", f"  request_schema: {files['request']}",
              f"  response_schema: {files['response']}", "", "train:", f"  max_runtime: {a['max_runtime']}"]
    if a["platform"] == "aws":
        lines += ["  compute: sagemaker", *_instance_lines(a, "training", "  "),
                  "  role_arn: arn:aws:iam::123456789012:role/CHANGE-ME   # the SageMaker execution role"]
    else:
        lines += [f"  cpus: {a['cpus']}", f"  memory_gb: {a['memory']:g}"]
    direction = "" if BUILTIN_METRIC_DIRECTIONS.get(a["metric"]) == a["direction"] else f"\n  direction: {a['direction']}"
    lines += ["", "evaluate:", f"  metric: {a['metric']}   # {a['direction']}", f"  label: {a['label']}",
              f"  prediction_field: {prediction_field(a)}" + direction]
    rule = promotion_rule(a["promotion"])
    lines += ["", f"promote: {json.dumps(rule) if rule else '{}'}   # --promotion {a['promotion']}"]
    if a["serve"]:
        lines += ["", "serving:", f"  endpoint: {a['name'].replace('_', '-')}"]
        if a["platform"] == "aws":
            lines += _instance_lines(a, "hosting", "  ")
        lines += ["rollout:", "  steps: [10, 50, 100]   # % of traffic per step, each judged on errors and latency"]
    lines += ["", "# contract_test: {sample: data/" + a["name"] + "_sample.csv}   # rows for `mlprovider test` "
              "instead of the warehouse"]
    return "\n".join(lines) + "\n"


def model_text(answers: dict[str, Any]) -> str:
    templates = resources.files("airflow_mlprovider.cli.templates")
    body = templates.joinpath("features.py.txt").read_text()
    body += templates.joinpath("regressor.py.txt" if answers["task"] == "regression" else "classifier.py.txt").read_text()
    bookkeeping = sorted({answers["key_column"], *([answers["time_column"]] if answers["time_column"] else [])})
    return (body.replace("__NAME__", answers["name"]).replace("__TASK__", answers["task"])
            .replace("__LABEL__", answers["label"]).replace("__BOOKKEEPING__", ", ".join(map(repr, bookkeeping)))
            .replace("__BINARY__", str(answers["task"] == "binary")))


def run(args: argparse.Namespace) -> int:
    if not _NAME.fullmatch(args.name):
        print(f"invalid model name {args.name!r}: use lower case letters, digits and _, starting with a letter",
              file=sys.stderr)
        return 2
    folder = Path(args.dir)
    name = args.name
    files = {"module": f"models/{name}.py", "request": f"schemas/{name}.request.json",
             "response": f"schemas/{name}.response.json", "test": f"tests/test_{name}.py"}
    spec_path = folder / f"{name}.model.yaml"
    targets = [spec_path, *(folder / f for f in files.values())]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        print("refusing to overwrite: " + ", ".join(existing), file=sys.stderr)
        return 1
    try:
        answers = answers_for(args, interactive=sys.stdin.isatty())
    except (ValueError, EOFError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    test = resources.files("airflow_mlprovider.cli.templates").joinpath("model_test.py.txt").read_text()
    contents = {
        spec_path: spec_text(answers, files),
        folder / files["module"]: model_text(answers),
        folder / files["request"]: json.dumps(request_schema(answers), indent=2) + "\n",
        folder / files["response"]: json.dumps(response_schema(answers), indent=2) + "\n",
        folder / files["test"]: test.replace("__NAME__", name).replace("__SPEC_NAME__", spec_path.name),
    }
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    print(f"next: list the request's columns in {folder / files['request']}, edit the SQL in {spec_path} and the "
          f"model in {folder / files['module']}, then `mlprovider validate {folder}` and `mlprovider test {spec_path}`")
    return 0
