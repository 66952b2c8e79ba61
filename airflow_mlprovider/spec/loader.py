"""Load `*.model.yaml` specs: YAML -> defaults merged -> JSON Schema -> rules the schema cannot say -> ModelSpec.

Every problem becomes a SpecError at file:line:column. The dag-processor re-parses all specs every 30 s, so
the valid path does little extra work: the YAML's nodes are kept (for line numbers and the size limits), the
schema validators are compiled once, and files that many specs share are read once per change.

A hostile or broken spec costs bounded work, counted in bytes, YAML nodes and errors rather than seconds (a
loaded machine must never turn a valid spec invalid): see the MAX_* limits below. A spec that breaks one is
reported as one invalid spec; load_specs() never raises for a file, so one file cannot hide the others.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from airflow_mlprovider.spec.contract_check import check_model_module, prediction_field_problem
from airflow_mlprovider.spec.errors import (
    SpecError,
    SpecValidationError,
    format_path,
    schema_error_message,
    show,
    unknown_key_message,
)
from airflow_mlprovider.spec.model import BUILTIN_METRIC_DIRECTIONS, Autoscaling, ModelSpec, Shadow, Split, schema_default

SPEC_SUFFIX = ".model.yaml"
DEFAULTS_FILE = "mlprovider.defaults.yaml"
SCHEMA_FILE = Path(__file__).with_name("spec.schema.json")
# Keys that describe one model: a defaults file shared by many specs may not set them.
SPEC_ONLY_KEYS = ("model", "description", "data", "code", "evaluate")
SERVING_KEYS = ("serving", "rollout")
_SPEC_PATHS = (
    ("code", "module"), ("code", "request_schema"), ("code", "response_schema"), ("data", "dbt", "project"),
    ("contract_test", "sample"),
)
# Work limits of one spec (and of the defaults file). A real spec is 20-40 lines, a few hundred YAML nodes.
MAX_SPEC_BYTES = 256 * 1024
MAX_YAML_NODES = 20_000  # counted with every alias expanded: what json/jsonschema/DAG serialization walk
MAX_YAML_DEPTH = 64  # nested mappings/lists: JSON encoders and validators recurse into them
MAX_YAML_ALIASES = 100  # uses of an anchor (*name, << merges included)
MAX_JSON_SCHEMA_BYTES = 1024 * 1024  # a request/response schema file
MAX_REPORTED_ERRORS = 20  # beyond this, one line says how many more problems there are
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WEAK = frozenset({"anyOf", "oneOf"})

Path_ = tuple[Any, ...]


@dataclass
class LoadResult:
    """The valid specs of a folder, and each invalid spec file's errors (keyed by the spec file)."""

    specs: list[ModelSpec] = field(default_factory=list)
    errors: dict[str, list[SpecError]] = field(default_factory=dict)


# ---------------------------------------------------------------- YAML


class _SpecYamlLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML (no object-constructing tags), dates kept as the text written, duplicate keys rejected."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    first = seen[key_node.value].start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {show(key_node.value)} (first set on line {first})",
                        key_node.start_mark,
                    )
                seen[key_node.value] = key_node
        return super().construct_mapping(node, deep=deep)


_SpecYamlLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


class _Source:
    """A YAML file's document and its nodes (for line numbers); `root` is None for a document given as a dict."""

    def __init__(self, file: str, root: yaml.Node | None, doc: dict[str, Any], folder: Path) -> None:
        self.file, self.root, self.doc, self.folder = file, root, doc, folder

    def has(self, path: Path_) -> bool:
        return _has(self.doc, path)

    def error(self, path: Path_, message: str, *, at_key: bool = False) -> SpecError:
        """An error at `path`: its value's line (or its key's), else the deepest part of the path that exists."""
        node, key_node, complete = _walk(self.root, path) if self.root is not None else (None, None, False)
        target = key_node if (at_key or not complete) and key_node is not None else node
        if target is None:
            return SpecError(self.file, None, None, format_path(path), message)
        return SpecError(self.file, target.start_mark.line + 1, target.start_mark.column + 1, format_path(path), message)


