"""Unleash constraint operators, compiled once into predicates over an evaluation context.

A constraint is ``{contextName, operator, values | value, inverted, caseInsensitive}``. It
compiles to ``Callable[[Ctx], bool]``; an operator this client does not know compiles to a
predicate that is always false (the Unleash client specification's rule), and is reported as a
warning rather than an error so that a server newer than the client never breaks it.

Regular expressions run on RE2 (linear time) when ``google-re2`` is installed; without it,
Python's ``re`` runs them on at most :data:`REGEX_INPUT_LIMIT` characters, and patterns with
look-arounds or back-references are refused (the specification rejects them upstream).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = ["REGEX_INPUT_LIMIT", "Ctx", "Predicate", "compile_constraint", "context_value"]

#: The evaluation context: Unleash's fields (``userId``, ``sessionId``, ``remoteAddress``,
#: ``environment``, ``appName``, ``currentTime``) and ``properties`` for everything else.
Ctx = Mapping[str, Any]
Predicate = Callable[[Ctx], bool]

#: how many characters of a context value Python's ``re`` may scan when RE2 is absent
REGEX_INPUT_LIMIT = 4096
_STANDARD_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)
_NEVER: Predicate = lambda _ctx: False  # noqa: E731


def context_value(ctx: Ctx, name: str) -> Any:
    """The value of context field ``name``: a standard field, else ``properties[name]``."""
    if name in _STANDARD_FIELDS:
        value = ctx.get(name)
        if value is not None:
            return value
    props = ctx.get("properties")
    if isinstance(props, Mapping):
        return props.get(name)
    return None


def compile_constraint(spec: Mapping[str, Any], path: str, warnings: list[str]) -> Predicate:
    """Compile one constraint; ``warnings`` collects what makes it never match."""
    name = spec.get("contextName")
    operator = spec.get("operator")
    if not isinstance(name, str) or not isinstance(operator, str):
        warnings.append(f"{path}: contextName and operator must be strings; never matches")
        return _NEVER
    build = _OPERATORS.get(operator)
    if build is None:
        warnings.append(f"{path}.operator: unknown operator {operator!r}; never matches")
        return _NEVER
    values = spec.get("values")
    values = [str(v) for v in values] if isinstance(values, list) else []
    value = spec.get("value")
    folded = bool(spec.get("caseInsensitive", False))
    test = build(name, values, None if value is None else str(value), folded, path, warnings)
    if spec.get("inverted", False):
        return lambda ctx: not test(ctx)
    return test


# -- operators ---------------------------------------------------------------------------
# Each builder returns the un-inverted predicate.


def _in(name: str, values: Sequence[str], _v: str | None, _f: bool, *_: Any) -> Predicate:
    allowed = frozenset(values)
    return lambda ctx: _as_str(context_value(ctx, name)) in allowed


def _not_in(name: str, values: Sequence[str], _v: str | None, _f: bool, *_: Any) -> Predicate:
    allowed = frozenset(values)
    return lambda ctx: _as_str(context_value(ctx, name)) not in allowed


def _string_op(kind: str) -> Callable[..., Predicate]:
    def build(name: str, values: Sequence[str], _v: str | None, folded: bool, *_: Any) -> Predicate:
        needles = tuple(v.lower() for v in values) if folded else tuple(values)

        def test(ctx: Ctx) -> bool:
            raw = context_value(ctx, name)
            if not isinstance(raw, str):
                return False
            text = raw.lower() if folded else raw
            if kind == "starts":
                return text.startswith(needles)
            if kind == "ends":
                return text.endswith(needles)
            return any(n in text for n in needles)

        return test

    return build


def _parsed_op(
    parse: Callable[[Any], Any],
    accept: Callable[[Any, Any], bool],
    what: str,
    missing: Callable[[str], Any] = lambda _name: None,
) -> Callable[..., Predicate]:
    # NUM_*, DATE_* and SEMVER_*: the constraint's one value parsed once; the context's value
    # parsed per evaluation (``missing`` supplies one when the context has none)
    def build(
        name: str, _vs: Sequence[str], value: str | None, _f: bool, path: str, warnings: list[str]
    ) -> Predicate:
        target = parse(value)
        if target is None:
            warnings.append(f"{path}.value: not {what}; never matches")
            return _NEVER

        def test(ctx: Ctx) -> bool:
            raw = context_value(ctx, name)
            seen = parse(raw) if raw is not None else missing(name)
            return seen is not None and accept(seen, target)

        return test

    return build


def _number_op(compare: Callable[[float, float], bool]) -> Callable[..., Predicate]:
    return _parsed_op(_as_number, compare, "a number")


def _now_for_current_time(name: str) -> datetime | None:
    return datetime.now(timezone.utc) if name == "currentTime" else None


def _date_op(after: bool) -> Callable[..., Predicate]:
    return _parsed_op(
        _as_datetime,
        (lambda seen, target: seen > target) if after else (lambda seen, target: seen < target),
        "an ISO 8601 date",
        _now_for_current_time,
    )


def _semver_op(accept: Callable[[int], bool]) -> Callable[..., Predicate]:
    return _parsed_op(
        lambda v: parse_semver(_as_str(v)),
        lambda seen, target: accept(_compare_semver(seen, target)),
        "a semantic version",
    )


def _regex(
    name: str, _vs: Sequence[str], value: str | None, folded: bool, path: str, warnings: list[str]
) -> Predicate:
    search = _compile_regex(value or "", folded)
    if search is None:
        warnings.append(f"{path}.value: invalid or unsupported regular expression; never matches")
        return _NEVER

    def test(ctx: Ctx) -> bool:
        raw = context_value(ctx, name)
        return isinstance(raw, str) and search(raw)

    return test


def _in_cidr(
    name: str, values: Sequence[str], _v: str | None, _f: bool, path: str, warnings: list[str]
) -> Predicate:
    networks = []
    for i, text in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            warnings.append(f"{path}.values[{i}]: not an IP network; ignored")

    def test(ctx: Ctx) -> bool:
        address = parse_ip(context_value(ctx, name))
        return address is not None and any(
            address.version == net.version and address in net for net in networks
        )

    return test




# -- value parsing -------------------------------------------------------------------------


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)

Semver = tuple[int, int, int, tuple[str, ...]]


def parse_semver(text: str | None) -> Semver | None:
    """``(major, minor, patch, prerelease identifiers)`` of a SemVer 2.0.0 string, or None."""
    if text is None or len(text) > 256:
        return None
    match = _SEMVER.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else ()


def _compare_semver(a: Semver, b: Semver) -> int:
    if a[:3] != b[:3]:
        return -1 if a[:3] < b[:3] else 1
    pa, pb = a[3], b[3]
    if pa == pb:
        return 0
    if not pa or not pb:  # a release ranks above any of its pre-releases
        return 1 if not pa else -1
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            return -1 if int(x) < int(y) else 1
        if xn != yn:  # numeric identifiers rank below alphanumeric ones
            return -1 if xn else 1
        return -1 if x < y else 1
    return -1 if len(pa) < len(pb) else 1


def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address from a context value (IPv4-mapped IPv6 as IPv4), or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Python's re lacks RE2's guarantees: without RE2, refuse what only a backtracking engine
# can do (look-arounds, back-references) and bound the input instead.
_BACKTRACKING_ONLY = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


def _compile_regex(pattern: str, folded: bool) -> Callable[[str], bool] | None:
    if len(pattern) > 1024:
        return None
    try:
        import re2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return _compile_python_regex(pattern, folded)
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not folded
    try:
        compiled = re2.compile(pattern, options)
    except Exception:  # re2 raises its own error type for bad patterns
        return None
    return lambda text: compiled.search(text) is not None


def _compile_python_regex(pattern: str, folded: bool) -> Callable[[str], bool] | None:
    if _BACKTRACKING_ONLY.search(pattern):
        return None
    try:
        compiled = re.compile(pattern, re.IGNORECASE if folded else 0)
    except re.error:
        return None
    return lambda text: compiled.search(text[:REGEX_INPUT_LIMIT]) is not None


# built once every builder and parser above exists
_OPERATORS: dict[str, Callable[..., Predicate]] = {
    "IN": _in,
    "NOT_IN": _not_in,
    "STR_STARTS_WITH": _string_op("starts"),
    "STR_ENDS_WITH": _string_op("ends"),
    "STR_CONTAINS": _string_op("contains"),
    "NUM_EQ": _number_op(lambda a, b: a == b),
    "NUM_GT": _number_op(lambda a, b: a > b),
    "NUM_GTE": _number_op(lambda a, b: a >= b),
    "NUM_LT": _number_op(lambda a, b: a < b),
    "NUM_LTE": _number_op(lambda a, b: a <= b),
    "DATE_AFTER": _date_op(after=True),
    "DATE_BEFORE": _date_op(after=False),
    "SEMVER_EQ": _semver_op(lambda c: c == 0),
    "SEMVER_GT": _semver_op(lambda c: c > 0),
    "SEMVER_GTE": _semver_op(lambda c: c >= 0),
    "SEMVER_LT": _semver_op(lambda c: c < 0),
    "SEMVER_LTE": _semver_op(lambda c: c <= 0),
    "REGEX": _regex,
    "IN_CIDR": _in_cidr,
}
