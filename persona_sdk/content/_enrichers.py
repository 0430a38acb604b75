"""Real-time context enrichers: attributes derived from the request, for conditions and scores.

An enricher reads the visitor's attributes (what the app passed: ``headers``, ``cookies``,
``user_agent``, ``url``, ``referrer``, ``timezone``...) and returns attributes to add. It runs
inside ``decide``, so it does no I/O: one that needs a remote source (weather) answers from
its cache and refreshes in the background. Attributes the app set itself win over enriched
ones.

Built-ins (``[context] enrichers = ["time", "device", "geo", "utm"]``):

- ``time``: ``timezone`` (from the ``timezone`` attribute, a ``tz`` cookie, or the
  ``x-vercel-ip-timezone`` / ``cf-timezone`` / ``x-timezone`` header), ``local_hour``
  (0-23), ``local_minute``, ``day_of_week`` (``monday``...), ``weekend``, ``daypart``
  (``night`` 0-5, ``morning`` 6-11, ``afternoon`` 12-17, ``evening`` 18-23).
- ``device``: ``device`` (``mobile``, ``tablet``, ``desktop`` or ``bot``) and ``os`` from the
  ``user_agent`` attribute or the ``user-agent`` header.
- ``geo``: ``country`` from the usual CDN headers (``cf-ipcountry``,
  ``cloudfront-viewer-country``, ``x-vercel-ip-country``, ``x-appengine-country``,
  ``x-country-code``), upper-cased; ``XX``/``T1`` (unknown, Tor) are ignored.
- ``utm``: ``utm_source``, ``utm_medium``, ``utm_campaign``, ``utm_term``, ``utm_content``
  from the ``url`` attribute's query, and ``referrer_host`` / ``referrer_type``
  (``direct``, ``internal``, ``search``, ``social``, ``external``) from the ``referrer``
  attribute or the ``referer`` header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._errors import ConfigError, PluginError
from ..plugins import load_plugin, missing_members

__all__ = ["BUILTIN_ENRICHERS", "Enrichment", "build_enrichers"]

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TZ_HEADERS = ("x-vercel-ip-timezone", "cf-timezone", "x-timezone")
_COUNTRY_HEADERS = (
    "cf-ipcountry", "cloudfront-viewer-country", "x-vercel-ip-country", "x-appengine-country",
    "x-country-code",
)
_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SEARCH = ("google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.", "qwant.")
_SOCIAL = (
    "facebook.", "instagram.", "t.co", "twitter.", "x.com", "linkedin.", "pinterest.",
    "reddit.", "tiktok.", "youtube.",
)
_BOT = re.compile(r"bot|crawl|spider|slurp|headless|lighthouse", re.I)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry|opera mini", re.I)
_OS = (
    ("ios", re.compile(r"iphone|ipad|ipod", re.I)),
    ("android", re.compile(r"android", re.I)),
    ("windows", re.compile(r"windows", re.I)),
    ("macos", re.compile(r"mac os x|macintosh", re.I)),
    ("linux", re.compile(r"linux|x11", re.I)),
)
_MAX_UA = 512


def _header(attrs: Mapping[str, Any], name: str) -> str | None:
    headers = attrs.get("headers")
    if isinstance(headers, Mapping):
        value = headers.get(name)
        if value is None:  # the app may keep the original casing
            value = next((v for k, v in headers.items() if str(k).lower() == name), None)
        if isinstance(value, str) and value:
            return value
    return None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    # bounded: only names that exist are looked up twice, hostile ones fail fast
    if len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def time_enricher(attrs: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Local time of day, day of week and timezone."""
    name = attrs.get("timezone")
    if not isinstance(name, str) or not name:
        cookies = attrs.get("cookies")
        name = cookies.get("tz") if isinstance(cookies, Mapping) else None
    if not isinstance(name, str) or not name:
        name = next((v for h in _TZ_HEADERS if (v := _header(attrs, h))), None)
    zone = _zone(name) if isinstance(name, str) and name else None
    local = datetime.fromtimestamp(now, zone or timezone.utc)
    hour = local.hour
    return {
        "timezone": name if zone is not None else "UTC",
        "local_hour": hour,
        "local_minute": local.minute,
        "day_of_week": _DAYS[local.weekday()],
        "weekend": local.weekday() >= 5,
        "daypart": ("night", "morning", "afternoon", "evening")[hour // 6],
    }


@lru_cache(maxsize=1024)
def _device(ua: str) -> tuple[str, str]:
    if _BOT.search(ua):
        kind = "bot"
    elif _TABLET.search(ua):
        kind = "tablet"
    elif _MOBILE.search(ua):
        kind = "mobile"
    else:
        kind = "desktop"
    os_name = next((name for name, rx in _OS if rx.search(ua)), "other")
    return kind, os_name


def device_enricher(attrs: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Device class and OS from the user agent."""
    ua = attrs.get("user_agent")
    if not isinstance(ua, str) or not ua:
        ua = _header(attrs, "user-agent")
    if not ua:
        return {}
    kind, os_name = _device(ua[:_MAX_UA])
    return {"device": kind, "os": os_name}


def geo_enricher(attrs: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The country from CDN headers."""
    for name in _COUNTRY_HEADERS:
        value = _header(attrs, name)
        if value is not None:
            code = value.strip().upper()
            if len(code) == 2 and code.isalpha() and code != "XX":
                return {"country": code}
    return {}


def utm_enricher(attrs: Mapping[str, Any], now: float) -> dict[str, Any]:
    """UTM parameters from the page URL, and the referrer's host and kind."""
    out: dict[str, Any] = {}
    url = attrs.get("url")
    host = ""
    if isinstance(url, str) and url:
        parts = urlsplit(url[:4096])
        host = (parts.hostname or "").lower()
        for key, value in parse_qsl(parts.query, max_num_fields=100):
            if key in _UTM and key not in out:
                out[key] = value
    ref = attrs.get("referrer")
    if not isinstance(ref, str) or not ref:
        ref = _header(attrs, "referer")
    if isinstance(ref, str) and ref:
        ref_host = (urlsplit(ref[:4096]).hostname or "").lower()
        out["referrer_host"] = ref_host
        if host and ref_host == host:
            kind = "internal"
        elif any(s in ref_host for s in _SEARCH):
            kind = "search"
        elif any(ref_host == s or ref_host.endswith("." + s) or s in ref_host for s in _SOCIAL):
            kind = "social"
        else:
            kind = "external"
        out["referrer_type"] = kind
    else:
        out["referrer_type"] = "direct"
    return out


#: name -> enrich function (``(attributes, now) -> attributes to add``)
BUILTIN_ENRICHERS: dict[str, Callable[[Mapping[str, Any], float], Mapping[str, Any]]] = {
    "time": time_enricher,
    "device": device_enricher,
    "geo": geo_enricher,
    "utm": utm_enricher,
}


class Enrichment:
    """The container's enrichers, applied in order; the app's own attributes win."""

    def __init__(self, steps: Sequence[tuple[str, Callable[..., Any]]]) -> None:
        self.steps = tuple(steps)
        self.errors = 0

    def __call__(self, attrs: Mapping[str, Any], now: float) -> dict[str, Any]:
        """``attrs`` with the enriched attributes added (a new dict)."""
        out = dict(attrs)
        for _, enrich in self.steps:
            try:
                added = enrich(out, now)
            except Exception:  # an enricher never breaks a decision
                self.errors += 1
                continue
            if added:
                for key, value in added.items():
                    if key not in attrs:
                        out[key] = value
        return out


def build_enrichers(
    names: Sequence[str],
    options: Mapping[str, Mapping[str, Any]],
    given: Mapping[str, Any] | None = None,
) -> Enrichment | None:
    """The enrichment of ``[context]``: built-in names, enrichers passed to ``Persona``
    (``enrichers={name: enricher}``), or entry points of ``persona_sdk.enrichers`` (a
    factory called with ``options=``); ``ConfigError`` naming the bad entry."""
    if not names:
        return None
    steps: list[tuple[str, Callable[..., Any]]] = []
    errors: list[str] = []
    for i, name in enumerate(names):
        if name in BUILTIN_ENRICHERS:
            steps.append((name, BUILTIN_ENRICHERS[name]))
            continue
        found = (given or {}).get(name)
        if found is None:
            try:
                factory = load_plugin("persona_sdk.enrichers", name)
                found = factory(options=dict(options.get(name, {})))
            except PluginError as exc:
                errors.append(f"context.enrichers[{i}]: {exc}")
                continue
            except Exception as exc:
                errors.append(f"context.options.{name}: {exc}")
                continue
        enrich = getattr(found, "enrich", None)
        if missing_members("persona_sdk.enrichers", found) or not callable(enrich):
            errors.append(f"context.enrichers[{i}]: {name!r} has no enrich(attributes, now)")
            continue
        steps.append((name, enrich))
    if errors:
        raise ConfigError(errors)
    return Enrichment(steps)
