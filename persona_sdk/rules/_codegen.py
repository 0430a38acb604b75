"""Fuse the attribute tests of one condition object into a single generated function.

A targeting condition such as ``{"country": {"$in": [...]}, "age": {"$gte": 18}}`` would
otherwise cost one closure call per path and one per operator. Here the path reads and the
operators' fast paths (a set look-up, a number comparison, ``str.endswith``) are inlined
into one function, and each operator's full predicate is still called for the values its
fast path does not cover (JS coercions).

Generated with ``persona_sdk._speed.generate`` (its docstring: why ``exec`` is safe here).
Keys, operands and predicates are passed to a factory as arguments. Factories are cached by
source text, which depends only on the condition's shape, so compiling many conditions of
the same shape runs ``exec`` once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final, NamedTuple

from persona_sdk._speed import generate
from persona_sdk.rules._paths import step
from persona_sdk.rules._preds import Pred

__all__ = ["Field", "fuse", "inline_test", "with_inline"]

Condition = Callable[[Mapping[str, Any]], bool]

#: The value types an inline fast path is valid for, as a test on ``t = type(v)``.
GUARDS: Final = {"str": "t is str", "num": "t is int or t is float"}
#: The same tests as expressions that first read the value (``{0}``) into ``v``.
_READ_GUARDS: Final = {
    "str": "type(v := {0}) is str",
    "num": "(t := type(v := {0})) is int or t is float",
}


class Inline(NamedTuple):
    """An operator's fast path: for values passing ``guard``, the test fails iff ``fail``.

    ``fail`` is an expression over ``v`` with ``{0}``, ``{1}``... for ``consts``.
    """

    guard: str
    fail: str
    consts: tuple[Any, ...]


class Field(NamedTuple):
    """One attribute test: the path's keys and the predicate on the value found there."""

    keys: tuple[str, ...]
    pred: Pred


def with_inline(pred: Pred, guard: str, fail: str, *consts: Any) -> Pred:
    """Attach an inline fast path to ``pred`` (which must agree with it on guarded values)."""
    setattr(pred, "_persona_inline", Inline(guard, fail, consts))  # noqa: B010
    return pred


def _inline_of(pred: Pred) -> Inline | None:
    spec: Inline | None = getattr(pred, "_persona_inline", None)
    return spec


@lru_cache(maxsize=512)
def _factory(source: str) -> Callable[..., Condition]:
    return generate(source, "factory", what="condition", namespace={"step": step})


def inline_test(cond: Condition, const: Callable[[Any], str], attrs: str) -> str | None:
    """``cond`` as one expression over the mapping named ``attrs`` (binding ``v`` and
    ``t``), for generated code that would otherwise call it (``decisions._fastpath``); its
    operands named by ``const``. None when ``cond`` has no such form."""
    form: tuple[str, tuple[Any, ...]] | None = getattr(cond, "_persona_expression", None)
    if form is None:
        return None
    template, values = form
    return template.format(*(const(v) for v in values), a=attrs)


def _expression(fields: Sequence[Field], others: Sequence[Condition]) -> str | None:
    # fuse's tests as one ``and`` of expressions, as a template: ``{a}`` the attributes,
    # ``{0}``, ``{1}``... the operands (in the order of the ``values`` fuse passes)
    parts: list[str] = []
    n = 0

    def slot() -> str:
        nonlocal n
        n += 1
        return f"{{{n - 1}}}"

    for keys, pred in fields:
        if len(keys) > 1:
            return None  # a dotted path: left to the function
        read = f"{{a}}.get({slot()})"
        spec = _inline_of(pred)
        p = slot()
        if spec is None:
            parts.append(f"{p}({read})")
            continue
        fail = spec.fail.format(*(slot() for _ in spec.consts))
        parts.append(f"(not ({fail}) if {_READ_GUARDS[spec.guard].format(read)} else {p}(v))")
    parts += [f"{slot()}({{a}})" for _ in others]
    return "(" + " and ".join(parts) + ")"


def fuse(fields: Sequence[Field], others: Sequence[Condition]) -> Condition:
    """One function testing every field (path + predicate), then every other condition.

    The function also carries the same tests as an expression (``inline_test``)."""
    body: list[str] = []
    values: list[Any] = []

    def const(value: Any) -> str:
        values.append(value)
        return f"c{len(values) - 1}"

    for keys, pred in fields:
        body.append(f"v = a.get({const(keys[0])})")
        for key in keys[1:]:
            name = const(key)
            body.append(f"v = v.get({name}) if type(v) is dict else step(v, {name})")
        spec = _inline_of(pred)
        p = const(pred)
        if spec is None:
            body.append(f"if not {p}(v): return False")
            continue
        fail = spec.fail.format(*(const(c) for c in spec.consts))
        body += [
            "t = type(v)",
            f"if {GUARDS[spec.guard]}:",
            f"    if {fail}: return False",
            f"elif not {p}(v): return False",
        ]
    for other in others:
        body.append(f"if not {const(other)}(a): return False")
    body.append("return True")
    params = ", ".join(f"c{i}" for i in range(len(values)))
    source = "\n".join(
        [f"def factory({params}):", "    def condition(a):"]
        + [f"        {line}" for line in body]
        + ["    return condition"]
    )
    fn = _factory(source)(*values)
    expression = _expression(fields, others)
    if expression is not None:
        # the operands in the order both forms take them
        setattr(fn, "_persona_expression", (expression, tuple(values)))  # noqa: B010
    return fn
