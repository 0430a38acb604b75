"""Text operators: ``$regex`` and friends, and the ``$v...`` version comparisons."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from persona_sdk.rules._codegen import with_inline
from persona_sdk.rules._js import is_number, js_str, str_less
from persona_sdk.rules._preds import NEVER, Pred, all_preds, kind, negate, quote
from persona_sdk.rules._regex import RegexSyntaxError, Searcher, UnsafeRegexError, translate

if TYPE_CHECKING:
    from persona_sdk.rules._compiler import Compiler

__all__ = ["VERSION_OPERATORS", "padded_version", "regex_op", "version_op", "version_range"]


def regex_op(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    if not isinstance(operand, str):
        return c.problem(path, f"{name} expects a pattern string, got {kind(operand)}")
    try:
        compiled = translate(operand, ignore_case=name.endswith("i"))
    except UnsafeRegexError as exc:
        return c.problem(path, f"unsafe regex {quote(operand)} refused: {exc}")
    except RegexSyntaxError as exc:
        return c.problem(path, f"invalid regex {quote(operand)}: {exc}")
    p = _regex_pred(compiled.regex, compiled.literal, compiled.max_input)
    return negate(p) if name.startswith("$not") else p


def _regex_pred(
    regex: Searcher, literal: tuple[str, str] | None, max_input: int | None = None
) -> Pred:
    if literal is None and max_input is not None:
        # the backtracking engine: a value longer than its bound does not match (the bound
        # keeps the pattern's worst case under a fixed number of steps)
        bounded_search = regex.search

        def matches_bounded(v: Any) -> bool:
            s = v if type(v) is str else js_str(v)
            return len(s) <= max_input and bounded_search(s) is not None

        return matches_bounded
    if literal is None:
        search = regex.search

        def matches(v: Any) -> bool:
            return search(v if type(v) is str else js_str(v)) is not None

        return with_inline(matches, "str", "{0}(v) is None", search)
    how, text = literal
    if how == "suffix":

        def ends(v: Any) -> bool:
            return (v if type(v) is str else js_str(v)).endswith(text)

        return with_inline(ends, "str", "not v.endswith({0})", text)
    if how == "prefix":

        def starts(v: Any) -> bool:
            return (v if type(v) is str else js_str(v)).startswith(text)

        return with_inline(starts, "str", "not v.startswith({0})", text)
    if how == "eq":

        def equals(v: Any) -> bool:
            return (v if type(v) is str else js_str(v)) == text

        return with_inline(equals, "str", "v != {0}", text)

    def contains(v: Any) -> bool:
        return text in (v if type(v) is str else js_str(v))

    return with_inline(contains, "str", "{0} not in v", text)


_V_STRIP = re.compile("^v|\\+[^\\n\\r\\u2028\\u2029]*\\Z")
_V_SPLIT = re.compile("[-.]")


@lru_cache(maxsize=4096)
def _padded_str(s: str) -> str:
    parts = _V_SPLIT.split(_V_STRIP.sub("", s))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5) if p.isascii() and p.isdigit() else p for p in parts)


def padded_version(v: Any) -> str:
    """GrowthBook's comparable form of a version (``"1.2.3"`` → ``"    1-    2-    3-~"``)."""
    if is_number(v):
        v = js_str(v)
    if not isinstance(v, str) or not v:
        v = "0"
    return _padded_str(v)


def _on_padded(name: str, ref: str) -> Pred:
    """A version comparison over an already padded version string."""
    if name == "$veq":
        return ref.__eq__
    if name == "$vne":
        return ref.__ne__
    swap = name in ("$vgt", "$vlte")
    want = name in ("$vgt", "$vlt")

    def vorder(padded: str) -> bool:
        return (str_less(ref, padded) if swap else str_less(padded, ref)) is want

    return vorder


def _version_ref(operand: Any, path: str, c: Compiler, name: str) -> str | None:
    if not (isinstance(operand, str) or is_number(operand)) and c.strict:
        c.problem(path, f"{name} expects a version string, got {kind(operand)}")
        return None
    return padded_version(operand)


def version_op(operand: Any, path: str, c: Compiler, name: str) -> Pred:
    ref = _version_ref(operand, path, c, name)
    if ref is None:
        return NEVER
    check = _on_padded(name, ref)

    def version(v: Any) -> bool:
        return check(_padded_str(v) if type(v) is str else padded_version(v))

    return version


VERSION_OPERATORS: Final = frozenset({"$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"})


def version_range(cond: Mapping[str, Any], path: str, c: Compiler) -> Pred | None:
    """Several version operators on one attribute pad the attribute once."""
    if len(cond) < 2 or not VERSION_OPERATORS.issuperset(cond):
        return None
    checks = []
    for name, operand in cond.items():
        ref = _version_ref(operand, path, c, name)
        if ref is None:
            return NEVER
        checks.append(_on_padded(name, ref))
    if len(checks) == 2:
        c0, c1 = checks

        def between(v: Any) -> bool:
            padded = _padded_str(v) if type(v) is str else padded_version(v)
            return c0(padded) and c1(padded)

        return between
    every = all_preds(checks)

    def versions(v: Any) -> bool:
        return every(_padded_str(v) if type(v) is str else padded_version(v))

    return versions
