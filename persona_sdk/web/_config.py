"""Collector configuration (the container's ``collector`` section)."""

from __future__ import annotations

from attrs import Factory, frozen

__all__ = ["CollectorConfig"]


@frozen(kw_only=True)
class CollectorConfig:
    """The first-party collector endpoint and its cookie."""

    write_keys: list[str] = Factory(list)
    cookie_name: str = "persona_id"
    cookie_domain: str | None = None
    cookie_max_age_days: int = 400
    cors_origins: list[str] = Factory(list)
