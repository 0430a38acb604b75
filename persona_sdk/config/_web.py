"""Collector configuration (the container's ``collector`` section) and the visitor cookie's
settings, which the collector and the middlewares share."""

from __future__ import annotations

from typing import Any

from attrs import Factory, field, frozen

from .._errors import ConfigError
from ._profile_api import ProfileApiConfig

__all__ = ["MAX_COOKIE_DAYS", "CollectorConfig", "CookieSettings"]

#: Browsers cap cookie lifetimes at 400 days (RFC 6265bis); longer values are clamped anyway.
MAX_COOKIE_DAYS = 400

_SAMESITE = ("Lax", "Strict", "None")


def _days(_inst: Any, attr: Any, value: int) -> None:
    if not 0 < value <= MAX_COOKIE_DAYS:
        raise ConfigError(f"{attr.name}: must be between 1 and {MAX_COOKIE_DAYS}, got {value}")


def _positive(_inst: Any, attr: Any, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{attr.name}: must be positive, got {value}")


def _not_negative(_inst: Any, attr: Any, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{attr.name}: must not be negative, got {value}")


def _samesite(_inst: Any, attr: Any, value: str) -> None:
    if value not in _SAMESITE:
        raise ConfigError(f"{attr.name}: must be one of {', '.join(_SAMESITE)}, got {value!r}")


def _prefix(_inst: Any, attr: Any, value: str) -> None:
    if value and (not value.startswith("/") or value.endswith("/")):
        raise ConfigError(f"{attr.name}: must start with '/' and not end with one, got {value!r}")


@frozen(kw_only=True)
class CookieSettings:
    """The first-party visitor cookie: one definition that the collector writes and the
    Django, Flask and Starlette middlewares read and write, so both sides agree.

    Usage (the container's ``[collector.cookie]`` table, or directly)::

        CookieSettings(name="persona_id", domain="shop.example", samesite="Lax")

    Args:
        name: the visitor cookie's name.
        domain: ``Domain`` attribute, to share the id across subdomains.
        max_age_days: lifetime, refreshed when the cookie is written; at most 400 days.
        secure / httponly / samesite / path: the cookie's flags. ``SameSite=None`` is always
            written with ``Secure`` (browsers refuse it otherwise); browsers keep ``Secure``
            cookies on ``http://localhost`` too, so development works.
        consent_name: the cookie the JS tag's ``persona.consent({...})`` writes.

    .. versionadded:: 0.1
    """

    name: str = "persona_id"
    domain: str | None = None
    max_age_days: int = field(default=MAX_COOKIE_DAYS, validator=_days)
    secure: bool = True
    httponly: bool = True
    samesite: str = field(default="Lax", validator=_samesite)
    path: str = "/"
    consent_name: str = "persona_consent"

    @property
    def max_age(self) -> int:
        """The lifetime in seconds (``Max-Age``)."""
        return self.max_age_days * 86400

    @property
    def sends_secure(self) -> bool:
        """Whether the cookie is written ``Secure`` (asked for, or needed by ``SameSite=None``)."""
        return self.secure or self.samesite == "None"

    def attributes(self) -> str:
        """The ``Set-Cookie`` attributes after ``name=value``."""
        parts = [f"Max-Age={self.max_age}", f"Path={self.path}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.sends_secure:
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.samesite}")
        return "; ".join(parts)

    def header(self, visitor_id: str) -> str:
        """The full ``Set-Cookie`` header value that stores ``visitor_id``."""
        return f"{self.name}={visitor_id}; {self.attributes()}"


@frozen(kw_only=True)
class CollectorConfig:
    """The first-party collector endpoint, its visitor cookie and its limits.

    Usage (the container's ``[collector]`` table, or directly)::

        CollectorConfig(write_keys=["wk_live_1"], cors_origins=["https://shop.example"],
                        cookie=CookieSettings(domain="shop.example"),
                        rate_limit_per_second=20)

    Args:
        write_keys: accepted write keys; empty accepts any request (development).
        cookie: the first-party visitor cookie and the consent cookie's name
            (``CookieSettings``, the ``[collector.cookie]`` table); the middlewares use the
            same settings unless told otherwise. The collector refreshes it on every beacon.
        cors_origins: origins allowed to post cross-origin, with credentials. Exact origins
            (``https://shop.example``), subdomain wildcards (``https://*.shop.example``) or
            ``*`` (any origin; not recommended). Same-origin requests are always allowed.
        max_batch_bytes / max_beacon_bytes / max_message_bytes: body caps for ``/v1/batch``,
            for ``/collect`` and ``/p.gif``, and for the single-message ``/v1/*`` endpoints.
        max_batch_items: most messages in one ``/v1/batch`` (or batched beacon); more is a 413.
        max_depth: deepest JSON nesting accepted in a body.
        truncate_ip: store ``context.ip`` truncated (IPv4 /24, IPv6 /48).
        filter_bots: silently drop requests whose user agent looks like a bot.
        rate_limit_per_second / rate_limit_burst: the per-client-IP token bucket, counting
            messages (a request costs one token, a batch one per message); ``0`` per second
            disables it. A batch of more messages than the burst is refused with a 413.
            Buckets are per process: with N worker processes a client gets up to N times the
            rate.
        rate_limit_clients: how many client IPs the limiter remembers (least recent forgotten).
        client_ip_header: a header set by a trusted proxy carrying the client address
            (``X-Forwarded-For``: the right-most entry is used, the one the proxy added).
        script_max_age: ``Cache-Control`` max-age (seconds) for ``/persona.js``.
        path_prefix: where the collector is mounted (``/t``) when the server passes full paths.
        profile_api: bearer tokens and limits of the profile API (``docs/profiles.md``).
        metrics: serve ``GET /metrics``: ``persona.stats()`` and the collector's counters as
            Prometheus text (needs the ``metrics`` extra).
        metrics_token: when set, ``/metrics`` requires ``Authorization: Bearer <token>``.

    .. versionadded:: 0.1
    """

    write_keys: list[str] = Factory(list)
    cookie: CookieSettings = Factory(CookieSettings)
    cors_origins: list[str] = Factory(list)
    max_batch_bytes: int = field(default=500 * 1024, validator=_positive)
    max_beacon_bytes: int = field(default=64 * 1024, validator=_positive)
    max_message_bytes: int = field(default=32 * 1024, validator=_positive)
    max_batch_items: int = field(default=2500, validator=_positive)
    max_depth: int = field(default=32, validator=_positive)
    truncate_ip: bool = True
    filter_bots: bool = False
    rate_limit_per_second: float = field(default=50.0, validator=_not_negative)
    rate_limit_burst: int = field(default=200, validator=_positive)
    rate_limit_clients: int = field(default=65_536, validator=_positive)
    client_ip_header: str | None = None
    script_max_age: int = field(default=3600, validator=_not_negative)
    path_prefix: str = field(default="", validator=_prefix)
    profile_api: ProfileApiConfig = Factory(ProfileApiConfig)
    metrics: bool = False
    metrics_token: str | None = field(default=None, repr=False)
