"""Allocation contracts: hash schemes and sticky bucket stores (GrowthBook's document shapes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import msgspec

__all__ = [
    "AsyncStickyBucketStore",
    "Bucketer",
    "HashScheme",
    "StickyAssignments",
    "StickyBucketStore",
    "sticky_key",
]


#: Maps a hash value (the visitor's attribute, as a string) to a number in [0, 1).
Bucketer = Callable[[str], float]


@runtime_checkable
class HashScheme(Protocol):
    """How visitors are mapped to [0, 1) for one experiment (pluggable per experiment).

    ``bucketer(seed, version)`` is called once per experiment when a container is compiled
    and returns the per-visitor function, or None when ``version`` is not supported (the
    visitor is then not bucketed). Schemes are found by name: ``growthbook`` (default),
    ``optimizely``, or an entry point in the ``persona_sdk.hash_schemes`` group.
    """

    name: str

    def bucketer(self, seed: str, version: int) -> Bucketer | None:
        """The function from a hash value to [0, 1) for this seed and version."""
        ...




class StickyAssignments(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One visitor identifier's assignments: ``{"<exp>__<bucketVersion>": "<variation key>"}``.

    Serializes (``msgspec.json.encode``) to GrowthBook's document shape
    ``{"attributeName", "attributeValue", "assignments"}``.
    """

    attribute_name: str
    attribute_value: str
    assignments: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> str:
        """``"<attribute name>||<attribute value>"``, the document's identity."""
        return sticky_key(self.attribute_name, self.attribute_value)


def sticky_key(attribute_name: str, attribute_value: str) -> str:
    """The identity of a sticky document: ``"<attribute name>||<attribute value>"``."""
    return f"{attribute_name}||{attribute_value}"


@runtime_checkable
class StickyBucketStore(Protocol):
    """Where sticky assignments live (sync form). Implementations must be thread-safe.

    ``load`` gets the documents of several identifiers at once (one round trip for a remote
    store) and returns them keyed by ``sticky_key``; missing documents are simply absent.
    """

    def load(self, attributes: Mapping[str, str]) -> Mapping[str, StickyAssignments]:
        """Documents for ``{attribute name: attribute value}``, keyed ``"name||value"``."""
        ...

    def save(self, doc: StickyAssignments) -> None:
        """Insert or replace one document."""
        ...


@runtime_checkable
class AsyncStickyBucketStore(Protocol):
    """Where sticky assignments live (asyncio form), used by ``await visitor.afeature()``."""

    async def aload(self, attributes: Mapping[str, str]) -> Mapping[str, StickyAssignments]:
        """Documents for ``{attribute name: attribute value}``, keyed ``"name||value"``."""
        ...

    async def asave(self, doc: StickyAssignments) -> None:
        """Insert or replace one document."""
        ...
