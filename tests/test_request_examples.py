"""Generated health-check requests: every example validates against its schema, deterministically."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from airflow_mlprovider.request_examples import UnsupportedSchemaError, generate

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def assert_valid(schema: dict, examples: list) -> None:
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    for example in examples:
        errors = [e.message for e in validator.iter_errors(example)]
        assert not errors, f"{example!r} violates the schema: {errors}"


def _bounded(kind: str) -> st.SearchStrategy[dict]:
    number = st.integers(-1000, 1000) if kind == "integer" else st.floats(-1e6, 1e6, allow_nan=False)

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        schema: dict = {"type": kind}
        low, high = sorted((draw(number), draw(number)))
        if draw(st.booleans()):
            schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
        if draw(st.booleans()):
            key = "exclusiveMaximum" if draw(st.booleans()) else "maximum"
            # An empty open interval has no valid value: keep the family satisfiable.
            schema[key] = high if high > low + 2 else low + 2
        if kind == "integer" and draw(st.booleans()):
            schema["multipleOf"] = draw(st.integers(1, 3))
        return schema

    return build()


@st.composite
def _string(draw: st.DrawFn) -> dict:
    choice = draw(st.sampled_from(["plain", "lengths", "date", "date-time", "email", "uuid", "time"]))
    if choice == "plain":
        return {"type": "string"}
    if choice == "lengths":
        low = draw(st.integers(0, 20))
        return {"type": "string", "minLength": low, "maxLength": low + draw(st.integers(0, 10))}
    return {"type": "string", "format": choice}


LEAVES = st.one_of(
    _bounded("integer"),
    _bounded("number"),
    _string(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": ["number", "null"]}),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=5)), min_size=1, max_size=4, unique=True).map(
        lambda values: {"enum": values}
    ),
    st.one_of(st.integers(), st.text(max_size=5), st.booleans()).map(lambda v: {"const": v}),
)


def _composite(children: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    @st.composite
    def obj(draw: st.DrawFn) -> dict:
        properties = draw(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), children, max_size=5))
        required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    @st.composite
    def arr(draw: st.DrawFn) -> dict:
        low = draw(st.integers(0, 3))
        return {"type": "array", "items": draw(children), "minItems": low, "maxItems": low + draw(st.integers(0, 3))}

    any_of = st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches})
    return st.one_of(obj(), arr(), any_of)


SCHEMAS = st.recursive(LEAVES, _composite, max_leaves=12)
REQUEST_SCHEMAS = _composite(SCHEMAS).filter(lambda s: s.get("type") == "object")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(schema=SCHEMAS, seed=st.integers(0, 2**16))
def test_every_generated_value_validates_against_its_schema(schema: dict, seed: int) -> None:
    assert_valid(schema, generate(schema, n=5, seed=seed))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(schema=REQUEST_SCHEMAS)
def test_request_examples_are_objects_and_deterministic(schema: dict) -> None:
    examples = generate(schema, n=5, seed=0)
    assert len(examples) == 5
    assert all(isinstance(e, dict) for e in examples)
    assert examples == generate(schema, n=5, seed=0)


def test_first_example_carries_every_property_and_later_ones_keep_required() -> None:
    schema = {
        "type": "object",
        "required": ["store_id", "day"],
        "properties": {
            "store_id": {"type": "integer", "minimum": 1, "maximum": 50},
            "day": {"type": "string", "format": "date"},
            "promo": {"type": "boolean"},
            "channel": {"enum": ["web", "shop"]},
            "basket": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1, "maxItems": 3},
        },
        "$defs": {
            "item": {
                "type": "object",
                "required": ["sku", "price"],
                "properties": {"sku": {"type": "string", "minLength": 4}, "price": {"type": "number", "exclusiveMinimum": 0}},
                "additionalProperties": False,
            }
        },
    }
    examples = generate(schema, n=8, seed=3)
    assert_valid(schema, examples)
    assert set(examples[0]) == {"store_id", "day", "promo", "channel", "basket"}
    assert all({"store_id", "day"} <= set(e) for e in examples)
    assert 1 <= examples[0]["store_id"] <= 50
    assert all(len(e["basket"]) >= 1 for e in examples if "basket" in e)


def test_different_seeds_give_different_examples() -> None:
    schema = {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}
    assert generate(schema, n=3, seed=0) != generate(schema, n=3, seed=1)


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "string", "pattern": "^[A-Z]{3}$"}, "keyword 'pattern' is not supported"),
        ({"type": "string", "format": "ipv6"}, "string format 'ipv6' is not supported (allowed: date,"),
        ({"$ref": "other.json#/x"}, "only local $refs"),
        ({"$ref": "#/$defs/missing"}, "points to nothing"),
        ({"type": "integer", "minimum": 3, "maximum": 2}, "no integer satisfies the bounds"),
        ({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}, "no number satisfies the bounds"),
        ({"type": "number", "multipleOf": 0.1}, "only a whole-number multipleOf"),
        ({"$ref": "#"}, "nests deeper than"),
        (False, "accepts no value"),
    ],
)
def test_unsupported_schemas_say_what_to_do(schema: dict | bool, fragment: str) -> None:
    with pytest.raises(UnsupportedSchemaError) as raised:
        generate(schema, n=1)
    assert fragment in str(raised.value)
