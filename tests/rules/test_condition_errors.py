"""Bad conditions: every problem is reported at once, each with its path; lenient mode."""

from __future__ import annotations

from typing import Any

import pytest

from persona_sdk import ConfigError
from persona_sdk.rules import check_condition, compile_condition


def errors_of(condition: Any, **kw: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        compile_condition(condition, **kw)
    return info.value.errors


def test_unknown_operator_names_the_nested_path() -> None:
    """An unknown operator is reported with the caller's path plus its place in the condition."""
    cond = {"$and": [{"a": 1}, {"country": {"$foo": 1}}]}
    assert errors_of(cond, path="tags[2].trigger") == (
        'tags[2].trigger.$and[1].country: unknown operator "$foo"',
    )


def test_every_problem_is_listed() -> None:
    """All problems in one condition are collected into one `ConfigError`, in order."""
    cond = {
        "email": {"$regex": "("},
        "$or": [{"a": {"$in": "x"}}, "not a condition"],
        "$nor": {"b": 1},
        "tags": {"$elemMatch": {"$size": {"$bogus": 1}}},
        "kind": {"$type": "integer"},
    }
    errors = errors_of(cond, path="features.x.rules[0].condition")
    assert len(errors) == 6
    assert errors[0].startswith('features.x.rules[0].condition.email: invalid regex "(": ')
    assert errors[1:] == (
        "features.x.rules[0].condition.$or[0].a: $in expects a list, got string",
        "features.x.rules[0].condition.$or[1]: expected a condition object, got string",
        "features.x.rules[0].condition.$nor: $nor expects a list of conditions, got an object",
        'features.x.rules[0].condition.tags.$elemMatch.$size: unknown operator "$bogus"',
        "features.x.rules[0].condition.kind: $type expects one of string, number, boolean, "
        'array, object, null, got "integer"',
    )
    with pytest.raises(ConfigError) as info:
        compile_condition(cond)
    assert str(info.value).count("\n") == 6  # a header line, then one line per problem


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ([{"a": 1}], "condition: expected a condition object, got a list"),
        ({"$and": {"a": 1}}, "condition.$and: $and expects a list of conditions, got an object"),
        ({"$not": [1]}, "condition.$not: expected a condition object, got a list"),
        ({"a": {"$all": "x"}}, "condition.a: $all expects a list, got string"),
        ({"a": {"$elemMatch": 3}}, "condition.a: $elemMatch expects an object, got number"),
        ({"a": {"$regex": 3}}, "condition.a: $regex expects a pattern string, got number"),
        ({"a": {"$gt": None}}, "condition.a: $gt expects a number or a string, got null"),
        ({"a": {"$vgt": [1]}}, "condition.a: $vgt expects a version string, got a list"),
        (
            {"a": {"$eq": [1]}},
            "condition.a: $eq compares scalars; use a literal list or object for deep equality",
        ),
        ({"a": {"$in": [1], "b": 2}}, "condition.a: mixes operators ($in) with plain keys"),
        (
            {"a": {"$or": [{"b": 1}]}},
            'condition.a: unknown operator "$or" ($or combines conditions, not values)',
        ),
        (
            {"a": {"$inGroup": 5}},
            "condition.a: $inGroup expects a saved group id (a string), got number",
        ),
        ({"a": {"$inGroup": "vip"}}, 'condition.a: unknown saved group "vip"'),
        ({1: "x"}, "condition: condition keys must be strings, got 1"),
        ({"a": {"$not": {"$nope": 1}}}, 'condition.a.$not: unknown operator "$nope"'),
        ({"a": {"$all": [1, {"$x": 1}]}}, 'condition.a.$all[1]: unknown operator "$x"'),
        (
            {"a": {"$regex": "(?P<n>x)"}},
            'condition.a: invalid regex "(?P<n>x)": invalid group at position 1',
        ),
        ({"a": object()}, "condition.a: unsupported condition value"),
    ],
)
def test_shape_errors(condition: Any, error: str) -> None:
    """Each wrong shape is a `ConfigError` line starting with its path."""
    (line,) = errors_of(condition)
    assert line.startswith(error)


def test_saved_group_must_be_a_list() -> None:
    """A saved group that is not a list is reported where it is used."""
    (line,) = errors_of({"id": {"$inGroup": "g"}}, saved_groups={"g": "abc"})
    assert line == 'condition.id: saved group "g" is not a list'


def test_empty_path_prefix() -> None:
    """With `path=""`, errors start at the condition's own keys."""
    assert errors_of({"a": {"$foo": 1}}, path="") == ('a: unknown operator "$foo"',)


def test_check_condition_lists_problems_without_raising() -> None:
    """`check_condition` returns what strict compilation would raise, and `[]` when valid."""
    cond = {"a": {"$foo": 1}, "b": {"$regex": "["}}
    problems = check_condition(cond, path="p")
    assert problems[0] == 'p.a: unknown operator "$foo"'
    assert problems[1].startswith('p.b: invalid regex "["')
    assert check_condition({"a": 1}) == []
    assert check_condition(None) == []


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        ({"a": {"$foo": 1}}, {"a": 1}, False),
        ({"a": {"$not": {"$foo": 1}}}, {"a": 1}, True),
        ({"a": {"$regex": "("}}, {"a": "("}, False),
        ({"a": {"$in": "abc"}}, {"a": "a"}, False),
        ({"a": {"$nin": "abc"}}, {"a": "z"}, False),
        ({"a": {"$eq": [1]}}, {"a": [1]}, False),
        ({"a": {"$ne": {"x": 1}}}, {"a": {"x": 1}}, True),
        ({"a": {"$inGroup": "nope"}}, {"a": 1}, False),
        ({"a": {"$notInGroup": "nope"}}, {"a": 1}, True),
        ({"$and": {"a": 1}, "b": 1}, {"a": 1, "b": 1}, False),
        ({"a": {"$in": [1], "b": 2}}, {"a": {"$in": [1], "b": 2}}, True),
        ({"a": {"$type": "integer"}}, {"a": 1}, False),
        ({"a": {"$gt": None}}, {"a": 1}, True),
        ({"a": {"$vgt": None}}, {"a": "1.0.0"}, True),
    ],
)
def test_lenient_mode_does_what_the_js_sdk_does(
    condition: Any, attributes: dict[str, Any], expected: bool
) -> None:
    """`strict=False` never raises for a bad part; it evaluates as GrowthBook's JS SDK would."""
    assert compile_condition(condition, strict=False)(attributes) is expected


def test_runaway_nesting_is_a_config_error() -> None:
    """A condition nested thousands deep is refused as a `ConfigError`, not a crash."""
    cond: dict[str, Any] = {"a": 1}
    for _ in range(5000):
        cond = {"$not": cond}
    assert errors_of(cond, path="p") == ("p: condition is nested too deeply",)
    assert check_condition(cond, path="p") == ["p: condition is nested too deeply"]
