"""URL targeting (``urlPatterns``) and redirect URLs, as GrowthBook's SDKs evaluate them.

A "simple" pattern compares host and path case-insensitively (``*`` is a wildcard, a leading
or trailing ``/`` on the path is optional), the query parameters it names, and its fragment
only if it has one. A "regex" pattern is searched in the full URL and in its path-onward
part. Patterns are compiled once per experiment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["compile_url_targets", "merge_query_strings"]

_WILDCARD = "_____"
_NEEDS_SCHEME = re.compile(r"^([^:/?]*)\.", re.IGNORECASE)
_SPECIAL = re.compile(r"[*.+?^${}()|\[\]\\]")

#: A compiled URL target: ``(include, matcher)``.
UrlTarget = tuple[bool, Callable[[str], bool]]


def _part_regex(pattern: str, is_path: bool) -> re.Pattern[str]:
    escaped = _SPECIAL.sub(lambda m: "\\" + m.group(0), pattern).replace(_WILDCARD, ".*")
    if is_path:
        escaped = r"/?" + re.sub(r"(^/|/$)", "", escaped) + r"/?"
    return re.compile("^" + escaped + "$", re.IGNORECASE)


def _split(url: str, base: str) -> Any:
    return urlsplit(urljoin(base, url))


def _path(parts: Any) -> str:
    return parts.path or "/"


def _simple(pattern: str) -> Callable[[str], bool] | None:
    text = _NEEDS_SCHEME.sub(r"https://\1.", pattern, count=1).replace("*", _WILDCARD)
    try:
        expected = _split(text, "https://" + _WILDCARD)
    except ValueError:
        return None
    comps: list[tuple[str, re.Pattern[str]]] = [
        ("host", _part_regex(expected.netloc.rpartition("@")[2], False)),
        ("path", _part_regex(_path(expected), True)),
    ]
    if expected.fragment:
        comps.append(("hash", _part_regex("#" + expected.fragment, False)))
    params = [(k, _part_regex(v, False)) for k, v in parse_qsl(expected.query, True)]

    def match(url: str) -> bool:
        try:
            actual = _split(url, "https://_")
        except ValueError:
            return False
        values = {
            "host": actual.netloc.rpartition("@")[2],
            "path": _path(actual),
            "hash": "#" + actual.fragment if actual.fragment else "",
        }
        for name, rx in comps:
            if not rx.match(values[name]):
                return False
        if params:
            query: dict[str, str] = {}
            for k, v in parse_qsl(actual.query, True):
                query.setdefault(k, v)
            for k, rx in params:
                if not rx.match(query.get(k, "")):
                    return False
        return True

    return match


def _regex(pattern: str) -> Callable[[str], bool] | None:
    try:
        rx = re.compile(pattern)
    except re.error:
        return None

    def match(url: str) -> bool:
        try:
            parts = _split(url, "https://_")
        except ValueError:
            return False
        href = urlunsplit(parts)
        origin = f"{parts.scheme}://{parts.netloc}"
        return bool(rx.search(href) or rx.search(href[len(origin) :]))

    return match


def _never(url: str) -> bool:
    return False


def compile_url_targets(patterns: Sequence[Mapping[str, Any]]) -> Callable[[str], bool]:
    """Compile GrowthBook ``urlPatterns`` (``{type, pattern, include}``) into one test.

    A URL is targeted when it matches no exclude pattern and, if there are include
    patterns, at least one of them. An empty list targets nothing.
    """
    targets: list[UrlTarget] = []
    for p in patterns:
        kind = p.get("type")
        pattern = str(p.get("pattern", ""))
        matcher = (
            _simple(pattern) if kind == "simple" else _regex(pattern) if kind == "regex" else None
        )
        targets.append((p.get("include") is not False, matcher or _never))
    has_include = any(include for include, _ in targets)

    def targeted(url: str) -> bool:
        if not targets:
            return False
        included = False
        for include, matcher in targets:
            hit = matcher(url)
            if not include:
                if hit:
                    return False
            elif hit:
                included = True
        return included or not has_include

    return targeted


def merge_query_strings(old_url: str, new_url: str) -> str:
    """``new_url`` with the query parameters of ``old_url`` it lacks appended after its own
    (on a conflict, ``new_url``'s value wins)."""
    try:
        old = urlsplit(old_url)
        new = urlsplit(new_url)
    except ValueError:
        return new_url
    if not new.scheme or not new.netloc:
        return new_url
    pairs = parse_qsl(new.query, True)
    have = {k for k, _ in pairs}
    for k, v in parse_qsl(old.query, True):
        if k not in have:
            pairs.append((k, v))
            have.add(k)
    query = urlencode(pairs)
    return urlunsplit((new.scheme, new.netloc, new.path or "/", query, new.fragment))