def _has(doc: Any, path: Path_) -> bool:
    for part in path:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc):
            doc = doc[part]
        else:
            return False
    return True


def _walk(node: yaml.Node, path: Path_) -> tuple[yaml.Node, yaml.Node | None, bool]:
    key_node = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if match is None:
                return node, key_node, False
            key_node, node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            return node, key_node, False
    return node, key_node, True


def _too_big(file: str, message: str, line: int | None = None, column: int | None = None) -> SpecValidationError:
    return SpecValidationError([SpecError(file, line, column, "", message)])


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_yaml_size(file: str, root: yaml.Node) -> None:
    """Refuse alias bombs, recursive aliases, deep nesting and oversized documents before anything expands them.

    PyYAML builds an alias as a shared object, so the document itself stays small; but everything after it
    (merging defaults, the schema check, the spec digest, the DAG's serialized operators) walks it expanded.
    A document without aliases is checked in one quick pass; one with aliases in a pass over its node graph,
    linear in its distinct nodes, that computes the expanded size.
    """
    count, deepest, seen, stack = 0, 0, set(), [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > deepest:
            deepest = depth
        if id(node) in seen:  # an alias: only now is the slower, exact count needed
            _check_aliased_yaml_size(file, root)
            return
        seen.add(id(node))
        if isinstance(node.value, list):  # a mapping or a sequence
            stack.extend((child, depth + 1) for child in _children(node))
    if deepest > MAX_YAML_DEPTH:
        raise _too_big(file, f"values nested more than {MAX_YAML_DEPTH} levels deep")
    if count > MAX_YAML_NODES:
        raise _too_big(file, _too_many_values(count))


def _too_many_values(count: int) -> str:
    return (f"the document holds {count:,} values with its aliases expanded; at most {MAX_YAML_NODES:,} are "
            "allowed (a spec describes a model, it does not carry data)")


def _check_aliased_yaml_size(file: str, root: yaml.Node) -> None:
    expanded: dict[int, int] = {}
    chars: dict[int, int] = {}  # text with aliases expanded: a long string used 100 times is 100 strings
    height: dict[int, int] = {}
    ancestors: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            ancestors.discard(key)
            children = [id(child) for child in _children(node)]
            expanded[key] = 1 + sum(expanded[child] for child in children)
            chars[key] = len(node.value) if isinstance(node.value, str) else sum(chars[child] for child in children)
            height[key] = 1 + max((height[child] for child in children), default=0)
            if height[key] > MAX_YAML_DEPTH:
                raise _too_big(file, f"values nested more than {MAX_YAML_DEPTH} levels deep",
                               node.start_mark.line + 1, node.start_mark.column + 1)
            continue
        if key in expanded:
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise _too_big(file, f"more than {MAX_YAML_ALIASES} uses of YAML anchors (*alias): write the values out",
                               node.start_mark.line + 1, node.start_mark.column + 1)
            continue
        if key in ancestors:
            raise _too_big(file, "a YAML alias refers to a mapping or list that contains it (a recursive document)",
                           node.start_mark.line + 1, node.start_mark.column + 1)
        ancestors.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    if expanded[id(root)] > MAX_YAML_NODES:
        raise _too_big(file, _too_many_values(expanded[id(root)]))
    if chars[id(root)] > MAX_SPEC_BYTES:
        raise _too_big(file, f"the document's text is {chars[id(root)]:,} characters with its aliases expanded; at "
                             f"most {MAX_SPEC_BYTES:,} are allowed")


def _read_yaml(path: Path, what: str) -> tuple[yaml.Node | None, Any]:
    """The file's YAML nodes and document; raises SpecValidationError for unreadable, oversized or bad YAML."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)  # never more: a 50 MB file costs what a 256 KB one does
        if len(raw) > MAX_SPEC_BYTES:
            raise _too_big(file, f"the {what} is larger than {MAX_SPEC_BYTES // 1024} KB: a spec is a few dozen "
                                 "lines (data belongs in the warehouse, schemas in their own files)")
        loader = _SpecYamlLoader(raw.decode("utf-8"))
        try:
            root = loader.get_single_node()
            if root is None:
                return None, None
            _check_yaml_size(file, root)
            return root, loader.construct_document(root)
        finally:
            loader.dispose()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecValidationError([SpecError(file, None, None, "", f"cannot read the {what}: {exc}")]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecValidationError([SpecError(file, line, column, "", _yaml_problem(exc))]) from exc
    except yaml.YAMLError as exc:
        raise SpecValidationError([SpecError(file, None, None, "", f"not valid YAML: {exc}")]) from exc


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    tag = re.search(r"constructor for the tag '([^']+)'", exc.problem or "")
    if tag:
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        return (f"the YAML tag {shown} is not allowed: a spec holds only mappings, lists, strings, numbers, "
                "true/false and null")
    if (exc.problem or "").startswith("duplicate key"):
        return exc.problem
    context = f" {exc.context}" if exc.context else ""
    return f"YAML syntax error: {exc.problem}{context}"


def _read_source(path: Path, what: str) -> _Source:
    root, doc = _read_yaml(path, what)
    if not isinstance(doc, dict):
        got = "an empty file" if doc is None else f"a {type(doc).__name__}"
        raise SpecValidationError([SpecError(str(path), 1, 1, "", f"the {what} must be a mapping of keys, got {got}")])
    return _Source(str(path), root, doc, path.parent.absolute())


# ---------------------------------------------------------------- schema


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@cache
def spec_validator() -> Draft202012Validator:
    """The one compiled validator of merged spec documents."""
    return Draft202012Validator(_schema())


@cache
def _fast_spec_check() -> Callable[[Any], Any]:
    """The same schema compiled to Python: ~20x faster than jsonschema on a valid spec.

    Only a fast path: whatever it rejects goes through `spec_validator()`, whose errors are reported (and
    which alone decides), so the two can never disagree on a reported error.
    """
    schema = {k: v for k, v in _schema().items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(schema)


def _passes_fast_check(doc: dict[str, Any]) -> bool:
    try:
        _fast_spec_check()(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@cache
def defaults_validator() -> Draft202012Validator:
    """The spec schema without the per-model keys and with nothing required: what a defaults file may hold."""
    schema = _without_required(_schema())
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in SPEC_ONLY_KEYS}
    return Draft202012Validator(schema)


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def _relevance(error: ValidationError) -> tuple[Any, ...]:
    # jsonschema's by_relevance, with the path compared as text: YAML may give non-string keys
    return (-len(error.path), error.validator not in _WEAK, [str(p) for p in error.path])


def _schema_errors(
    doc: dict[str, Any], validator: Draft202012Validator, locate: Callable[..., SpecError], *, defaults: bool = False
) -> list[SpecError]:
    """The schema's errors in words, best first: at most MAX_REPORTED_ERRORS located, the rest only counted.

    Locating an error walks the YAML nodes, so 16,000 unknown keys must not cost 16,000 walks.
    """
    defs = validator.schema.get("$defs", {})
    errors: list[SpecError] = []
    unreported = 0
    for error in sorted(validator.iter_errors(doc), key=_relevance, reverse=True):
        room = MAX_REPORTED_ERRORS - len(errors)
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            known = list(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(known), key=str)
            unreported += max(len(unknown) - room, 0)
            for key in unknown[:max(room, 0)]:
                if defaults and not path and key in SPEC_ONLY_KEYS:
                    message = f"{show(key)} describes one model: set it in each spec, not in the defaults file"
                else:
                    message = unknown_key_message(key, known)
                errors.append(locate(path + (key,), message, at_key=True))
            continue
        if room <= 0:
            unreported += 1
            continue
        if error.validator in _WEAK and error.context:
            best = best_match([error])  # descends into the options' errors, deepest first
            if len(best.absolute_path) > len(path):  # an option matched the shape: its deeper error says more
                error, path = best, tuple(best.absolute_path)
        errors.append(locate(path, schema_error_message(error, defs), at_key=error.validator == "required"))
    return _capped(list(dict.fromkeys(errors)), unreported)


def _capped(errors: list[SpecError], unreported: int = 0) -> list[SpecError]:
    """At most MAX_REPORTED_ERRORS errors, then one line counting the rest (an invalid spec's DAG stays small)."""
    unreported += max(len(errors) - MAX_REPORTED_ERRORS, 0)
    errors = errors[:MAX_REPORTED_ERRORS]
    if unreported and errors:
        errors.append(SpecError(errors[0].file, None, None, "", f"... and {unreported:,} more problem(s) not shown"))
    return errors


# ---------------------------------------------------------------- rules the schema cannot express

Problem = tuple[Path_, str]


def _rollout_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    if "rollout" not in doc:
        return
    if "serving" not in doc:
        yield ("rollout",), "rollout needs a serving section: traffic can only move between served variants"
    steps = doc["rollout"].get("steps", [])
    for i in range(1, len(steps)):
        if steps[i] <= steps[i - 1]:
            yield ("rollout", "steps", i), f"{steps[i]} follows {steps[i - 1]}: steps must be strictly increasing"
    if steps and steps[-1] != 100:
        yield ("rollout", "steps", len(steps) - 1), (
            f"the last step is {steps[-1]}: steps must end at 100 (the candidate finally takes all traffic)")


def _shadow_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    shadow = doc.get("shadow")
    if shadow is None or not shadow.get("enabled", Shadow.enabled):
        return
    if "serving" not in doc:
        yield ("shadow",), "the shadow stage needs a serving section: it mirrors the served champion's requests"
    elif doc.get("platform", ModelSpec.platform) == "aws" and str(doc["serving"].get("instance_type", "")).startswith(
        "ml.inf1."
    ):  # the shadow tests' exclusions (SageMaker developer guide); serverless endpoints are none of ours
        yield ("shadow",), (f"SageMaker hosts no shadow variant on Inf1 instances ({doc['serving']['instance_type']}): "
                            "choose another serving.instance_type or set shadow.enabled: false")


def _split_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    split = doc["data"]["split"]
    held_out = split.get("validation", Split.validation) + split.get("test", Split.test)
    if held_out >= 0.9:
        yield ("data", "split"), (
            f"validation + test = {held_out:g} leaves too little to train on: keep the sum below 0.9")


def _metric_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    metric, direction = doc["evaluate"]["metric"], doc["evaluate"].get("direction")
    known = BUILTIN_METRIC_DIRECTIONS.get(metric)
    if known and direction and direction != known:
        yield ("evaluate", "direction"), f"{metric} is always {known}d: set direction: {known} or leave it out"


def _warehouse_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    warehouse = doc.get("warehouse", schema_default("warehouse"))
    needed = {"duckdb": ("path", "the database file"), "snowflake": ("conn_id", "the Airflow connection id")}
    key, meaning = needed[warehouse["type"]]
    if key not in warehouse:
        yield ("warehouse",), f"a {warehouse['type']} warehouse needs {key} ({meaning})"
    if str(warehouse.get("path", "")).startswith("s3://") and "dbt" in doc.get("data", {}):
        yield ("data", "dbt"), (
            "dbt build writes to the warehouse, and a DuckDB file on s3:// is read-only (every extract reads a copy): "
            "build it before uploading it, or use a Snowflake warehouse")


def _platform_rules(doc: dict[str, Any]) -> Iterator[Problem]:
    platform, on_s3 = doc.get("platform", ModelSpec.platform), str(doc.get("artifact_root", "")).startswith("s3://")
    if "artifact_root" not in doc:
        yield ("artifact_root",), "is not set: give it here or in the defaults file (a folder, file:///path or s3://bucket/prefix)"
    train = doc.get("train", {})
    if train.get("compute") == "sagemaker":
        if platform != "aws":
            yield ("train", "compute"), "sagemaker training needs platform: aws"
        if not on_s3:
            yield ("train", "compute"), "sagemaker training reads and writes S3: artifact_root must be s3://bucket/prefix"
        if "role_arn" not in train:
            yield ("train", "compute"), "sagemaker training needs train.role_arn (the SageMaker execution role ARN)"
    serving = doc.get("serving")
    if platform == "aws" and serving is not None:
        if "instance_type" not in serving:
            yield ("serving",), "platform aws serves on SageMaker: serving.instance_type is required (e.g. ml.m5.large)"
        if not on_s3:
            yield ("serving",), "platform aws serves on SageMaker, which reads models from S3: artifact_root must be s3://bucket/prefix"
    scaling = (serving or {}).get("autoscaling", {})
    if scaling.get("min_instances", Autoscaling.min_instances) > scaling.get("max_instances", Autoscaling.min_instances):
        yield ("serving", "autoscaling", "min_instances"), (
            f"min_instances {scaling['min_instances']} is above max_instances {scaling['max_instances']}")


_RULES = (_rollout_rules, _shadow_rules, _split_rules, _metric_rules, _warehouse_rules, _platform_rules)


# ---------------------------------------------------------------- files a spec points at


def _get(doc: dict[str, Any], path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: dict[str, Any], path: Path_, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _resolve_spec_paths(doc: dict[str, Any], spec_dir: Path, dags_root: Path) -> Iterator[Problem]:
    """Make the model's own files absolute; each must exist inside the dags folder."""
    root = dags_root.resolve()
    for path in _SPEC_PATHS:
        if not _has(doc, path):
            continue
        value = _get(doc, path)
        absolute = Path(os.path.normpath(spec_dir / value))
        _set(doc, path, str(absolute))
        if not absolute.resolve().is_relative_to(root):
            yield path, f"{value!r} is outside the dags folder {root}: model files must live inside it"
        elif path[-1] == "project" and not (absolute / "dbt_project.yml").is_file():
            yield path, f"{value!r} is not a dbt project: no dbt_project.yml in {absolute}"
        elif path[-1] != "project" and not absolute.is_file():
            yield path, f"{value!r} does not exist (looked for {absolute})"


def _resolve_deployment_paths(doc: dict[str, Any], spec: _Source, defaults: _Source | None) -> Iterator[Problem]:
    """artifact_root and the DuckDB file, relative to the folder of the file that set them."""

    def folder(path: Path_) -> Path:
        return spec.folder if spec.has(path) or defaults is None else defaults.folder

    root = doc.get("artifact_root")
    if root is not None:
        if root.startswith(("s3://", "file://")):
            pass
        elif _URI.match(root):
            yield ("artifact_root",), f"{root!r} is not supported: use a folder, file:///path or s3://bucket/prefix"
        else:
            doc["artifact_root"] = Path(os.path.normpath(folder(("artifact_root",)) / root)).as_uri()
    warehouse_path = ("warehouse", "path")
    if _has(doc, warehouse_path):
        path = _get(doc, warehouse_path)
        if path.startswith("s3://"):  # a read-only snapshot every worker can reach (docs/deploy.md)
            pass
        elif _URI.match(path):
            yield warehouse_path, f"{path!r} is not supported: use a file path or s3://bucket/key"
        else:
            _set(doc, warehouse_path, os.path.normpath(folder(warehouse_path) / path))


@dataclass(frozen=True)
class _JsonFile:
    document: Any = None
    problem: str | None = None


_JSON_CACHE: dict[tuple[str, int, int], _JsonFile] = {}


def _json_schema_file(path: str) -> _JsonFile:
    """A request/response JSON Schema file, parsed and checked once per change (many specs share one)."""
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _JSON_CACHE and stat.st_size > MAX_JSON_SCHEMA_BYTES:
        _JSON_CACHE[key] = _JsonFile(problem=f"{path} is larger than {MAX_JSON_SCHEMA_BYTES // 1024} KB")
    if key not in _JSON_CACHE:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(document)
            _JSON_CACHE[key] = _JsonFile(document)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            _JSON_CACHE[key] = _JsonFile(problem=f"{path} is not valid JSON: {exc}")
        except Exception as exc:  # noqa: BLE001 - jsonschema's SchemaError, or a $ref it cannot resolve
            reason = getattr(exc, "message", str(exc))
            _JSON_CACHE[key] = _JsonFile(problem=f"{path} is not a valid JSON Schema: {reason}")
    return _JSON_CACHE[key]


def _model_file_problems(doc: dict[str, Any], path_problems: set[Path_]) -> Iterator[Problem | SpecError]:
    """The schemas parse and are JSON Schemas, example requests fit the request schema, the module has the contract."""
    schemas = {}
    for key in ("request_schema", "response_schema"):
        if ("code", key) in path_problems:
            continue
        loaded = _json_schema_file(doc["code"][key])
        if loaded.problem:
            yield ("code", key), loaded.problem
        else:
            schemas[key] = loaded.document
    examples = (doc.get("serving") or {}).get("example_requests", [])
    if examples and "request_schema" in schemas:
        request_validator = Draft202012Validator(schemas["request_schema"])
        for i, example in enumerate(examples):
            error = next(iter(sorted(request_validator.iter_errors(example), key=_relevance, reverse=True)), None)
            if error is not None:
                where = format_path(tuple(error.absolute_path)) or "the request"
                yield ("serving", "example_requests", i), (
                    f"does not fit the request schema: {where}: {error.message}")
    if "response_schema" in schemas:
        where = ("evaluate", "prediction_field")
        field = _get(doc, where) if _has(doc, where) else schema_default(*where)
        problem = prediction_field_problem(schemas["response_schema"], field, doc["code"]["response_schema"])
        if problem:
            yield where, problem  # located at the key, or at `evaluate:` when the default is used
    if ("code", "module") not in path_problems:
        yield from check_model_module(doc["code"]["module"])


# ---------------------------------------------------------------- loading


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` deep-merged onto `base` into new dicts (mappings merge, everything else is replaced)."""
    merged = {k: _merge({}, v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in over.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged[key] if isinstance(merged.get(key), dict) else {}, value)
        else:
            merged[key] = value
    return merged


def _defaults_path(folders: list[Path], defaults_file: str | Path | None) -> Path | None:
    """`defaults_file` if given ([mlprovider] defaults_file), else the first of `folders` holding a defaults file."""
    if defaults_file:
        return Path(defaults_file)
    return next((folder / DEFAULTS_FILE for folder in folders if (folder / DEFAULTS_FILE).is_file()), None)


def _load_defaults(folders: list[Path], defaults_file: str | Path | None) -> _Source | None:
    """The defaults that apply (see _defaults_path); raises SpecValidationError if they are invalid."""
    path = _defaults_path(folders, defaults_file)
    if path is None:
        return None
    source = _read_source(path, "defaults file")
    _check_defaults(source)
    return source


def _check_defaults(source: _Source) -> None:
    errors = _schema_errors(source.doc, defaults_validator(), source.error, defaults=True)
    if errors:
        raise SpecValidationError(errors)


def _load(path: Path, defaults: _Source | None, dags_root: Path) -> ModelSpec:
    spec = _read_source(path, "spec")
    base = defaults.doc if defaults else {}
    if "serving" not in spec.doc:  # defaults configure serving and rollout; only a spec's own section enables them
        base = {k: v for k, v in base.items() if k not in SERVING_KEYS}
    doc = _merge(base, spec.doc)

    def locate(where: Path_, message: str, *, at_key: bool = False) -> SpecError:
        owner = spec if spec.has(where) or defaults is None or not defaults.has(where) else defaults
        return owner.error(where, message, at_key=at_key)

    errors = [] if _passes_fast_check(doc) else _schema_errors(doc, spec_validator(), locate)
    if errors:
        raise SpecValidationError(errors)
    problems: list[Problem | SpecError] = [problem for rule in _RULES for problem in rule(doc)]
    path_problems = list(_resolve_spec_paths(doc, spec.folder, dags_root))
    problems += path_problems + list(_resolve_deployment_paths(doc, spec, defaults))
    problems += _model_file_problems(doc, {where for where, _ in path_problems})
    if problems:
        shown = [p if isinstance(p, SpecError) else locate(p[0], p[1]) for p in problems[:MAX_REPORTED_ERRORS]]
        raise SpecValidationError(_capped(shown, len(problems) - len(shown)))
    return ModelSpec.from_dict(doc, source=str(path))


def load_spec_file(
    path: str | Path, *, defaults: dict[str, Any] | None = None, dags_root: str | Path | None = None,
    defaults_file: str | Path | None = None,
) -> ModelSpec:
    """One spec, validated; raises SpecValidationError listing every problem.

    `defaults`: a defaults document (its relative paths resolve against the spec's folder); when None,
    `defaults_file` or the nearest defaults file from the spec's folder up to `dags_root` is read.
    """
    path = Path(path)
    root = Path(dags_root) if dags_root is not None else path.parent
    if defaults is None:
        here, top = path.parent.absolute(), root.absolute()
        source = _load_defaults([here, *(p for p in here.parents if p.is_relative_to(top))], defaults_file)
    else:
        source = _Source("<defaults>", None, defaults, path.parent.absolute())
        _check_defaults(source)
    return _load(path, source, root)


def _guarded(load: Callable[[], Any], file: str) -> Any:
    """`load()`, with any failure other than SpecValidationError reported as one: a dags-folder file that
    raises loses every DAG it built, so nothing a spec can trigger may escape load_specs()."""
    try:
        return load()
    except SpecValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError, a bug: still one invalid spec
        message = f"could not be checked ({type(exc).__name__}: {str(exc)[:200]})"
        raise SpecValidationError([SpecError(file, None, None, "", message)]) from exc


def load_specs(
    folder: str | Path, *, dags_root: str | Path | None = None, defaults_file: str | Path | None = None
) -> LoadResult:
    """Every `*.model.yaml` under `folder`; never raises for a bad spec (its errors are in the result).

    Two specs with the same model name: the one that was there first (the older file by modification time,
    then by path) keeps its DAG; each newcomer becomes an invalid spec naming both files (see keeper_of).
    """
    folder = Path(folder)
    root = Path(dags_root) if dags_root is not None else folder
    files = sorted(folder.rglob("*" + SPEC_SUFFIX))
    result = LoadResult()
    try:
        defaults = _guarded(
            lambda: _load_defaults([folder], defaults_file), str(_defaults_path([folder], defaults_file))
        )
    except SpecValidationError as exc:
        result.errors = {str(file): list(exc.errors) for file in files}
        return result
    by_model: dict[str, list[ModelSpec]] = defaultdict(list)
    for file in files:
        try:
            spec = _guarded(lambda: _load(file, defaults, root), str(file))
        except SpecValidationError as exc:
            result.errors[str(file)] = exc.errors
        else:
            by_model[spec.model].append(spec)
    for specs in by_model.values():
        keeper, *newcomers = sorted(specs, key=lambda spec: _age_key(spec.source))
        result.specs.append(keeper)
        for spec in newcomers:
            result.errors[spec.source] = [_duplicate_error(spec.source, spec.model, keeper.source)]
    return result


def _age_key(file: str) -> tuple[int, str]:
    """Older first: modification time, then path (deterministic when the times are equal)."""
    return os.stat(file).st_mtime_ns, file


def _duplicate_error(newcomer: str, model: str, keeper: str) -> SpecError:
    message = (f"model {model!r} is already defined in {keeper}, whose DAG stays (the older file keeps a model "
               "name): model names are DAG ids and must be unique; rename `model:` in this file")
    return _read_source(Path(newcomer), "spec").error(("model",), message)


def model_collisions(path: str | Path, folder: str | Path) -> list[SpecError]:
    """Errors if another `*.model.yaml` under `folder` names the same model as `path` and `path` is the newer file.

    What `mlprovider validate FILE` adds to FILE's own checks: the folder's DAGs would lose FILE to the
    older spec (only the `model` key of the others is read).
    """
    path = Path(path)
    model = _read_source(path, "spec").doc.get("model")
    same = [str(path)]
    for other in sorted(Path(folder).rglob("*" + SPEC_SUFFIX)):
        if other.resolve() == path.resolve():
            continue
        try:
            if _read_source(other, "spec").doc.get("model") == model:
                same.append(str(other))
        except SpecValidationError:
            continue  # an unreadable spec is its own problem, reported when it is validated
    if len(same) == 1:
        return []
    keeper = min(same, key=_age_key)
    if keeper == str(path):
        return []
    return [_duplicate_error(str(path), model, keeper)]
