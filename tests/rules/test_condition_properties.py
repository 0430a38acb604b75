"""Property tests: compiled conditions agree with a plain reference interpreter.

The interpreter below walks the condition on every call, straight from the semantics in
``shared/conformance/README.md``, over a value domain (small numbers, ASCII strings, lists,
null, booleans) where JS coercions are easy to state. Hypothesis then searches for any
condition/attributes pair on which the compiled closures disagree with it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from persona_sdk.rules import compile_condition

# ---- the reference interpreter ------------------------------------------------------------


def ref_str(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return ",".join("" if x is None else ref_str(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


def ref_num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, (bool, int, float)):
        return float(v)
    if isinstance(v, list):
        return ref_num(ref_str(v))
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return 0.0
        try:
            return float(s)
        except ValueError:
            return math.nan
    return math.nan


def ref_less(a: Any, b: Any) -> bool | None:
    a = ref_str(a) if isinstance(a, (list, dict)) else a
    b = ref_str(b) if isinstance(b, (list, dict)) else b
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    x, y = ref_num(a), ref_num(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return x < y


def ref_truthy(v: Any) -> bool:
    if v is None or v is False or v == "":
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0 and not math.isnan(v)
    return True


def same(a: Any, b: Any) -> bool:
    """JS `===` / SameValueZero for scalars; arrays and objects are never the same."""
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def ref_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def ref_in(actual: Any, expected: list[Any]) -> bool:
    if isinstance(actual, list):
        return any(any(same(x, e) for e in expected) for x in actual)
    return any(same(actual, e) for e in expected)


def ref_get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return None
    return obj


def ref_operator(op: str, actual: Any, expected: Any) -> bool:
    if op == "$eq":
        return same(actual, expected)
    if op == "$ne":
        return not same(actual, expected)
    if op == "$lt":
        return ref_less(actual, expected) is True
    if op == "$gt":
        return ref_less(expected, actual) is True
    if op == "$lte":
        return ref_less(expected, actual) is False
    if op == "$gte":
        return ref_less(actual, expected) is False
    if op == "$in":
        return ref_in(actual, expected)
    if op == "$nin":
        return not ref_in(actual, expected)
    if op == "$exists":
        return (actual is not None) if expected else (actual is None)
    if op == "$type":
        return bool(ref_type(actual) == expected)
    if op == "$not":
        return not ref_value(expected, actual)
    if op == "$size":
        return isinstance(actual, list) and ref_value(expected, len(actual))
    if op == "$elemMatch":
        return isinstance(actual, list) and any(
            ref_truthy(x) and ref_value(expected, x) for x in actual
        )
    if op == "$all":
        return isinstance(actual, list) and all(
            any(ref_value(e, x) for x in actual) for e in expected
        )
    if op == "$regex":
        return re.search(expected, ref_str(actual)) is not None
    raise AssertionError(op)


def ref_value(cond: Any, actual: Any) -> bool:
    if isinstance(cond, str):
        return ref_str(actual) == cond
    if isinstance(cond, bool):
        return actual is not None and ref_truthy(actual) == cond
    if isinstance(cond, (int, float)):
        return ref_num(actual) == cond
    if cond is None:
        return actual is None
    return all(ref_operator(op, actual, arg) for op, arg in cond.items())


def ref_condition(obj: Any, cond: dict[str, Any]) -> bool:
    for key, value in cond.items():
        if key == "$or":
            ok = not value or any(ref_condition(obj, c) for c in value)
        elif key == "$nor":
            ok = not (not value or any(ref_condition(obj, c) for c in value))
        elif key == "$and":
            ok = all(ref_condition(obj, c) for c in value)
        elif key == "$not":
            ok = not ref_condition(obj, value)
        else:
            ok = ref_value(value, ref_get(obj, key))
        if not ok:
            return False
    return True


# ---- strategies ---------------------------------------------------------------------------

STRINGS = ["", "a", "A", "b", "Z", "abc", "8", "10", "-3", "1.5", " 7", "true", "null"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 12),
    st.sampled_from([1.5, -0.5, 2.0, 0.0]),
    st.sampled_from(STRINGS),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
attributes = st.fixed_dictionaries(
    {},
    optional={
        "a": values,
        "b": values,
        "c": values,
        "n": st.one_of(st.fixed_dictionaries({}, optional={"x": values}), scalars),
    },
)
PATHS = ["a", "b", "c", "n.x", "zz"]
REGEXES = ["^a", "b$", "1", "^$", "[0-9]+", "(ab|Z)"]


def operator_objects(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    ops = st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), scalars),
        st.tuples(
            st.sampled_from(["$lt", "$lte", "$gt", "$gte"]),
            st.one_of(st.integers(-5, 12), st.sampled_from([1.5, *STRINGS])),
        ),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, max_size=4)),
        st.tuples(st.just("$exists"), st.booleans()),
        st.tuples(
            st.just("$type"),
            st.sampled_from(["string", "number", "boolean", "array", "object", "null"]),
        ),
        st.tuples(st.just("$regex"), st.sampled_from(REGEXES)),
        st.tuples(st.sampled_from(["$not", "$size"]), inner),
        st.tuples(st.just("$elemMatch"), inner.filter(lambda x: isinstance(x, dict))),
        st.tuples(st.just("$all"), st.lists(scalars, max_size=3)),
    )
    return st.lists(ops, min_size=1, max_size=3).map(dict)


value_conditions = st.recursive(
    scalars.filter(lambda s: not isinstance(s, float)),
    operator_objects,
    max_leaves=6,
)


def conditions_from(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    logical = st.one_of(
        st.tuples(st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3)),
        st.tuples(st.just("$not"), inner),
    )
    field = st.tuples(st.sampled_from(PATHS), value_conditions)
    return st.lists(st.one_of(field, logical), max_size=3).map(dict)


conditions = st.recursive(
    st.dictionaries(st.sampled_from(PATHS), value_conditions, max_size=3),
    conditions_from,
    max_leaves=8,
)


# ---- properties ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(condition=conditions, attrs=st.lists(attributes, min_size=1, max_size=5))
def test_compiled_condition_equals_reference(condition: Any, attrs: list[Any]) -> None:
    """For any condition over the operator subset, compiled == interpreted, for any attributes."""
    compiled = compile_condition(condition)
    for a in attrs:
        assert compiled(a) is ref_condition(a, condition), (condition, a)


@settings(max_examples=100, deadline=None)
@given(condition=conditions, attrs=attributes)
def test_compiling_twice_is_deterministic(condition: Any, attrs: Any) -> None:
    """Compiling does not depend on state: two compilations answer the same."""
    assert compile_condition(condition)(attrs) is compile_condition(condition)(attrs)


@settings(max_examples=100, deadline=None)
@given(condition=conditions, attrs=attributes)
def test_not_inverts(condition: Any, attrs: Any) -> None:
    """`{"$not": c}` is exactly the negation of `c`."""
    assert compile_condition({"$not": condition})(attrs) is not compile_condition(condition)(attrs)
