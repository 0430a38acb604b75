"""Predicates over one attribute value, and the small helpers every operator compiler uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from persona_sdk.rules._js import js_type

__all__ = [
    "ALWAYS",
    "NEVER",
    "Pred",
    "all_preds",
    "any_preds",
    "is_operator_object",
    "kind",
    "negate",
    "quote",
]

Pred = Callable[[Any], bool]


def ALWAYS(v: Any) -> bool:
    """The predicate that always passes."""
    return True


def NEVER(v: Any) -> bool:
    """The predicate that never passes."""
    return False


def all_preds(preds: Sequence[Pred]) -> Pred:
    """AND of predicates, folding constants."""
    if any(p is NEVER for p in preds):
        return NEVER
    preds = [p for p in preds if p is not ALWAYS]
    if not preds:
        return ALWAYS
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        p0, p1 = preds

        def both(v: Any) -> bool:
            return p0(v) and p1(v)

        return both
    if len(preds) == 3:
        p0, p1, p2 = preds

        def all3(v: Any) -> bool:
            return p0(v) and p1(v) and p2(v)

        return all3
    items = tuple(preds)

    def every(v: Any) -> bool:
        for p in items:  # noqa: SIM110 - a plain loop, no generator per call
            if not p(v):
                return False
        return True

    return every


def any_preds(preds: Sequence[Pred]) -> Pred:
    """OR of predicates, folding constants."""
    if any(p is ALWAYS for p in preds):
        return ALWAYS
    preds = [p for p in preds if p is not NEVER]
    if not preds:
        return NEVER
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        p0, p1 = preds

        def either(v: Any) -> bool:
            return p0(v) or p1(v)

        return either
    items = tuple(preds)

    def some(v: Any) -> bool:
        for p in items:  # noqa: SIM110 - a plain loop, no generator per call
            if p(v):
                return True
        return False

    return some


def negate(p: Pred) -> Pred:
    """NOT of a predicate."""
    if p is ALWAYS:
        return NEVER
    if p is NEVER:
        return ALWAYS

    def inverted(v: Any) -> bool:
        return not p(v)

    return inverted


def quote(s: Any) -> str:
    return json.dumps(s, ensure_ascii=False)


def kind(v: Any) -> str:
    """A value's JSON type name, for messages."""
    return {"array": "a list", "object": "an object"}.get(js_type(v), js_type(v))


def is_operator_object(cond: Mapping[Any, Any]) -> bool:
    """GrowthBook's test: a non-empty object whose keys all start with ``$``."""
    return bool(cond) and all(isinstance(k, str) and k.startswith("$") for k in cond)
