"""Operator semantics beyond the GrowthBook suite: extensions, JS coercions, paths, fast paths."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest

from persona_sdk.rules import compile_condition, compile_path, padded_version
from persona_sdk.rules._js import js_json, js_number, js_str, number_to_str
from persona_sdk.rules._paths import get_path


def ok(condition: dict[str, Any], attributes: Any, **kw: Any) -> bool:
    return compile_condition(condition, **kw)(attributes)


def test_none_and_empty_condition_always_pass() -> None:
    """`None` and `{}` compile to a condition that passes for any attributes."""
    assert compile_condition(None)({}) is True
    assert compile_condition({})({"x": 1}) is True


def test_results_are_real_booleans() -> None:
    """A compiled condition returns `True`/`False`, never a truthy stand-in."""
    cond = compile_condition({"a": {"$in": ["x"]}, "b": {"$gt": 1}, "c.d": "y"})
    assert cond({"a": "x", "b": 2, "c": {"d": "y"}}) is True
    assert cond({"a": "x", "b": 0, "c": {"d": "y"}}) is False


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("$notRegex", "Android Mobile", False),
        ("$notRegex", "Desktop", True),
        ("$notRegex", "android mobile", True),
        ("$notRegexi", "android mobile", False),
        ("$notRegexi", "Desktop", True),
    ],
)
def test_not_regex_extension(op: str, value: str, expected: bool) -> None:
    """`$notRegex`/`$notRegexi` (from GrowthBook's Python SDK) negate `$regex`/`$regexi`."""
    assert ok({"ua": {op: "Mobile|Tablet"}}, {"ua": value}) is expected


def test_regex_tests_the_js_string_form_of_any_value() -> None:
    """Like JS `RegExp.test`, a non-string value is matched as `String(value)`."""
    assert ok({"n": {"$regex": "^1$"}}, {"n": 1.0}) is True
    assert ok({"n": {"$regex": "^null$"}}, {}) is True
    assert ok({"b": {"$regex": "^true$"}}, {"b": True}) is True
    assert ok({"a": {"$regex": "^1,2$"}}, {"a": [1, 2]}) is True


@pytest.mark.parametrize(
    "pattern",
    ["@example\\.com$", "^ping", "^exact$", "middle", "", "^$"],
)
@pytest.mark.parametrize(
    "value", ["bob@example.com", "ping pong", "exact", "a middle b", "", "x\n"]
)
def test_literal_regex_fast_path_matches_the_regex(pattern: str, value: str) -> None:
    """Plain-literal patterns use `str` methods, with exactly the regex's (JS) answer."""
    js_like = re.compile(pattern.replace("$", "\\Z"))
    expected = js_like.search(value) is not None
    assert ok({"v": {"$regex": pattern}}, {"v": value}) is expected


def test_dollar_matches_only_at_the_very_end() -> None:
    """JS `$` does not match before a trailing newline (Python's `$` would)."""
    assert ok({"v": {"$regex": "a$"}}, {"v": "a\n"}) is False
    assert ok({"v": {"$regex": "(a|b)$"}}, {"v": "b\n"}) is False


@pytest.mark.parametrize(
    ("cond", "attrs", "expected"),
    [
        ({"tags.0": "a"}, {"tags": ["a", "b"]}, True),
        ({"tags.1": "b"}, {"tags": ("a", "b")}, True),
        ({"tags.2": {"$exists": True}}, {"tags": ["a", "b"]}, False),
        ({"tags.01": {"$exists": True}}, {"tags": ["a", "b"]}, False),
        ({"tags.length": 2}, {"tags": ["a", "b"]}, True),
        ({"a.b.c.d": 1}, {"a": {"b": {"c": {"d": 1}}}}, True),
        ({"a.b.c.d": 1}, {"a": {"b": None}}, False),
        ({"a.b.c": {"$exists": False}}, {"a": {"b": "str"}}, True),
        ({"a.b": 1}, {"a": MappingProxyType({"b": 1})}, True),
        ({"name.length": {"$exists": True}}, {"name": "abc"}, False),
    ],
)
def test_dotted_paths(cond: dict[str, Any], attrs: dict[str, Any], expected: bool) -> None:
    """Dotted paths step through objects and array indices; anything else yields null."""
    assert ok(cond, attrs) is expected


def test_get_path_and_compile_path_agree() -> None:
    """`get_path` and `compile_path` read the same values, `None` for any missing step."""
    attrs = {"context": {"page": {"path": "/cart"}, "ids": [7, 8]}, "event": "Viewed"}
    for dotted, expected in [
        ("event", "Viewed"),
        ("context.page.path", "/cart"),
        ("context.ids.1", 8),
        ("context.ids.length", 2),
        ("context.page.nope", None),
        ("missing.deep.path", None),
    ]:
        assert get_path(attrs, dotted) == expected
        assert compile_path(dotted)(attrs) == expected


def test_attributes_may_be_any_mapping() -> None:
    """Attributes need only be a `Mapping` (read-only views, ordered dicts...)."""
    cond = compile_condition({"country": {"$in": ["FR"]}, "age": {"$gte": 18}, "p.q": 1})
    attrs = {"country": "FR", "age": 20, "p": OrderedDict(q=1)}
    assert cond(MappingProxyType(attrs)) is True


def test_membership_is_strict_about_types() -> None:
    """`$in` matches with JS SameValueZero: `1` is not `"1"` nor `true`; `1.0` is `1`."""
    cond = compile_condition({"v": {"$in": [1, "2", True, None]}})
    assert cond({"v": 1.0}) is True
    assert cond({"v": "1"}) is False
    assert cond({"v": 2}) is False
    assert cond({"v": True}) is True
    assert cond({"v": False}) is False
    assert cond({}) is True  # a missing attribute is null, and null is in the list
    nan = compile_condition({"v": {"$in": [math.nan]}}, strict=False)
    assert nan({"v": math.nan}) is True
    assert compile_condition({"v": {"$in": [[1]]}})({"v": [1]}) is False


def test_case_insensitive_membership_and_all() -> None:
    """`$ini`/`$nini`/`$alli` lower-case strings on both sides, leaving other types strict."""
    assert ok({"c": {"$ini": ["fr", 1]}}, {"c": "FR"}) is True
    assert ok({"c": {"$ini": ["fr", 1]}}, {"c": 1}) is True
    assert ok({"c": {"$nini": ["fr"]}}, {"c": ["DE", "Fr"]}) is False
    assert ok({"t": {"$alli": ["A", {"$gt": 5}]}}, {"t": ["a", 7]}) is True
    assert ok({"t": {"$alli": ["A", {"$gt": 5}]}}, {"t": ["a", 3]}) is False


def test_all_elements_are_conditions() -> None:
    """Each `$all` element is itself a value condition, with the coercing literal rules."""
    assert ok({"t": {"$all": [{"$regex": "^a"}, 2]}}, {"t": ["abc", "2"]}) is True
    assert ok({"t": {"$all": []}}, {"t": []}) is True
    assert ok({"t": {"$all": []}}, {"t": "x"}) is False


def test_elem_match_skips_falsy_items_and_reads_item_paths() -> None:
    """`$elemMatch` skips falsy items; a plain condition reads paths inside each item."""
    assert ok({"n": {"$elemMatch": {"$lt": 1}}}, {"n": [0, None, "", False, 5]}) is False
    assert ok({"n": {"$elemMatch": {"$exists": False}}}, {"n": [None]}) is False
    assert ok({"m": {"$elemMatch": {"0": "x"}}}, {"m": [["x", "y"]]}) is True
    assert ok({"m": {"$elemMatch": {"length": 2}}}, {"m": [["x", "y"]]}) is True
    assert ok({"m": {"$elemMatch": {"a": None}}}, {"m": ["text"]}) is True


def test_size_takes_a_nested_condition() -> None:
    """`$size` applies its operand as a value condition to the array length."""
    assert ok({"t": {"$size": {"$gte": 1, "$lte": 2}}}, {"t": [1, 2]}) is True
    assert ok({"t": {"$size": {"$gte": 1, "$lte": 2}}}, {"t": [1, 2, 3]}) is False


@pytest.mark.parametrize(
    ("ops", "value", "expected"),
    [
        ({"$gt": 1, "$lt": 5}, 5, False),
        ({"$gte": 1, "$lte": 5}, 5, True),
        ({"$gte": 1, "$lt": 5}, 1, True),
        ({"$gt": 1, "$lte": 5}, 1, False),
        ({"$gt": 1, "$lt": 5}, "3", True),
        ({"$gt": 1, "$lt": 5}, None, False),
        ({"$gte": -1, "$lte": 5}, None, True),
        ({"$gt": 1, "$lt": 5}, math.nan, False),
        ({"$gt": 1, "$lt": 5}, True, False),
        ({"$gte": 1, "$lt": 5}, True, True),
        ({"$gt": 1, "$lt": 5}, [3], True),
    ],
)
def test_numeric_ranges_coerce_like_js(ops: dict[str, Any], value: Any, expected: bool) -> None:
    """Between-style ranges follow JS: null is 0, `"3"` is 3, `true` is 1, `[3]` is 3."""
    assert ok({"v": ops}, {"v": value}) is expected


def test_string_ordering_is_by_utf16_code_unit() -> None:
    """String comparison orders by UTF-16 code units, so an emoji sorts below U+FFFD."""
    assert ok({"s": {"$gt": "\ufffd"}}, {"s": "😀"}) is False
    assert ok({"s": {"$lt": "\ufffd"}}, {"s": "😀"}) is True
    assert ok({"s": {"$lt": "b"}}, {"s": "a"}) is True


def test_literal_equality_coerces_like_js() -> None:
    """Literal strings/numbers compare through `String()`/`Number()`; booleans by truthiness."""
    assert ok({"v": "1"}, {"v": 1.0}) is True
    assert ok({"v": "null"}, {}) is True
    assert ok({"v": 8}, {"v": " 8 "}) is True
    assert ok({"v": 0}, {}) is True
    assert ok({"v": 26}, {"v": "0x1a"}) is True
    assert ok({"v": 1000}, {"v": "1_000"}) is False
    assert ok({"v": True}, {"v": []}) is True
    assert ok({"v": False}, {"v": 0}) is True
    assert ok({"v": False}, {}) is False


def test_literal_lists_and_objects_compare_as_json() -> None:
    """Lists/objects compare by `JSON.stringify`: order-sensitive, and `1.0` equals `1`."""
    assert ok({"v": [1, "a"]}, {"v": [1.0, "a"]}) is True
    assert ok({"v": {"a": 1, "b": 2}}, {"v": {"b": 2, "a": 1}}) is False
    assert ok({"v": {}}, {"v": {}}) is True
    assert ok({"v": {}}, {"v": []}) is False


def test_eq_and_ne_are_strict() -> None:
    """`$eq`/`$ne` never coerce: `"8"` is not 8, `true` is not 1, missing is null."""
    assert ok({"v": {"$eq": 8}}, {"v": "8"}) is False
    assert ok({"v": {"$eq": 1}}, {"v": True}) is False
    assert ok({"v": {"$eq": 1}}, {"v": 1.0}) is True
    assert ok({"v": {"$eq": None}}, {}) is True
    assert ok({"v": {"$ne": "x"}}, {}) is True
    assert ok({"v": {"$ne": [1]}}, {"v": [1]}, strict=False) is True


def test_type_and_exists() -> None:
    """`$type` names JSON types (a tuple is an array); `$exists` tests for non-null."""
    assert ok({"v": {"$type": "array"}}, {"v": (1,)}) is True
    assert ok({"v": {"$type": "number"}}, {"v": True}) is False
    assert ok({"v": {"$type": "null"}}, {}) is True
    assert ok({"v": {"$exists": 1}}, {"v": 0}) is True
    assert ok({"v": {"$exists": 0}}, {"v": None}) is True


def test_logical_operators() -> None:
    """`$or` of nothing passes, `$nor` of nothing fails (as in JS), `$not` negates."""
    assert ok({"$or": []}, {}) is True
    assert ok({"$nor": []}, {}) is False
    assert ok({"$and": [{"a": 1}, {"$not": {"b": 2}}]}, {"a": 1, "b": 3}) is True
    assert ok({"$or": [{"a": 1}, {"b": 2}], "c": 3}, {"b": 2, "c": 3}) is True
    assert ok({"$nor": [{"a": 1}, {"b": 2}]}, {"b": 2}) is False


def test_saved_groups_are_bound_at_compile_time() -> None:
    """`$inGroup` reads the saved group given to `compile_condition`, strictly typed."""
    groups = {"beta": ["u1", "u2", 3]}
    cond = compile_condition({"id": {"$inGroup": "beta"}}, saved_groups=groups)
    assert cond({"id": "u2"}) is True
    assert cond({"id": "3"}) is False
    assert cond({"id": ["x", "u1"]}) is True
    out = compile_condition({"id": {"$notInGroup": "beta"}}, saved_groups=groups)
    assert out({"id": "u9"}) is True


@pytest.mark.parametrize(
    ("version", "padded"),
    [
        ("1.2.3", "    1-    2-    3-~"),
        ("v1.2.3+build.7", "    1-    2-    3-~"),
        ("1.2.3-rc.1", "    1-    2-    3-rc-    1"),
        (10, "   10"),
        (None, "    0"),
        ("", "    0"),
    ],
)
def test_padded_version(version: Any, padded: str) -> None:
    """Versions pad numeric parts to width 5 and mark a bare x.y.z with `~` (sorts last)."""
    assert padded_version(version) == padded


def test_version_operators_accept_numbers() -> None:
    """A numeric version operand or attribute is read as its string."""
    assert ok({"v": {"$vgte": 2}}, {"v": "2.0"}) is True
    assert ok({"v": {"$vlt": "10.0.0"}}, {"v": 9}) is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123.456, "123.456"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
        (2**70, "1.1805916207174113e+21"),
    ],
)
def test_number_to_string_matches_js(value: float, text: str) -> None:
    """Numbers stringify as JS `String(n)` does."""
    assert number_to_str(value) == text


def test_js_conversions() -> None:
    """`String()`, `Number()` and `JSON.stringify` follow ECMAScript for JSON values."""
    assert js_str([1, None, [2, 3]]) == "1,,2,3"
    assert js_str({"a": 1}) == "[object Object]"
    assert js_number("  -1.5e2 ") == -150
    assert js_number("Infinity") == math.inf
    assert math.isnan(js_number("inf"))
    assert js_number([]) == 0
    assert js_number("0b101") == 5
    assert math.isnan(js_number({}))
    assert js_json({"a": [1.0, None, 'é\n"', math.nan]}) == '{"a":[1,null,"é\\n\\"",null]}'
