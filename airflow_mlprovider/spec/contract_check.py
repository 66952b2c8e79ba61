"""Static contract checks, cheap enough for every DAG parse.

The model module is checked by reading its source: importing it at parse time would pull in pandas, sklearn
and whatever else the model needs, in the dag-processor, every 30 seconds. The response schema is checked
for the field evaluate scores. What needs the model to run is `mlprovider test` (contract_testing/).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_mlprovider.contract import OPTIONAL_FUNCTIONS, REQUIRED_FUNCTIONS
from airflow_mlprovider.spec.errors import SpecError

_FIELD = "code.module"  # the spec field that named the module
_SIGNATURES = {
    "preprocess": "preprocess(raw, ctx)",
    "train": "train(train, validation, ctx)",
    "load": "load(artifact_dir)",
    "load_batch": "load_batch(artifact_dir)",
}
MAX_MODULE_BYTES = 2 * 1024 * 1024  # parsing is linear in the source, but a dags-folder parse must stay cheap
# (path, mtime_ns, size) -> errors: 500 specs often share one module, and edits change the key
_CACHE: dict[tuple[str, int, int], list[SpecError]] = {}


def check_model_module(path: str | Path) -> list[SpecError]:
    """Errors for missing contract functions, wrong arities or a syntax error, located in the module file."""
    path = Path(path)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE and stat.st_size > MAX_MODULE_BYTES:
        _CACHE[key] = [SpecError(str(path), None, None, _FIELD, f"the model module is larger than "
                                 f"{MAX_MODULE_BYTES // (1024 * 1024)} MB: keep data out of the code")]
    if key not in _CACHE:
        _CACHE[key] = _check_source(str(path), path.read_bytes())
    return _CACHE[key]


def _check_source(file: str, source: bytes) -> list[SpecError]:
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        return [SpecError(file, exc.lineno, exc.offset, _FIELD, f"the model module does not parse: {exc.msg}")]
    except ValueError as exc:  # e.g. null bytes in the source
        return [SpecError(file, None, None, _FIELD, f"the model module does not parse: {exc}")]
    defined = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    errors = []
    for name, arity in (REQUIRED_FUNCTIONS | OPTIONAL_FUNCTIONS).items():
        node = defined.get(name)
        if node is None:
            if name in REQUIRED_FUNCTIONS:
                errors.append(
                    SpecError(file, None, None, _FIELD, f"the model module has no top-level def {_SIGNATURES[name]}")
                )
        elif isinstance(node, ast.AsyncFunctionDef):
            errors.append(SpecError(file, node.lineno, node.col_offset + 1, _FIELD,
                                    f"{name} is async; the contract needs a plain def {_SIGNATURES[name]}"))
        elif not _accepts(node.args, arity):
            errors.append(SpecError(file, node.lineno, node.col_offset + 1, _FIELD,
                                    f"{name} must take {arity} positional argument{'s' if arity > 1 else ''}: "
                                    f"def {_SIGNATURES[name]}"))
    return errors


def _accepts(args: ast.arguments, arity: int) -> bool:
    """Callable as f(a1, ..., a<arity>): enough positional parameters (or *args), no required extra ones."""
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    required_keyword_only = sum(default is None for default in args.kw_defaults)
    enough = positional >= arity or args.vararg is not None
    return enough and required <= arity and required_keyword_only == 0


def _branches(schema: Any, root: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """The schema and the sub-schemas every valid document must also satisfy: allOf branches, local $refs."""
    if not isinstance(schema, dict) or depth > 8:
        return
    yield schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        yield from _branches(target, root, depth + 1)
    for branch in schema.get("allOf", []) if isinstance(schema.get("allOf"), list) else []:
        yield from _branches(branch, root, depth + 1)


def prediction_field_problem(schema: Any, field: str, schema_file: str) -> str | None:
    """Why `field` (evaluate.prediction_field) is not a required property of the response schema, or None.

    evaluate reads that field from every response; a schema that does not promise it lets a model pass the
    serving contract while evaluate fails at the end of a run.
    """
    branches = list(_branches(schema, schema))
    declared = any(isinstance(b.get("properties"), dict) and field in b["properties"] for b in branches)
    required = any(isinstance(b.get("required"), list) and field in b["required"] for b in branches)
    if declared and required:
        return None
    properties = sorted({name for b in branches if isinstance(b.get("properties"), dict) for name in b["properties"]})
    if not declared:
        return (
            f"{field!r} is not a property of the response schema {schema_file} (properties: "
            f"{', '.join(properties) or 'none'}): evaluate scores this field of every response; "
            "set evaluate.prediction_field to one of them or add it to the schema"
        )
    return (
        f"{field!r} is not required by the response schema {schema_file}: add it to the schema's \"required\" "
        "list, so a response without it breaks the contract when it is served, not when evaluate reads it"
    )
