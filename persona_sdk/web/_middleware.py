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
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import field, frozen

from ._middleware_consent import read_consent

__all__ = ["RequestFacts", "VisitorArgs", "VisitorOptions", "VisitorResolver"]

#: Browsers cap cookie lifetimes at 400 days (RFC 6265bis); longer values are clamped anyway.
MAX_COOKIE_DAYS = 400

# Ids we accept from a cookie: what uuid4, analytics.js and GA write, nothing that could carry
# markup or separators into logs, events or the bootstrap script.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
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


def _check_days(_inst: Any, _attr: Any, value: int) -> None:
    if not 0 < value <= MAX_COOKIE_DAYS:
        raise ValueError(f"cookie_max_age_days must be between 1 and {MAX_COOKIE_DAYS}")


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
        cookie_name: the first-party visitor cookie (the collector's, so both agree).
        cookie_domain: ``Domain`` attribute, to share the id across subdomains.
        cookie_max_age_days: lifetime, refreshed on every response that resolves a visitor;
            at most 400 days.
        cookie_secure / cookie_httponly / cookie_samesite / cookie_path: the cookie's flags.
            Browsers keep ``Secure`` cookies on ``http://localhost`` too, so development works.
        adopt_cookies: also take the id from analytics.js (``ajs_anonymous_id``) and Google
            Analytics (``_ga``, its client id) cookies, so a site moving over keeps its visitors.
        country_header: the header a CDN puts the visitor's country in (``None`` to skip).
        consent_cookie: the cookie the JS tag's ``persona.consent({...})`` writes.
        exclude_paths: path prefixes that get no visitor (static files, the collector).
        refresh_cookie: rewrite the cookie on every response (sliding expiry) rather than only
            when it is missing or adopted.

    .. versionadded:: 0.1
    """

    get_user_id: Callable[[Any], Any] | None = None
    cookie_name: str = "persona_id"
    cookie_domain: str | None = None
    cookie_max_age_days: int = field(default=MAX_COOKIE_DAYS, validator=_check_days)
    cookie_secure: bool = True
    cookie_httponly: bool = True
    cookie_samesite: str = "Lax"
    cookie_path: str = "/"
    adopt_cookies: bool = True
    country_header: str | None = "CF-IPCountry"
    consent_cookie: str = "persona_consent"
    exclude_paths: tuple[str, ...] = ()
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


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` request header leniently (first value of a name wins).

    ``http.cookies.SimpleCookie`` rejects a whole header for one odd cookie set by some other
    script on the domain; browsers do not, and neither do we.
    """
    out: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip()
        if name and name not in out:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[name] = value
    return out


def _adopted_id(cookies: Mapping[str, str]) -> str | None:
    ajs = cookies.get("ajs_anonymous_id")
    if ajs:
        # analytics.js stores a JSON string, usually URL-encoded: %22abc-123%22
        value = unquote(ajs).strip('"')
        if _ID.fullmatch(value):
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

    Built once (options and the consent purposes a GPC signal opts out of are fixed then).
    """

    def __init__(
        self, options: VisitorOptions, *, gpc_purposes: frozenset[str] = frozenset()
    ) -> None:
        self.options = options
        self._gpc_purposes = gpc_purposes
        self._country_header = (options.country_header or "").lower() or None
        self._cookie_tail = self._cookie_attributes(options)

    @staticmethod
    def _cookie_attributes(o: VisitorOptions) -> str:
        parts = [f"Max-Age={o.cookie_max_age_days * 86400}", f"Path={o.cookie_path}"]
        if o.cookie_domain:
            parts.append(f"Domain={o.cookie_domain}")
        if o.cookie_secure:
            parts.append("Secure")
        if o.cookie_httponly:
            parts.append("HttpOnly")
        parts.append(f"SameSite={o.cookie_samesite}")
        return "; ".join(parts)

    def cookie_header(self, anonymous_id: str) -> str:
        """The ``Set-Cookie`` header value that stores ``anonymous_id``."""
        return f"{self.options.cookie_name}={anonymous_id}; {self._cookie_tail}"

    def excluded(self, path: str) -> bool:
        """Whether ``path`` gets no visitor (one of ``exclude_paths``)."""
        return path.startswith(self.options.exclude_paths) if self.options.exclude_paths else False

    def anonymous_id(self, cookies: Mapping[str, str]) -> tuple[str, bool]:
        """Return the visitor's anonymous id and whether the cookie must be written."""
        own = cookies.get(self.options.cookie_name)
        if own and _ID.fullmatch(own):
            return own, self.options.refresh_cookie
        adopted = _adopted_id(cookies) if self.options.adopt_cookies else None
        if adopted is not None:
            return adopted, True
        return str(uuid.uuid4()), True

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
        consent = read_consent(facts.cookies.get(self.options.consent_cookie))
        if facts.headers.get("sec-gpc", "").strip() == "1" and self._gpc_purposes:
            consent = dict(consent or {})
            for purpose in self._gpc_purposes:
                consent[purpose] = False
        return consent

    def resolve(self, facts: RequestFacts) -> VisitorArgs:
        """Everything the adapter needs except the user id."""
        anonymous_id, write = self.anonymous_id(facts.cookies)
        return VisitorArgs(
            anonymous_id=anonymous_id,
            attributes=self.attributes(facts),
            consent=self.consent(facts),
            url=facts.url,
            set_cookie=self.cookie_header(anonymous_id) if write else None,
        )


def build_resolver(
    persona: Any, options: VisitorOptions | None, **overrides: Any
) -> VisitorResolver:
    """A resolver for ``persona``: cookie name and domain default to the container's collector
    section, and the purposes marked ``sale_sharing`` are those GPC opts out of."""
    container = persona.container
    collector = container.collector
    if options is None:
        options = VisitorOptions(
            cookie_name=collector.cookie_name,
            cookie_domain=collector.cookie_domain,
            cookie_max_age_days=min(collector.cookie_max_age_days, MAX_COOKIE_DAYS),
            **overrides,
        )
    elif overrides:
        from attrs import evolve

        options = evolve(options, **overrides)
    gpc = frozenset(
        name for name, purpose in container.consent.purposes.items() if purpose.sale_sharing
    )
    return VisitorResolver(options, gpc_purposes=gpc)
