"""Render a spec's SQL template to (sql, bind parameters): every {{ expression }} becomes a placeholder.

Values never reach the SQL text, so no parameter can change the statement (no injection). Jinja's logic
({% if %}, {% for %}) still shapes the statement; it runs in the immutable sandbox.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, pass_context
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

_BOUND = "__mlprovider_bound_params__"  # the render's collector, a template variable only finalize uses
_PLACEHOLDER = "__mlprovider_placeholder__"


@pass_context
def _bind(context: Context, value: Any) -> str:
    # pass_context keeps Jinja from constant-folding literals at compile time: every value binds in order
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    context[_BOUND].append(value)
    return context[_PLACEHOLDER]


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, finalize=_bind, autoescape=False)


@lru_cache(maxsize=256)
def _template(sql: str) -> Any:
    return _ENV.from_string(sql)


def render(sql: str, variables: dict[str, Any], placeholder: str) -> tuple[str, list[Any]]:
    """Return the SQL with `placeholder` ('?', '%s'...) for each {{ expression }}, and their values in order."""
    bound: list[Any] = []
    try:
        text = _template(sql).render({**variables, _BOUND: bound, _PLACEHOLDER: placeholder})
    except TemplateSyntaxError as error:
        raise ValueError(f"SQL template line {error.lineno}: {error.message}") from None
    except UndefinedError as error:
        raise ValueError(f"SQL template: {error.message}; available: {', '.join(sorted(variables))}") from None
    return text, bound
