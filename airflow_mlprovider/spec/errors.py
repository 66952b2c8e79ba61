"""Spec errors, and the words that turn a JSON Schema failure into what a spec author can act on."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

DURATION_WORDS = "a positive whole number of seconds or a string like 90s, 10m, 2h"

# Regular expressions of the schema, said in words (keyed by the pattern text itself).
PATTERN_WORDS = {
    "^[a-z][a-z0-9_]{0,62}$": "lower case letters, digits and _ starting with a letter (at most 63 characters)",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date written YYYY-MM-DD",
    "^ml\\.": "a SageMaker instance type such as ml.m5.large",
    "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$":
        "letters and digits joined by - (no _, no - at either end, at most 63 characters: SageMaker's endpoint names)",
    "^(rmse|mae|mape|r2|accuracy|f1|f1_macro|f1_weighted|roc_auc|log_loss|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*)$":
        "one of rmse, mae, mape, r2, accuracy, f1, f1_macro, f1_weighted, roc_auc, log_loss, or 'module:function' "
        "for your own metric",
}

_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "null",
}


@dataclass(frozen=True)
class SpecError:
    """One problem in a spec, located at file:line:column and at a field path like rollout.steps[2]."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        location = self.file
        if self.line is not None:
            location += f":{self.line}"
            if self.column is not None:
                location += f":{self.column}"
        return f"{location}: {self.path}: {self.message}" if self.path else f"{location}: {self.message}"


class SpecValidationError(Exception):
    """A spec (or its defaults file) is invalid; `errors` holds every problem found, best first."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


def format_path(path: tuple[Any, ...] | list[Any]) -> str:
    """('rollout', 'steps', 2) -> 'rollout.steps[2]'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def show(value: Any) -> str:
    """A value as it would be written in the spec, shortened."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """What a schema accepts, in words: 'an integer 1..100', 'one of: local, aws', DURATION_WORDS."""
    if "$ref" in schema:
        return allowed(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if schema == defs.get("duration"):
        return DURATION_WORDS
    if "enum" in schema:
        return "one of: " + ", ".join(str(choice) for choice in schema["enum"])
    if "pattern" in schema:
        return PATTERN_WORDS.get(schema["pattern"], f"a string matching {schema['pattern']}")
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            return " or ".join(allowed(option, defs) for option in schema[keyword])
    types = schema.get("type", [])
    words = " or ".join(_TYPE_WORDS[t] for t in ([types] if isinstance(types, str) else types))
    if "minimum" in schema and "maximum" in schema:
        return f"{words} {schema['minimum']}..{schema['maximum']}"
    bounds = [f"{word} {schema[keyword]}" for keyword, word in (
        ("minimum", "at least"), ("exclusiveMinimum", "above"), ("maximum", "at most"), ("exclusiveMaximum", "below"),
    ) if keyword in schema]
    if bounds:
        return f"{words} {'of ' if bounds[0].startswith('at ') else ''}" + " and ".join(bounds)
    if schema.get("minLength"):
        return f"a non-empty {words.removeprefix('a ')}"
    if "items" in schema and words == "a list":
        return f"a list of {_plural(allowed(schema['items'], defs))}"
    return words or "any value"


def _plural(words: str) -> str:
    for article in ("an ", "a "):
        if words.startswith(article):
            head, _, rest = words.removeprefix(article).partition(" ")
            return f"{head}s {rest}".strip()
    return words


def unknown_key_message(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
    if close:
        return f"unknown key {show(key)}; did you mean {show(close[0])}?"
    return f"unknown key {show(key)} (allowed: {', '.join(known)})"


def schema_error_message(error: ValidationError, defs: dict[str, Any]) -> str:
    """One jsonschema error (not additionalProperties: see unknown_key_message) in words, saying what is allowed."""
    kind, value, schema, instance = error.validator, error.validator_value, error.schema, error.instance
    if kind == "required":
        missing = [key for key in value if not (isinstance(instance, dict) and key in instance)]
        return f"missing required key {show(missing[0])}" if missing else error.message
    if kind == "type":
        return f"expected {allowed(schema, defs)}, got {_describe(instance)}"
    if kind in {"enum", "pattern", "oneOf", "anyOf"}:
        return f"{show(instance)} is not allowed (allowed: {allowed(schema, defs)})"
    if kind in {"minimum", "exclusiveMinimum"}:
        return f"{show(instance)} is below the minimum {value} (allowed: {allowed(schema, defs)})"
    if kind in {"maximum", "exclusiveMaximum"}:
        return f"{show(instance)} is above the maximum {value} (allowed: {allowed(schema, defs)})"
    if kind == "minItems":
        return f"needs at least {value} item{'s' if value != 1 else ''}"
    if kind == "minLength":
        return "must not be empty"
    return error.message


def _describe(instance: Any) -> str:
    if isinstance(instance, bool) or instance is None:
        return json.dumps(instance)
    for python_type, word in ((dict, "a mapping"), (list, "a list"), (str, "the string"), (int, "the integer"),
                              (float, "the number")):
        if isinstance(instance, python_type):
            return word if python_type in (dict, list) else f"{word} {show(instance)}"
    return show(instance)
