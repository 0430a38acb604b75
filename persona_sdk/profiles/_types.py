"""The profile data model (the plugin protocols of this package are in ``persona_sdk.plugins``).

``FetchResult`` is what every ``ProfileSource`` returns, whatever the CDP behind it says:
found (with traits), not found, or an error of a known ``FetchErrorKind``. ``Profile`` is what
the resolver hands to the read path; its ``source`` and ``reasons`` say where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._strenum import StrEnum
from ..plugins import (
    FetchErrorKind,
    FetchResult,
    FetchStatus,
    ProfileSource,
    ProfileSourceFactory,
    ProfileStore,
    ProfileStoreFactory,
)

__all__ = [
    "EMPTY",
    "FetchErrorKind",
    "FetchResult",
    "FetchStatus",
    "Profile",
    "ProfileReason",
    "ProfileSource",
    "ProfileSourceFactory",
    "ProfileSourceKind",
    "ProfileStore",
    "ProfileStoreFactory",
]

#: A shared, read-only empty mapping.
EMPTY: Mapping[str, Any] = MappingProxyType({})

class ProfileSourceKind(StrEnum):
    """Where a visitor's profile came from."""

    L1 = "l1"  #: the in-process cache, fresh
    L2 = "l2"  #: the shared store (another process fetched it)
    REMOTE = "remote"  #: the profile source, just now
    STALE = "stale"  #: the in-process cache, past its TTL but inside the grace window
    FALLBACK = "fallback"  #: nothing usable: traits come only from this process' own events
    LOCAL = "local"  #: no source or store is configured: this process' own events are the profile


class ProfileReason(StrEnum):
    """Why a profile is what it is (``Profile.reasons``)."""

    NOT_FOUND = "not_found"  #: the source does not know the visitor (cached negatively)
    NO_SOURCE = "no_source"  #: no profile source is configured
    NO_ID = "no_id"  #: neither an anonymous id nor a user id was given
    TIMEOUT = "timeout"  #: the lookup deadline passed
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    RATE_LIMITED = "rate_limited"
    BAD_JSON = "bad_json"
    BAD_RESPONSE = "bad_response"
    INTERNAL = "internal"
    CIRCUIT_OPEN = "circuit_open"  #: the breaker is open: the source was not called
    OVERLOADED = "overloaded"  #: too many lookups under way (``max_in_flight``)
    CLOSED = "closed"  #: the resolver is closed
    REVALIDATING = "revalidating"  #: a stale entry was served; a refresh is under way
    PERSONAL_TRAITS_WITHHELD = "personal_traits_withheld"  #: no personalization consent


class Profile:
    """A visitor's profile as the read path sees it (treat it as read-only).

    Attributes:
        canonical_id: the id the profile is keyed by (user id when known, else anonymous id).
        traits: remote traits, overlaid with traits from this process' ``identify`` calls.
        computed: real-time computed traits (``computed_traits`` of the container).
        source: a ``ProfileSourceKind``: ``l1``, ``l2``, ``remote``, ``stale`` or ``fallback``.
        reasons: ``ProfileReason`` values explaining ``source`` (empty when all went well).
        targeting_traits: what conditions see: traits merged with computed traits per the
            merge policy, minus personal traits when personalization is not granted.
    """

    __slots__ = ("canonical_id", "computed", "reasons", "source", "targeting_traits", "traits")

    def __init__(
        self,
        *,
        canonical_id: str,
        traits: Mapping[str, Any],
        computed: Mapping[str, Any],
        source: ProfileSourceKind,
        reasons: tuple[ProfileReason, ...],
        targeting_traits: Mapping[str, Any],
    ) -> None:
        self.canonical_id = canonical_id
        self.traits = traits
        self.computed = computed
        self.source = source
        self.reasons = reasons
        self.targeting_traits = targeting_traits

    @property
    def is_fallback(self) -> bool:
        """Whether nothing came from a cache or the source."""
        return self.source is ProfileSourceKind.FALLBACK

    def __repr__(self) -> str:
        reasons = ", ".join(r.value for r in self.reasons)
        return (
            f"Profile(canonical_id={self.canonical_id!r}, source={self.source.value!r}, "
            f"reasons=[{reasons}], traits={dict(self.traits)!r}, "
            f"computed={dict(self.computed)!r})"
        )


