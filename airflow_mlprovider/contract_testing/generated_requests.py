"""Requests generated from a request schema: hypothesis-jsonschema's `from_schema`, working on current Hypothesis.

hypothesis-jsonschema 0.23.1 (the latest) draws object properties through Hypothesis's internal
`conjecture.utils.many(...).more()`; Hypothesis 6.170 replaced that with a context-managed iterator, and
every object schema then fails with "'many' object has no attribute 'more'". Until a release catches up,
its module gets a `many` with the old interface, built on public ConjectureData draws (only when needed).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class _LegacyMany:
    """The pre-6.170 `many`: more() says whether to draw another element, reject() takes the last one back."""

    def __init__(self, data: Any, min_size: int, max_size: float, average_size: float) -> None:
        from hypothesis.internal.conjecture.utils import _calc_p_continue

        self.data, self.min_size, self.max_size = data, min_size, max_size
        self.p_continue = _calc_p_continue(average_size - min_size, max_size - min_size)
        self.count = 0
        self.rejections = 0

    def more(self) -> bool:
        if self.count < self.min_size:
            more = True
        elif self.count >= self.max_size:
            more = False
        else:
            more = self.data.draw_boolean(self.p_continue)
        self.count += more
        return more

    def reject(self) -> None:
        self.count -= 1
        self.rejections += 1
        if self.rejections > max(3, 2 * self.count):
            self.data.mark_invalid()  # as the old many did: too many rejections make the example invalid


def request_strategy(schema: dict[str, Any]) -> Any:
    """A Hypothesis strategy of documents valid against `schema`."""
    from hypothesis.internal.conjecture import utils
    from hypothesis_jsonschema import _from_schema, from_schema

    if not hasattr(utils.many, "more") and _from_schema.cu is utils:
        _from_schema.cu = SimpleNamespace(**{**vars(utils), "many": _LegacyMany})
    return from_schema(schema)
