"""Collector configuration (the container's ``collector`` section)."""

from __future__ import annotations

from typing import Any

from attrs import Factory, field, frozen

from .._errors import ConfigError
from ._profile_api import ProfileApiConfig

__all__ = ["MAX_COOKIE_DAYS", "CollectorConfig"]

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
class CollectorConfig:
    """The first-party collector endpoint, its visitor cookie and its limits.

    Usage (the container's ``[collector]`` table, or directly)::

        CollectorConfig(write_keys=["wk_live_1"], cors_origins=["https://shop.example"],
                        cookie_domain="shop.example", rate_limit_per_second=20)

    Args:
        write_keys: accepted write keys; empty accepts any request (development).
        cookie_name: the first-party visitor cookie (the middleware reads the same one).
        cookie_domain: ``Domain`` attribute, to share the id across subdomains.
        cookie_max_age_days: lifetime, refreshed on every beacon; at most 400 days.
        cookie_secure / cookie_httponly / cookie_samesite / cookie_path: the cookie's flags.
        consent_cookie: the cookie the JS tag's ``persona.consent({...})`` writes.
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
    cookie_name: str = "persona_id"
    cookie_domain: str | None = None
    cookie_max_age_days: int = field(default=MAX_COOKIE_DAYS, validator=_days)
    cors_origins: list[str] = Factory(list)
    cookie_secure: bool = True
    cookie_httponly: bool = True
    cookie_samesite: str = field(default="Lax", validator=_samesite)
    cookie_path: str = "/"
    consent_cookie: str = "persona_consent"
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
