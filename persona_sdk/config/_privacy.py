"""Consent and PII policy configuration (the container's ``consent`` and ``pii`` sections).

``PiiConfig`` and its enums are part of the plugin contract (a destination's factory gets
the container's ``pii``); they are defined in ``persona_sdk.plugins`` and re-exported here.
"""

from __future__ import annotations

from attrs import Factory, frozen

from ..plugins import PiiAction, PiiConfig, PiiKind, PiiRules

__all__ = ["ConsentConfig", "PiiAction", "PiiConfig", "PiiKind", "PiiRules", "PurposeConfig"]


@frozen(kw_only=True)
class PurposeConfig:
    """One consent purpose, e.g. ``analytics`` or ``advertising``.

    ``sale_sharing`` marks purposes that a Global Privacy Control signal opts out of.
    """

    description: str = ""
    sale_sharing: bool = False


@frozen(kw_only=True)
class ConsentConfig:
    """The consent purposes a site records (``[consent.purposes.analytics]`` ...).

    When at least one purpose is declared, every purpose a tag or destination names must be
    one of them (a typo is a ``ConfigError``); with none declared, any name is accepted and
    none is opted out by GPC.
    """

    purposes: dict[str, PurposeConfig] = Factory(dict)


