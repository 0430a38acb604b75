"""Ordering operators on a missing or null attribute: a constant answered without the
coercing path, the same answer as JavaScript's relational comparison (``null`` is 0)."""

from __future__ import annotations

from typing import Any

import pytest

from persona_sdk.rules import compile_condition
from persona_sdk.rules._js import js_less

OPERANDS: list[Any] = [-1, 0, 0.5, 18, "", "0", "a", "2020-01-01"]
OPS = ["$gt", "$gte", "$lt", "$lte"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("operand", OPERANDS)
def test_missing_and_null_answer_as_javascript(op: str, operand: Any) -> None:
    """``{"x": {op: operand}}`` on ``{}`` and on ``{"x": None}``, alone, fused with
    another field and as a numeric range, answers as JS ``null <op> operand``."""
    conditions: list[dict[str, Any]] = [
        {"x": {op: operand}},
        {"x": {op: operand}, "y": "on"},
    ]
    if isinstance(operand, (int, float)):
        other = "$lt" if op in ("$gt", "$gte") else "$gt"
        bound = operand + 100 if other == "$lt" else operand - 100
        conditions.append({"x": {op: operand, other: bound}})
    for cond in conditions:
        check = compile_condition(cond)
        want = all(_js(o, x) for o, x in cond["x"].items())
        for attrs in ({"y": "on"}, {"x": None, "y": "on"}):
            assert check(attrs) is want, (cond, attrs)


def _js(op: str, operand: Any) -> bool:
    # JS: a < b is LessThan(a, b) is true; a >= b is LessThan(a, b) is false
    if op == "$gt":
        return js_less(operand, None) is True
    if op == "$gte":
        return js_less(None, operand) is False
    if op == "$lt":
        return js_less(None, operand) is True
    return js_less(operand, None) is False


def test_null_coerces_to_zero_as_in_javascript() -> None:
    """A missing attribute compares as ``null`` (0): ``>= 0`` holds, ``> 0`` does not."""
    assert compile_condition({"x": {"$gte": 0}})({}) is True
    assert compile_condition({"x": {"$lte": -1}})({}) is False
    assert compile_condition({"x": {"$gt": 0}})({}) is False
    assert compile_condition({"x": {"$gt": 0, "$lt": 10}})({}) is False
    assert compile_condition({"x": {"$gte": 0, "$lte": 10}})({}) is True
