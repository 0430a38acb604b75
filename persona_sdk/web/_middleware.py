"""The framework-free core every middleware shares: request facts in, visitor arguments out.

A framework adapter (``persona_sdk.web.starlette``, ``.django``, ``.flask``) reads the request
into a ``RequestFacts`` and asks a ``VisitorResolver`` for ``VisitorArgs``: the anonymous id
(from the first-party cookie, adopted from analytics.js or Google Analytics cookies, or newly
minted), the request attributes conditions see, the consent the visitor gave, and the
``Set-Cookie`` header to send when the cookie must be (re)written. The adapter adds the user id
(from the app's ``get_user_id``), calls ``persona.visitor``/``avisitor`` and sets the cookie on
the response. Nothing here does I/O; the work per request is a few dict lookups and string
splits (the user-agent parse is cached).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import evolve, field, frozen

from ..config import CookieSettings
from ._consent import gpc_enabled, read_consent_cookie
from ._cookie import new_visitor_id, valid_visitor_id

__all__ = ["RequestFacts", "VisitorArgs", "VisitorOptions", "VisitorResolver", "build_resolver"]


_GA = re.compile(r"GA\d\.\d+\.(\d+\.\d+)")
_UTM = (
    ("utm_source", "utmSource"),
    ("utm_medium", "utmMedium"),
    ("utm_campaign", "utmCampaign"),
    ("utm_term", "utmTerm"),
    ("utm_content", "utmContent"),
)
_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Cloudflare's and others' placeholders for "unknown" and "Tor"
_NO_COUNTRY = frozenset({"XX", "T1", "ZZ"})


@frozen(kw_only=True)
class VisitorOptions:
    """How a middleware resolves the visitor from a request.

    Usage::

        VisitorOptions(get_user_id=lambda request: request.session.get("user_id"),
                       country_header="CF-IPCountry", exclude_paths=("/static/",))

    Args:
        get_user_id: called with the framework's request; returns the logged-in user's id or
            ``None``. Starlette's may be a coroutine function. Django's default reads
            ``request.user``; the others default to no user id.
        cookie: the visitor cookie and the consent cookie's name (``CookieSettings``);
            ``None`` (the default): the container's ``collector.cookie``, so the collector and
            the middleware agree.
        adopt_cookies: also take the id from analytics.js (``ajs_anonymous_id``) and Google
            Analytics (``_ga``, its client id) cookies, so a site moving over keeps its visitors.
        country_header: the header a CDN puts the visitor's country in (``None`` to skip).
        exclude_paths: path prefixes that get no visitor (static files, the collector).
        refresh_cookie: rewrite the cookie on every response (sliding expiry) rather than only
            when it is missing or adopted.

    .. versionadded:: 0.1
    """

    get_user_id: Callable[[Any], Any] | None = None
    cookie: CookieSettings | None = None
    adopt_cookies: bool = True
    country_header: str | None = "CF-IPCountry"
    exclude_paths: tuple[str, ...] = field(default=(), converter=tuple)
    refresh_cookie: bool = False


@frozen(kw_only=True)
class RequestFacts:
    """What an adapter reads from one request; header names are lower-case."""

    scheme: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]
    cookies: Mapping[str, str]

    @property
    def url(self) -> str:
        """The full URL as the browser sees it."""
        base = f"{self.scheme}://{self.host}{self.path}"
        return f"{base}?{self.query}" if self.query else base


@frozen(kw_only=True)
class VisitorArgs:
    """The keyword arguments for ``persona.visitor`` (minus ``user_id``) and the cookie to set."""

    anonymous_id: str
    attributes: dict[str, Any]
    consent: dict[str, bool] | None
    url: str
    set_cookie: str | None  # a full Set-Cookie header value, or None
    gpc: bool = False  # the request carried a Global Privacy Control signal

    def visitor_kwargs(self, user_id: Any) -> dict[str, Any]:
        """The keyword arguments for ``persona.visitor``/``avisitor``, with the app's user id
        (``None``, or anything its ``str`` is the id of)."""
        return {
            "anonymous_id": self.anonymous_id,
            "user_id": None if user_id is None else str(user_id),
            "attributes": self.attributes,
            "consent": self.consent,
            "url": self.url,
            "gpc": self.gpc,
        }


def _adopted_id(cookies: Mapping[str, str]) -> str | None:
    ajs = cookies.get("ajs_anonymous_id")
    if ajs:
        # analytics.js stores a JSON string, usually URL-encoded: %22abc-123%22
        value = valid_visitor_id(unquote(ajs).strip('"'))
        if value is not None:
            return value
    ga = cookies.get("_ga")
    if ga:
        m = _GA.fullmatch(ga)
        if m:
            return m.group(1)
    return None


def _locale(accept_language: str) -> str | None:
    # The highest-q tag; ties keep header order (browsers list preferences in order).
    best: str | None = None
    best_q = 0.0
    for part in accept_language.split(",")[:16]:
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not _LANG.fullmatch(tag):
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = tag, q
    return best


class VisitorResolver:
    """Turns ``RequestFacts`` into ``VisitorArgs`` for one middleware instance.

    Built once (options are fixed then). The consent purposes a GPC signal opts out of are read
    per request through ``gpc_purposes`` (a set, or a function returning the set of the
    container in force), so a reload that marks a purpose ``sale_sharing`` applies at once.
    """

    def __init__(
        self,
        options: VisitorOptions,
        *,
        gpc_purposes: frozenset[str] | Callable[[], frozenset[str]] = frozenset(),
    ) -> None:
        self.options = options
        #: the cookie settings in force (the options', else the defaults)
        self.cookie = options.cookie or CookieSettings()
        if callable(gpc_purposes):
            self._gpc_purposes = gpc_purposes
        else:
            fixed = gpc_purposes
            self._gpc_purposes = lambda: fixed
        self._country_header = (options.country_header or "").lower() or None
        self._cookie_tail = self.cookie.attributes()  # computed once

    def cookie_header(self, anonymous_id: str) -> str:
        """The ``Set-Cookie`` header value that stores ``anonymous_id``."""
        return f"{self.cookie.name}={anonymous_id}; {self._cookie_tail}"

    def set_cookie(self, response: Any, anonymous_id: str) -> None:
        """Store ``anonymous_id`` with a response's ``set_cookie`` (Django's and Flask's)."""
        c = self.cookie
        response.set_cookie(
            c.name,
            anonymous_id,
            max_age=c.max_age,
            path=c.path,
            domain=c.domain,
            secure=c.sends_secure,
            httponly=c.httponly,
            samesite=c.samesite,
        )

    def excluded(self, path: str) -> bool:
        """Whether ``path`` gets no visitor (one of ``exclude_paths``)."""
        return path.startswith(self.options.exclude_paths) if self.options.exclude_paths else False

    def anonymous_id(self, cookies: Mapping[str, str]) -> tuple[str, bool]:
        """Return the visitor's anonymous id and whether the cookie must be written."""
        own = valid_visitor_id(cookies.get(self.cookie.name))
        if own is not None:
            return own, self.options.refresh_cookie
        adopted = _adopted_id(cookies) if self.options.adopt_cookies else None
        if adopted is not None:
            return adopted, True
        return new_visitor_id(), True

    def attributes(self, facts: RequestFacts) -> dict[str, Any]:
        """The request attributes conditions see (GrowthBook's attribute names)."""
        from ._ua import parse_user_agent

        headers = facts.headers
        attrs: dict[str, Any] = {
            "url": facts.url,
            "host": facts.host,
            "path": facts.path,
            "query": facts.query,
        }
        if facts.query:
            params = dict(parse_qsl(facts.query, keep_blank_values=False))
            for key, name in _UTM:
                if key in params:
                    attrs[name] = params[key]
        referrer = headers.get("referer")
        if referrer:
            attrs["referrer"] = referrer
        ua = headers.get("user-agent")
        if ua:
            attrs["userAgent"] = ua
            parsed = parse_user_agent(ua)
            attrs["deviceType"] = parsed["device"]
            for key, name in (
                ("browser", "browser"),
                ("browser_version", "browserVersion"),
                ("os", "os"),
                ("os_version", "osVersion"),
            ):
                if parsed[key] is not None:
                    attrs[name] = parsed[key]
        accept_language = headers.get("accept-language")
        if accept_language:
            locale = _locale(accept_language)
            if locale is not None:
                attrs["locale"] = locale
                attrs["language"] = locale.split("-", 1)[0].lower()
        if self._country_header is not None:
            country = headers.get(self._country_header, "").strip().upper()
            if _COUNTRY.fullmatch(country) and country not in _NO_COUNTRY:
                attrs["country"] = country
        return attrs

    def consent(self, facts: RequestFacts) -> dict[str, bool] | None:
        """The visitor's consent: the consent cookie, with a GPC signal opting out of the
        purposes that sell or share data. ``None`` when nothing is known."""
        return self._consent(facts, gpc_enabled(facts.headers.get("sec-gpc")))

    def _consent(self, facts: RequestFacts, gpc: bool) -> dict[str, bool] | None:
        consent = read_consent_cookie(facts.cookies.get(self.cookie.consent_name))
        if gpc:
            purposes = self._gpc_purposes()
            if purposes:
                consent = dict(consent or {})
                for purpose in purposes:
                    consent[purpose] = False
        return consent

    def resolve(self, facts: RequestFacts) -> VisitorArgs:
        """Everything the adapter needs except the user id."""
        anonymous_id, write = self.anonymous_id(facts.cookies)
        gpc = gpc_enabled(facts.headers.get("sec-gpc"))
        return VisitorArgs(
            anonymous_id=anonymous_id,
            attributes=self.attributes(facts),
            consent=self._consent(facts, gpc),
            url=facts.url,
            set_cookie=self.cookie_header(anonymous_id) if write else None,
            gpc=gpc,
        )


