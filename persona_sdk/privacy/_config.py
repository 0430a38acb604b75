"""Consent and PII policy configuration (the container's ``consent`` and ``pii`` sections)."""

from __future__ import annotations

from attrs import Factory, frozen

__all__ = ["ConsentConfig", "PiiConfig", "PurposeConfig"]


@frozen(kw_only=True)
class PurposeConfig:
    """One consent purpose, e.g. ``analytics`` or ``advertising``.

    ``sale_sharing`` marks purposes that a Global Privacy Control signal opts out of.
    """

    description: str = ""
    sale_sharing: bool = False


@frozen(kw_only=True)
class ConsentConfig:
    """The consent purposes a site records (``[consent.purposes.analytics]`` ...)."""

    purposes: dict[str, PurposeConfig] = Factory(dict)


@frozen(kw_only=True)
class PiiConfig:
    """Which event fields are personal data, hashed or removed before they leave the process.

    Field paths are dotted Segment paths: ``traits.email``, ``properties.phone``,
    ``context.ip``.
    """

    fields: dict[str, str] = Factory(dict)  # path -> kind ("email", "phone", "name", ...)
