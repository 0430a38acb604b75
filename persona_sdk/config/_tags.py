"""Tag configuration: trigger + destination + consent + mapping (the container's ``tags``)."""

from __future__ import annotations

from typing import Any

from attrs import Factory, frozen

__all__ = ["MappingConfig", "TagConfig"]


@frozen(kw_only=True)
class MappingConfig:
    """How a tag reshapes an event for its destination.

    ``events`` renames event names; ``rename`` renames property paths; ``drop`` removes paths;
    ``add`` sets constant values; ``allow`` (when given) keeps only the listed properties.
    """

    events: dict[str, str] = Factory(dict)
    rename: dict[str, str] = Factory(dict)
    drop: list[str] = Factory(list)
    add: dict[str, Any] = Factory(dict)
    allow: list[str] | None = None


@frozen(kw_only=True)
class TagConfig:
    """One tag: when ``trigger`` (a condition over the event) matches and every ``consent``
    purpose is granted, the event goes to ``destination`` reshaped by ``mapping``."""

    name: str
    destination: str
    trigger: dict[str, Any] | None = None
    consent: list[str] = Factory(list)
    mapping: MappingConfig = Factory(MappingConfig)
    enabled: bool = True
