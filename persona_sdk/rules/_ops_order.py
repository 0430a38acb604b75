"""Ordering operators (``$gt``, ``$gte``, ``$lt``, ``$lte``) and the fused numeric range."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from persona_sdk.rules._codegen import with_inline
from persona_sdk.rules._js import is_number, js_less, str_less
from persona_sdk.rules._preds import Pred, all_preds, kind

if TYPE_CHECKING:
    from persona_sdk.rules._compiler import Compiler

__all__ = ["numeric_range", "order_op"]


def order_op(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    """``$gt``, ``$gte``, ``$lt``, ``$lte`` with JS's comparison (and its coercions)."""
    if is_number(operand):
        return _number_order(operand, name)
    if not isinstance(operand, str) and c.strict:
        return c.problem(path, f"{name} expects a number or a string, got {kind(operand)}")
    o = operand
    # JS: a < b is LessThan(a, b) is true; a >= b is LessThan(a, b) is false (not undefined).
    swap = name in ("$gt", "$lte")
    want = name in ("$gt", "$lt")
    # a missing attribute (None) is answered by a constant: the coercing path costs ~1 µs
    none = (js_less(o, None) if swap else js_less(None, o)) is want
    if isinstance(o, str):

        def str_order(v: Any) -> bool:
            if type(v) is str:
                return (str_less(o, v) if swap else str_less(v, o)) is want
            if v is None:
                return none
            return (js_less(o, v) if swap else js_less(v, o)) is want

        return str_order

    def any_order(v: Any) -> bool:
        if v is None:
            return none
        return (js_less(o, v) if swap else js_less(v, o)) is want

    return any_order


def numeric_range(cond: Mapping[str, Any], preds: Sequence[Pred]) -> Pred | None:
    """One closure for ``{"$gt(e)": a, "$lt(e)": b}`` with numbers, the usual "between"."""
    if len(cond) != 2 or not all(is_number(x) for x in cond.values()):
        return None
    lower = [(k, x) for k, x in cond.items() if k in ("$gt", "$gte")]
    upper = [(k, x) for k, x in cond.items() if k in ("$lt", "$lte")]
    if len(lower) != 1 or len(upper) != 1:
        return None
    (lo_op, lo), (hi_op, hi) = lower[0], upper[0]
    all_slow = all_preds(preds)  # non-numbers take JS's coercing path
    none = all_slow(None)  # a missing attribute, answered without coercing

    def slow(v: Any) -> bool:
        return none if v is None else all_slow(v)
    if lo_op == "$gt" and hi_op == "$lt":

        def open_range(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = lo < v < hi
                return ok
            return slow(v)

        return with_inline(open_range, "num", "not {0} < v < {1}", lo, hi)
    if lo_op == "$gte" and hi_op == "$lte":

        def closed_range(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = lo <= v <= hi
                return ok
            return slow(v)

        return with_inline(closed_range, "num", "not {0} <= v <= {1}", lo, hi)
    if lo_op == "$gte":

        def right_open(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = lo <= v < hi
                return ok
            return slow(v)

        return with_inline(right_open, "num", "not {0} <= v < {1}", lo, hi)

    def left_open(v: Any) -> bool:
        t = type(v)
        if t is int or t is float:
            ok: bool = lo < v <= hi
            return ok
        return slow(v)

    return with_inline(left_open, "num", "not {0} < v <= {1}", lo, hi)


def _number_order(n: Any, name: str) -> Pred:
    """The ordering predicates for a number operand: a type test and one comparison."""
    if name == "$gt":

        none = js_less(n, None) is True

        def gt(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = v > n
                return ok
            if v is None:
                return none
            return js_less(n, v) is True

        return with_inline(gt, "num", "not v > {0}", n)
    if name == "$gte":

        none = js_less(None, n) is False

        def gte(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = v >= n
                return ok
            if v is None:
                return none
            return js_less(v, n) is False

        return with_inline(gte, "num", "not v >= {0}", n)
    if name == "$lt":

        none = js_less(None, n) is True

        def lt(v: Any) -> bool:
            t = type(v)
            if t is int or t is float:
                ok: bool = v < n
                return ok
            if v is None:
                return none
            return js_less(v, n) is True

        return with_inline(lt, "num", "not v < {0}", n)

    none = js_less(n, None) is False

    def lte(v: Any) -> bool:
        t = type(v)
        if t is int or t is float:
            ok: bool = v <= n
            return ok
        if v is None:
            return none
        return js_less(n, v) is False

    return with_inline(lte, "num", "not v <= {0}", n)
