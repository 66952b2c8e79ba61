"""Example requests generated from a request JSON Schema, for health checks when a spec lists none.

Pure and deterministic: the same schema, `n` and `seed` always give the same examples. Supported:
`type` (one or a list), `enum`, `const`, numeric bounds (inclusive and exclusive, integer `multipleOf`),
string `minLength`/`maxLength` and the formats date, date-time, time, email and uuid, arrays (`items`,
`prefixItems`, `minItems`/`maxItems`, `uniqueItems`), objects (`properties`, `required`), `anyOf`/`oneOf`
(first branch), and local `$ref`s (`#/$defs/...`). Anything else raises `UnsupportedSchemaError`, which
tells the user to list requests under `serving.example_requests` instead.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

# Keywords that constrain a value in a way this generator cannot honour.
_UNSUPPORTED = ("pattern", "patternProperties", "allOf", "not", "if", "contains", "dependentSchemas",
                "dependentRequired", "propertyNames", "minProperties", "maxProperties")
_MAX_DEPTH = 12
_SPAN = 100.0  # the range used on a side a numeric schema leaves open
_FIRST_DAY = date(2020, 1, 1)


class UnsupportedSchemaError(ValueError):
    """The request schema uses something the generator cannot satisfy."""


def generate(schema: Mapping[str, Any] | bool, n: int = 5, seed: int = 0) -> list[Any]:
    """`n` values valid against `schema` (a request schema's examples are usually objects)."""
    rng = random.Random(seed)
    # Example 0 carries every declared property; later ones leave out optional ones at random.
    return [_Generator(schema, rng, all_properties=(i == 0)).value(schema, "$", 0) for i in range(n)]


class _Generator:
    def __init__(self, root: Mapping[str, Any] | bool, rng: random.Random, *, all_properties: bool) -> None:
        self.root = root
        self.rng = rng
        self.all_properties = all_properties

    def value(self, schema: Mapping[str, Any] | bool, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise UnsupportedSchemaError(f"{path}: the schema nests deeper than {_MAX_DEPTH} levels (recursive?)")
        if schema is True:
            return "example"
        if schema is False:
            raise UnsupportedSchemaError(f"{path}: the schema `false` accepts no value")
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"], path), path, depth + 1)
        for keyword in _UNSUPPORTED:
            if keyword in schema:
                raise UnsupportedSchemaError(
                    f"{path}: the keyword {keyword!r} is not supported by the example generator; "
                    "list requests under serving.example_requests instead"
                )
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(list(schema["enum"]))
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                # A branch alone may leave sibling keywords unchecked: fold them in.
                branch = {**{k: v for k, v in schema.items() if k != keyword}, **schema[keyword][0]}
                return self.value(branch, f"{path}.{keyword}[0]", depth + 1)
        kind = self._type(schema)
        maker = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": lambda s, p, d: self.rng.random() < 0.5,
            "null": lambda s, p, d: None,
        }.get(kind)
        if maker is None:
            raise UnsupportedSchemaError(f"{path}: unknown type {kind!r}")
        return maker(schema, path, depth)

    def _resolve(self, ref: str, path: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise UnsupportedSchemaError(f"{path}: only local $refs ('#/...') are supported, not {ref!r}")
        node: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise UnsupportedSchemaError(f"{path}: $ref {ref!r} points to nothing in the schema")
            node = node[part]
        return node

    @staticmethod
    def _type(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            # Prefer a real value over null: a health check should exercise the model.
            non_null = [t for t in declared if t != "null"]
            return (non_null or declared)[0]
        if declared:
            return declared
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        return "string"

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name in [*properties, *sorted(required - set(properties))]:
            if name not in required and not self.all_properties and self.rng.random() < 0.5:
                continue
            sub = properties.get(name, schema.get("additionalProperties", True))
            out[name] = self.value(sub, f"{path}.{name}", depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", ()))
        items = schema.get("items", True)
        low = max(schema.get("minItems", 0), 0)
        high = schema.get("maxItems", low + 3)
        if items is False:
            high = min(high, len(prefix))
        if high < low:
            raise UnsupportedSchemaError(f"{path}: maxItems {high} is below minItems {low}")
        length = self.rng.randint(low, min(high, low + 3))
        unique = schema.get("uniqueItems", False)
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(length):
            sub = prefix[i] if i < len(prefix) else items
            for _attempt in range(50):
                item = self.value(sub, f"{path}[{i}]", depth + 1)
                key = json.dumps(item, sort_keys=True)
                if not unique or key not in seen:
                    break
            else:
                if i >= low:
                    break  # a shorter array is still valid
                raise UnsupportedSchemaError(f"{path}: cannot find {low} distinct items for uniqueItems")
            seen.add(key)
            out.append(item)
        return out

    def _string(self, schema: Mapping[str, Any], path: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt is not None:
            return self._formatted(fmt, path)
        low = schema.get("minLength", 0)
        high = schema.get("maxLength", max(low, 8) + 4)
        if high < low:
            raise UnsupportedSchemaError(f"{path}: maxLength {high} is below minLength {low}")
        length = self.rng.randint(max(low, min(high, 3)), min(high, max(low, 12)))
        return "".join(self.rng.choice(string.ascii_lowercase) for _ in range(length))

    def _formatted(self, fmt: str, path: str) -> str:
        day = _FIRST_DAY + timedelta(days=self.rng.randint(0, 6 * 365))
        moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(
            seconds=self.rng.randint(0, 86399)
        )
        formats = {
            "date": lambda: day.isoformat(),
            "date-time": lambda: moment.isoformat().replace("+00:00", "Z"),
            "time": lambda: moment.strftime("%H:%M:%SZ"),
            "email": lambda: f"user{self.rng.randint(1, 999)}@example.com",
            "uuid": lambda: "%08x-%04x-4%03x-8%03x-%012x" % tuple(
                self.rng.getrandbits(bits) for bits in (32, 16, 12, 12, 48)
            ),
        }
        if fmt not in formats:
            raise UnsupportedSchemaError(
                f"{path}: string format {fmt!r} is not supported (allowed: {', '.join(formats)}); "
                "list requests under serving.example_requests instead"
            )
        return formats[fmt]()

    def _bounds(self, schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
        """(low, low_exclusive, high, high_exclusive) with the tighter of inclusive and exclusive bounds."""
        low, low_excl, high, high_excl = schema.get("minimum"), False, schema.get("maximum"), False
        if "exclusiveMinimum" in schema and (low is None or schema["exclusiveMinimum"] >= low):
            low, low_excl = schema["exclusiveMinimum"], True
        if "exclusiveMaximum" in schema and (high is None or schema["exclusiveMaximum"] <= high):
            high, high_excl = schema["exclusiveMaximum"], True
        return low, low_excl, high, high_excl

    def _integer(self, schema: Mapping[str, Any], path: str, depth: int) -> int:
        low, low_excl, high, high_excl = self._bounds(schema)
        first = None if low is None else (math.floor(low) + 1 if low_excl else math.ceil(low))
        last = None if high is None else (math.ceil(high) - 1 if high_excl else math.floor(high))
        if first is None and last is None:
            first, last = 0, int(_SPAN)
        elif first is None:
            first = last - int(_SPAN)
        elif last is None:
            last = first + int(_SPAN)
        step = schema.get("multipleOf", 1)
        if not float(step).is_integer() or step < 1:
            raise UnsupportedSchemaError(f"{path}: only a whole-number multipleOf is supported, not {step}")
        step = int(step)
        k_first, k_last = -(-first // step), last // step
        if k_last < k_first:
            raise UnsupportedSchemaError(f"{path}: no integer satisfies the bounds {schema}")
        return self.rng.randint(k_first, k_last) * step

    def _number(self, schema: Mapping[str, Any], path: str, depth: int) -> float | int:
        if "multipleOf" in schema:
            return self._integer(schema, path, depth)
        low, low_excl, high, high_excl = self._bounds(schema)
        if low is None and high is None:
            low, high = 0.0, _SPAN
        elif low is None:
            low = high - _SPAN
        elif high is None:
            high = low + _SPAN
        if high < low or (high == low and (low_excl or high_excl)):
            raise UnsupportedSchemaError(f"{path}: no number satisfies the bounds {schema}")
        exact = low + (high - low) * self.rng.uniform(0.1, 0.9)
        rounded = round(exact, 3)
        # A short number reads better in logs; keep the exact one when rounding leaves the range.
        for candidate in (rounded, exact, (low + high) / 2):
            if (low < candidate or (not low_excl and low == candidate)) and (
                candidate < high or (not high_excl and candidate == high)
            ):
                return candidate
        raise UnsupportedSchemaError(f"{path}: no number satisfies the bounds {schema}")