def build_resolver(
    persona: Any, options: VisitorOptions | None, **overrides: Any
) -> VisitorResolver:
    """A resolver for ``persona``: the cookie settings default to the container's
    ``collector.cookie``, and the purposes marked ``sale_sharing`` (in the container in force
    at each request, so after a ``reload`` too) are those GPC opts out of.

    ``overrides`` are ``VisitorOptions`` fields applied over ``options``; ``cookie`` may be a
    mapping of ``CookieSettings`` fields, applied over the cookie settings otherwise in force.
    """
    options = options or VisitorOptions()
    cookie = overrides.pop("cookie", None)
    base = options.cookie or persona.container.collector.cookie
    if isinstance(cookie, Mapping):
        cookie = evolve(base, **cookie)
    options = evolve(options, cookie=cookie or base, **overrides)
    cache: list[Any] = [None, frozenset()]  # (the consent config read, its purposes)

    def gpc_purposes() -> frozenset[str]:
        consent = persona.container.consent
        if cache[0] is not consent:  # a reload: read the new container's purposes once
            cache[1] = frozenset(
                name for name, purpose in consent.purposes.items() if purpose.sale_sharing
            )
            cache[0] = consent
        return cache[1]  # type: ignore[no-any-return]

    return VisitorResolver(options, gpc_purposes=gpc_purposes)
