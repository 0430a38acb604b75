"""The generated per-condition functions: safe against hostile input, no shared state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from persona_sdk.rules import _codegen, compile_condition

HOSTILE = "x'\"\n) or __import__('os') or exec('pwned') #{0}"  # no "." (a path separator)


def js_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\^$.*+?()[]{}|/" else ch for ch in text)


def test_keys_and_operands_never_reach_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys, operands and regexes are passed as values: the generated source only ever
    contains identifiers made by the compiler, whatever the condition holds."""
    sources: list[str] = []
    real = _codegen._factory.__wrapped__

    def spy(source: str) -> Callable[..., Any]:
        sources.append(source)
        return real(source)

    monkeypatch.setattr(_codegen, "_factory", spy)
    cond = compile_condition(
        {
            HOSTILE: HOSTILE,
            f"a.{HOSTILE}": {"$in": [HOSTILE]},
            "r": {"$regex": "^" + js_escape(HOSTILE) + "$"},
            "n": {"$gte": 1, "$lt": 5},
        }
    )
    attrs = {HOSTILE: HOSTILE, "a": {HOSTILE: HOSTILE}, "r": HOSTILE, "n": 3}
    assert cond(attrs) is True
    assert cond({**attrs, "n": 5}) is False
    assert sources
    # the same condition as the expression generated features inline (a dotted path has
    # none: the hostile keys without dots)
    flat = compile_condition({HOSTILE: HOSTILE, "r": {"$regex": "^" + js_escape(HOSTILE) + "$"}})
    expression = _codegen.inline_test(flat, lambda value: "k", "attrs")
    assert expression is not None
    for source in [*sources, expression]:
        assert "pwned" not in source
        assert "'" not in source
        assert '"' not in source


def test_same_shape_conditions_do_not_share_constants() -> None:
    """Two conditions of the same shape reuse one generated factory, each with its own values."""
    fr = compile_condition({"country": {"$in": ["FR"]}, "age": {"$gte": 18}})
    de = compile_condition({"country": {"$in": ["DE"]}, "age": {"$gte": 30}})
    assert fr({"country": "FR", "age": 20}) is True
    assert de({"country": "FR", "age": 40}) is False
    assert de({"country": "DE", "age": 20}) is False
    assert de({"country": "DE", "age": 30}) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [(20, True), (17.5, False), ("20", True), (True, False), (None, False), ([20], True)],
)
def test_inline_fast_path_falls_back_to_js_coercion(value: Any, expected: bool) -> None:
    """Values outside an inlined fast path (strings, booleans, null, arrays) still get the
    operator's full JS semantics."""
    assert compile_condition({"age": {"$gte": 18}, "c": "x"})({"age": value, "c": "x"}) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("FR", True), ("fr", False), (["DE", "FR"], True), (None, False), (1, False)],
)
def test_inline_membership_falls_back_for_arrays(value: Any, expected: bool) -> None:
    """`$in` inlines a set look-up for strings and still intersects array values."""
    cond = compile_condition({"c": {"$in": ["FR", "BE"]}, "d": {"$exists": False}})
    assert cond({"c": value}) is expected


def _namer(names: dict[str, Any]) -> Callable[[Any], str]:
    # an inline_test ``const``: each operand under a new name in ``names``
    def const(value: Any) -> str:
        names[f"k{len(names)}"] = value
        return f"k{len(names) - 1}"

    return const


def test_inline_expressions_decide_as_the_functions() -> None:
    """A fused condition's expression form (what the generated features inline) passes and
    fails exactly where the function does, JS coercions included; a dotted path has none."""
    specs: list[dict[str, Any]] = [
        {"country": "FR", "age": {"$gte": 18}},
        {"country": {"$in": ["FR", "US"]}, "age": {"$gt": 1, "$lt": 50}},
        {"plan": "pro", "email": {"$regex": "@example\\.com$"}},
        {"age": 20, "ok": True},
        {"country": "FR", "$or": [{"age": {"$lt": 18}}, {"plan": "pro"}]},
        {"missing": {"$exists": False}, "email": {"$ne": "x"}},
    ]
    visitors: list[dict[str, Any]] = [
        {},
        {"country": "FR", "age": 18},
        {"country": "FR", "age": "18", "plan": "pro"},
        {"country": "US", "age": 17.5, "plan": "pro", "email": "a@example.com", "ok": True},
        {"country": 1, "age": None, "plan": None, "email": 3, "ok": 1},
        {"country": "FR", "age": 20, "ok": True, "missing": None},
        {"age": [20], "missing": 0, "email": "x"},
    ]
    for spec in specs:
        cond = compile_condition(spec)
        names: dict[str, Any] = {}
        expression = _codegen.inline_test(cond, _namer(names), "attrs")
        assert expression is not None, spec
        for attrs in visitors:
            got = eval(expression, dict(names), {"attrs": attrs})
            assert bool(got) is cond(attrs), (spec, attrs)
    assert _codegen.inline_test(compile_condition({"a.b": 1}), str, "attrs") is None
