"""The built-in value operators (``$in``, ``$gt``, ``$regex``, ...), each compiled to a closure.

Every compiler here takes the operand once and returns a predicate over one attribute value,
specialized for the operand's type so that the common case (a string attribute tested against
a string set, a number against a number) runs without any dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from persona_sdk.rules._codegen import with_inline
from persona_sdk.rules._js import (
    ARRAY_TYPES,
    is_number,
    js_str,
    js_truthy,
    js_type,
)
from persona_sdk.rules._ops_order import order_op as _order
from persona_sdk.rules._ops_text import regex_op as _regex
from persona_sdk.rules._ops_text import version_op as _version
from persona_sdk.rules._preds import (
    ALWAYS,
    NEVER,
    Pred,
    is_operator_object,
    kind,
    negate,
    quote,
)

if TYPE_CHECKING:
    from persona_sdk.rules._compiler import Compiler

__all__ = ["VALUE_OPERATORS", "membership"]

OpCompiler = Callable[[Any, str, "Compiler", str], Pred]


# ---- equality -----------------------------------------------------------------------------


def _eq(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if isinstance(operand, (*ARRAY_TYPES, Mapping)):
        # In JS `===` never holds between an attribute and a literal array/object.
        return c.problem(
            path,
            f"{name} compares scalars; use a literal list or object for deep equality",
            NEVER if name == "$eq" else ALWAYS,
        )
    if isinstance(operand, str):
        s = operand

        def eq_str(v: Any) -> bool:
            return v == s and isinstance(v, str)

        p = eq_str
    elif isinstance(operand, bool):
        b = operand

        def eq_bool(v: Any) -> bool:
            return v is b

        p = eq_bool
    elif isinstance(operand, (int, float)):
        n = operand

        def eq_num(v: Any) -> bool:
            return v == n and type(v) is not bool and isinstance(v, (int, float))

        p = eq_num
    elif operand is None:

        def eq_null(v: Any) -> bool:
            return v is None

        p = eq_null
    else:
        return c.problem(path, f"{name} has an unsupported operand {operand!r}")
    result = p if name == "$eq" else negate(p)
    if isinstance(operand, str) or is_number(operand):
        guard = "str" if isinstance(operand, str) else "num"
        return with_inline(result, guard, "v != {0}" if name == "$eq" else "v == {0}", operand)
    return result


# ---- membership ---------------------------------------------------------------------------

_TRUE: Final = object()
_FALSE: Final = object()
_NAN: Final = object()
_NO_KEY: Final = object()


def _key(v: Any) -> Any:
    """A hashable stand-in for ``v`` under JS SameValueZero (``true`` ≠ 1, NaN = NaN)."""
    if isinstance(v, str):
        return v
    if v is True:
        return _TRUE
    if v is False:
        return _FALSE
    if isinstance(v, (int, float)):
        return _NAN if v != v else v  # noqa: PLR0124 - the NaN test, without float()
    if v is None:
        return None
    return _NO_KEY  # arrays and objects are compared by reference in JS: never a match


def _ikey(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else _key(v)


def membership(values: Sequence[Any], *, insensitive: bool, negated: bool) -> Pred:
    """``$in``-style test of a value (or any element of an array value) against ``values``."""
    keyf = _ikey if insensitive else _key
    members = frozenset(keyf(x) for x in values) - {_NO_KEY}
    if not members:
        return ALWAYS if negated else NEVER
    if insensitive:

        def in_i(v: Any) -> bool:
            if isinstance(v, str):
                return v.lower() in members
            if isinstance(v, ARRAY_TYPES):
                return not members.isdisjoint(map(_ikey, v))
            return _key(v) in members

        return negate(in_i) if negated else in_i
    if negated:

        def not_in(v: Any) -> bool:
            if type(v) is str:
                return v not in members
            if isinstance(v, ARRAY_TYPES):
                return members.isdisjoint(map(_key, v))
            return _key(v) not in members

        return with_inline(not_in, "str", "v in {0}", members)

    def is_in(v: Any) -> bool:
        if type(v) is str:
            return v in members
        if isinstance(v, ARRAY_TYPES):
            return not members.isdisjoint(map(_key, v))
        return _key(v) in members

    return with_inline(is_in, "str", "v not in {0}", members)


def _in(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if not isinstance(operand, ARRAY_TYPES):
        return c.problem(path, f"{name} expects a list, got {kind(operand)}")
    return membership(
        operand, insensitive=name in ("$ini", "$nini"), negated=name in ("$nin", "$nini")
    )


def _in_group(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    negated = name == "$notInGroup"
    if not isinstance(operand, str):
        return c.problem(path, f"{name} expects a saved group id (a string), got {kind(operand)}")
    groups = c.saved_groups or {}
    values = groups.get(operand)
    if values is None:
        # GrowthBook treats an unknown group as empty; a container should not reference one.
        c.problem(path, f"unknown saved group {quote(operand)}", NEVER)
        values = ()
    elif not isinstance(values, ARRAY_TYPES):
        return c.problem(path, f"saved group {quote(operand)} is not a list")
    return membership(values, insensitive=False, negated=negated)


def _all(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if not isinstance(operand, ARRAY_TYPES):
        return c.problem(path, f"{name} expects a list, got {kind(operand)}")
    elems: list[Pred] = []
    for i, item in enumerate(operand):
        if name == "$alli" and isinstance(item, str):
            elems.append(_lower_equals(item.lower()))
        else:
            elems.append(c.value(item, f"{path}.{name}[{i}]"))
    checks = tuple(elems)

    def contains_all(v: Any) -> bool:
        if not isinstance(v, ARRAY_TYPES):
            return False
        for check in checks:
            for item in v:
                if check(item):
                    break
            else:
                return False
        return True

    return contains_all


def _lower_equals(lowered: str) -> Pred:
    def equals_i(v: Any) -> bool:
        return js_str(v).lower() == lowered

    return equals_i


# ---- structure ----------------------------------------------------------------------------


def _array_view(items: Sequence[Any]) -> dict[str, Any]:
    view: dict[str, Any] = {str(i): x for i, x in enumerate(items)}
    view["length"] = len(items)
    return view


_NO_ATTRIBUTES: Final[Mapping[str, Any]] = {}


def _elem_match(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    sub = f"{path}.{name}"
    if not isinstance(operand, Mapping):
        return c.problem(path, f"{name} expects an object, got {kind(operand)}")
    if is_operator_object(operand):
        check = c.value(operand, sub)
    else:
        cond = c.condition(operand, sub)

        def check(item: Any) -> bool:
            if isinstance(item, Mapping):
                return cond(item)
            if isinstance(item, ARRAY_TYPES):
                return cond(_array_view(item))
            return cond(_NO_ATTRIBUTES)  # JS paths into a primitive all yield null

    def elem_match(v: Any) -> bool:
        if not isinstance(v, ARRAY_TYPES):
            return False
        for item in v:  # noqa: SIM110 - a plain loop, no generator per call
            if js_truthy(item) and check(item):
                return True
        return False

    return elem_match


def _size(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    check = c.value(operand, f"{path}.{name}")

    def size(v: Any) -> bool:
        return isinstance(v, ARRAY_TYPES) and check(len(v))

    return size


def _exists(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if js_truthy(operand):

        def exists(v: Any) -> bool:
            return v is not None

        return exists

    def missing(v: Any) -> bool:
        return v is None

    return missing


_TYPES: Final = ("string", "number", "boolean", "array", "object", "null")


def _type(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if operand not in _TYPES:
        return c.problem(path, f"{name} expects one of {', '.join(_TYPES)}, got {quote(operand)}")
    t: str = operand

    def has_type(v: Any) -> bool:
        return js_type(v) == t

    return has_type


def _not(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    return negate(c.value(operand, f"{path}.{name}"))


VALUE_OPERATORS: Final[Mapping[str, OpCompiler]] = {
    "$eq": _eq, "$ne": _eq,
    "$lt": _order, "$lte": _order, "$gt": _order, "$gte": _order,
    "$in": _in, "$nin": _in, "$ini": _in, "$nini": _in,
    "$inGroup": _in_group, "$notInGroup": _in_group,
    "$all": _all, "$alli": _all,
    "$elemMatch": _elem_match, "$size": _size, "$exists": _exists, "$type": _type, "$not": _not,
    "$regex": _regex, "$regexi": _regex, "$notRegex": _regex, "$notRegexi": _regex,
    "$veq": _version, "$vne": _version, "$vgt": _version,
    "$vgte": _version, "$vlt": _version, "$vlte": _version,
}  # fmt: skip
