"""Compile a GrowthBook-style JSON condition into one Python callable.

The whole condition is walked once, here. Each operator becomes a closure specialized for its
operand (``_ops``, ``_ops_text``); the attribute tests of each condition object are then
fused into one generated function (``_codegen``) that inlines the operators' fast paths.
Calling the result reads attributes and runs that code: no parsing, no look-ups into the
condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from persona_sdk._errors import ConfigError
from persona_sdk.rules._codegen import Field, fuse, with_inline
from persona_sdk.rules._js import ARRAY_TYPES, js_json, js_number, js_str, js_truthy
from persona_sdk.rules._ops import VALUE_OPERATORS
from persona_sdk.rules._ops_order import numeric_range
from persona_sdk.rules._ops_text import version_range
from persona_sdk.rules._preds import (
    ALWAYS,
    NEVER,
    Pred,
    all_preds,
    any_preds,
    is_operator_object,
    kind,
    negate,
    quote,
)
from persona_sdk.rules._reads import Reads
from persona_sdk.rules._registry import OperatorRegistry, default_registry

__all__ = ["Compiler", "Condition", "check_condition", "compile_condition"]

#: A compiled condition: attributes in, pass/fail out.
Condition = Callable[[Mapping[str, Any]], bool]

_LOGICAL: Final = ("$and", "$or", "$nor")


class Compiler:
    """One compilation: options plus the problems found so far."""

    def __init__(
        self,
        *,
        strict: bool,
        saved_groups: Mapping[str, Sequence[Any]] | None,
        operators: OperatorRegistry | None,
    ) -> None:
        self.strict = strict
        self.saved_groups = saved_groups
        self._operators = operators
        self.errors: list[str] = []
        #: when set, each attribute path a condition reads is noted here (``reads_of``)
        self.reads: Reads | None = None

    def problem(self, path: str, message: str, fallback: Pred = NEVER) -> Pred:
        """Record a problem at ``path``; the part compiles to ``fallback`` (JS's behaviour)."""
        self.errors.append(f"{path}: {message}" if path else message)
        return fallback

    def condition(self, cond: Any, path: str) -> Condition:
        """Compile a condition object: every key must pass (logical keys or attribute paths)."""
        if not isinstance(cond, Mapping):
            self.problem(path, f"expected a condition object, got {kind(cond)}")
            return NEVER
        fields: list[Field] = []
        parts: list[Condition] = []
        for key, value in cond.items():
            if not isinstance(key, str):
                self.problem(path, f"condition keys must be strings, got {key!r}")
                parts.append(NEVER)
                continue
            sub = f"{path}.{key}" if path else key
            if key in _LOGICAL:
                parts.append(self._logical(key, value, sub))
            elif key == "$not":
                parts.append(negate(self.condition(value, sub)))
            else:
                if self.reads is not None:
                    self.reads.note(key, sub, value)
                fields.append(Field(tuple(key.split(".")), self.value(value, sub)))
        if any(f.pred is NEVER for f in fields) or any(p is NEVER for p in parts):
            return NEVER
        fields = [f for f in fields if f.pred is not ALWAYS]
        parts = [p for p in parts if p is not ALWAYS]
        if not fields:
            return all_preds(parts)
        return fuse(fields, parts)

    def _logical(self, key: str, value: Any, path: str) -> Condition:
        if not isinstance(value, ARRAY_TYPES):
            self.problem(path, f"{key} expects a list of conditions, got {kind(value)}")
            return NEVER
        subs = [self.condition(c, f"{path}[{i}]") for i, c in enumerate(value)]
        if key == "$and":
            return all_preds(subs)
        if key == "$or":
            return any_preds(subs) if subs else ALWAYS
        # $nor is "not $or", and JS's $or over an empty list passes, so an empty $nor fails.
        return negate(any_preds(subs)) if subs else NEVER

    def value(self, cond: Any, path: str) -> Pred:
        """Compile the test applied to one attribute value (a literal or an operator object)."""
        if isinstance(cond, str):
            s = cond

            def equals_string(v: Any) -> bool:
                return v == s if type(v) is str else js_str(v) == s

            return with_inline(equals_string, "str", "v != {0}", s)
        if isinstance(cond, bool):
            # JS: value !== null && !!value === cond; truthy(null) is already false.
            return _truthy if cond else _falsy
        if isinstance(cond, (int, float)):
            n = cond

            def equals_number(v: Any) -> bool:
                t = type(v)
                if t is int or t is float:
                    ok: bool = v == n
                    return ok
                return js_number(v) == n

            return with_inline(equals_number, "num", "v != {0}", n)
        if cond is None:
            return _is_null
        if isinstance(cond, Mapping) and is_operator_object(cond):
            fused = version_range(cond, path, self)
            if fused is not None:
                return fused
            preds = [self.operator(name, operand, path) for name, operand in cond.items()]
            return numeric_range(cond, preds) or all_preds(preds)
        if isinstance(cond, Mapping):
            if self.strict and any(isinstance(k, str) and k.startswith("$") for k in cond):
                names = ", ".join(k for k in cond if isinstance(k, str) and k.startswith("$"))
                self.problem(path, f"mixes operators ({names}) with plain keys")
        elif not isinstance(cond, ARRAY_TYPES):
            return self.problem(path, f"unsupported condition value {cond!r}")
        # A literal list or object: JS compares JSON.stringify of both sides.
        expected = js_json(cond)

        def equals_json(v: Any) -> bool:
            return js_json(v) == expected

        return equals_json

    def operator(self, name: str, operand: Any, path: str) -> Pred:
        """Compile one ``$operator: operand`` pair (built-in first, then registered plugins)."""
        builtin = VALUE_OPERATORS.get(name)
        if builtin is not None:
            # keys inside $elemMatch/$not are relative to the value, not attribute paths
            reads, self.reads = self.reads, None
            try:
                return builtin(operand, path, self, name)
            finally:
                self.reads = reads
        if name in _LOGICAL:
            return self.problem(
                path, f"unknown operator {quote(name)} ({name} combines conditions, not values)"
            )
        registry = self._operators if self._operators is not None else default_registry()
        plugin = registry.get(name)
        if plugin is None:
            return self.problem(path, f"unknown operator {quote(name)}")
        try:
            predicate: object = plugin.compile(operand, path)
        except ConfigError as exc:
            for line in exc.errors:
                self.problem("" if line.startswith(path) else path, line)
            return NEVER
        except Exception as exc:  # a plugin bug is reported as a problem with this operand
            return self.problem(
                path, f"operator {name} rejected its operand: {type(exc).__name__}: {exc}"
            )
        if not callable(predicate):
            return self.problem(path, f"operator {name}: compile() did not return a predicate")
        return cast(Pred, predicate)


def _truthy(v: Any) -> bool:
    return v is True or (v is not False and js_truthy(v))


def _falsy(v: Any) -> bool:
    return v is not None and not js_truthy(v)


def _is_null(v: Any) -> bool:
    return v is None


def compile_condition(
    condition: Mapping[str, Any] | None,
    *,
    path: str = "condition",
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    operators: OperatorRegistry | None = None,
    strict: bool = True,
    reads: Reads | None = None,
) -> Condition:
    """Compile a GrowthBook-style JSON condition into a callable over attributes.

    Args:
        condition: the condition object; ``None`` or ``{}`` always passes.
        path: where the condition sits in its document, prefixed to every error.
        saved_groups: group id → list of values, for ``$inGroup``/``$notInGroup``.
        operators: custom operators; ``None`` uses :func:`default_registry` when needed.
        strict: raise for any problem (unknown operator, bad regex, wrong shape, unknown
            saved group). ``False`` compiles each bad part to what GrowthBook's JS SDK does
            with it (mostly "fails"), for importing GrowthBook payloads as they are.
        reads: a ``Reads`` that records every attribute path the condition reads (with the
            operators applied to it), as the compiler meets them.

    Returns:
        ``condition(attributes) -> bool``.

    Raises:
        persona_sdk.ConfigError: listing every problem with its path (strict mode).

    Example::

        adult_fr = compile_condition({"country": "FR", "age": {"$gte": 18}})
        adult_fr({"country": "FR", "age": 30})  # True

    .. versionadded:: 0.1.0
    """
    if condition is None or (isinstance(condition, Mapping) and not condition):
        return ALWAYS
    compiler = Compiler(strict=strict, saved_groups=saved_groups, operators=operators)
    compiler.reads = reads
    try:
        compiled = compiler.condition(condition, path)
    except RecursionError:
        raise ConfigError(f"{path}: condition is nested too deeply") from None
    if compiler.errors and strict:
        raise ConfigError(compiler.errors)
    return compiled


def check_condition(
    condition: Mapping[str, Any] | None,
    *,
    path: str = "condition",
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    operators: OperatorRegistry | None = None,
) -> list[str]:
    """Every problem strict compilation would report, as ``"path: message"`` lines.

    Useful with ``strict=False`` imports, to log what was compiled to "fails".

    .. versionadded:: 0.1.0
    """
    if condition is None:
        return []
    compiler = Compiler(strict=True, saved_groups=saved_groups, operators=operators)
    try:
        compiler.condition(condition, path)
    except RecursionError:
        return [f"{path}: condition is nested too deeply"]
    return list(compiler.errors)
