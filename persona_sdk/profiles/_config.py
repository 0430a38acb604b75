"""Profile configuration: source, cache tiers, computed traits and segments."""

from __future__ import annotations

from typing import Any

from attrs import Factory, frozen

__all__ = ["ComputedTraitConfig", "ProfilesConfig", "SegmentConfig"]


@frozen(kw_only=True)
class SegmentConfig:
    """A named condition over traits, computed traits and request attributes."""

    condition: dict[str, Any]
    description: str = ""


@frozen(kw_only=True)
class ComputedTraitConfig:
    """A trait computed in-process from the visitor's own events."""

    kind: str  # count | sum | min | max | first | last | first_seen | last_seen | distinct
    event: str | None = None
    property: str | None = None
    window: float | None = None  # seconds


@frozen(kw_only=True)
class ProfilesConfig:
    """Where profiles come from and how they are cached."""

    source: dict[str, Any] | None = None  # {"type": "http", ...options}
    deadline: float = 0.05
    ttl: float = 300.0
    max_entries: int = 100_000
    personal_traits: list[str] = Factory(list)
