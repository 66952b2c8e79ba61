from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlprovider.sql_template import render

END = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


def test_every_expression_becomes_a_placeholder_with_its_value_in_order() -> None:
    sql, params = render(
        "SELECT {{ 'literal' }} FROM t WHERE d < {{ data_interval_end }} AND n > {{ params.n + 1 }} AND m = {{ model }}",
        {"data_interval_end": END, "params": {"n": 4}, "model": "m1"},
        "%s",
    )
    assert sql == "SELECT %s FROM t WHERE d < %s AND n > %s AND m = %s"
    assert params == ["literal", END, 5, "m1"]


def test_logic_shapes_the_statement_and_loops_bind_each_value() -> None:
    template = "SELECT * FROM t{% if params.stores %} WHERE store IN ({% for s in params.stores %}{% if not loop.first %}, {% endif %}{{ s }}{% endfor %}){% endif %}"
    assert render(template, {"params": {"stores": ["a", "b"]}}, "?") == ("SELECT * FROM t WHERE store IN (?, ?)", ["a", "b"])
    assert render(template, {"params": {"stores": []}}, "?") == ("SELECT * FROM t", [])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "'nope' is undefined; available: params"),
        ("{{ params.nope }}", "has no attribute 'nope'"),
        ("{% if %}", "line 1"),
    ],
)
def test_template_errors_are_clear(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(template, {"params": {}}, "?")


def test_the_sandbox_refuses_mutation_and_private_attributes() -> None:
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        render("{{ params.stores.append(1) }}", {"params": {"stores": []}}, "?")
    with pytest.raises(SecurityError):
        render("{{ model.__class__.__mro__ }}", {"model": "m"}, "?")


@given(st.text(), st.text())
def test_no_parameter_value_changes_the_sql_text(first: str, second: str) -> None:
    template = "SELECT * FROM t WHERE a = {{ params.a }} AND b LIKE {{ params.b ~ '%' }}"
    sql, params = render(template, {"params": {"a": first, "b": second}}, "?")
    assert sql == "SELECT * FROM t WHERE a = ? AND b LIKE ?"
    assert params == [first, second + "%"]


@given(st.dictionaries(st.text(min_size=1), st.one_of(st.text(), st.integers(), st.none(), st.floats(allow_nan=False))))
def test_arbitrary_values_pass_through_unchanged_as_parameters(values: dict) -> None:
    keys = sorted(values)
    template = " AND ".join(f"c{i} = {{{{ params[k{i}] }}}}" for i in range(len(keys)))
    variables = {"params": values, **{f"k{i}": key for i, key in enumerate(keys)}}
    sql, params = render(template, variables, "?")
    assert sql == " AND ".join(f"c{i} = ?" for i in range(len(keys)))
    assert params == [values[key] for key in keys]
