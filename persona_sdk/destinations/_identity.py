"""Where a Segment event keeps the visitor's identifiers, for the ad and analytics APIs that
match on them (Meta's ``user_data``, GA4's user-provided data).

Segment puts traits on ``identify`` calls (``traits``) and, for other calls, in
``context.traits``; some sites also put an email in ``properties``. Container PII fields of a
kind add their paths to that kind's sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..plugins import PiiConfig, PiiKind

__all__ = [
    "DEFAULT_SOURCES",
    "first_value",
    "get_path",
    "identity_properties",
    "identity_sources",
]


def _traits(*names: str) -> tuple[str, ...]:
    return tuple(f"{root}.{n}" for n in names for root in ("traits", "context.traits"))


DEFAULT_SOURCES: Final[Mapping[PiiKind, tuple[str, ...]]] = {
    PiiKind.EMAIL: (*_traits("email"), "properties.email"),
    PiiKind.PHONE: (*_traits("phone"), "properties.phone"),
    PiiKind.FIRST_NAME: _traits("firstName", "first_name"),
    PiiKind.LAST_NAME: _traits("lastName", "last_name"),
    PiiKind.STREET: _traits("address.street"),
    PiiKind.CITY: _traits("address.city"),
    PiiKind.STATE: _traits("address.state"),
    PiiKind.ZIP: _traits("address.postalCode", "address.postal_code", "address.zip"),
    PiiKind.COUNTRY: _traits("address.country"),
    PiiKind.DOB: _traits("birthday"),
    PiiKind.GENDER: _traits("gender"),
    PiiKind.EXTERNAL_ID: ("userId",),
}


def identity_sources(pii: PiiConfig | None) -> dict[PiiKind, tuple[str, ...]]:
    """The default sources per kind, plus the container's PII field paths of that kind."""
    out = dict(DEFAULT_SOURCES)
    for path, value in (pii.fields if pii else {}).items():
        kind = PiiKind(value)
        if "*" not in path and path not in out.get(kind, ()):
            out[kind] = (*out.get(kind, ()), path)
    return out


def identity_properties(sources: Mapping[PiiKind, Sequence[str]]) -> set[str]:
    """The top-level ``properties`` keys among ``sources``: identifiers that go in the API's
    user data (hashed), never in clear among the event's parameters."""
    return {
        p.split(".", 1)[1]
        for paths in sources.values()
        for p in paths
        if p.startswith("properties.") and p.count(".") == 1
    }


def get_path(event: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``None``."""
    node: Any = event
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
        if node is None:
            return None
    return node


def first_value(event: Mapping[str, Any], paths: Sequence[str]) -> Any:
    """The first non-empty value found at ``paths``."""
    for path in paths:
        value = get_path(event, path)
        if value is not None and value not in ("", []):
            return value
    return None
