"""Check a model module against the contract by reading its source: importing it at parse time would pull in
pandas, sklearn and whatever else the model needs, in the dag-processor, every 30 seconds."""

from __future__ import annotations

import ast
from pathlib import Path

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
