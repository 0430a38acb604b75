"""The callables ``Persona`` hands the parts built around it (collector, profile API, visitors).

A leaf: it imports nothing of the package, so any layer may type what it is handed.

The write path (events → tags → delivery) and the read path (profiles → rules → decisions)
meet only in the facade; what one hands the other, or what an adapter is handed, is one of
these callables, bound once when ``Persona`` is built, never the ``Persona`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from attrs import frozen

__all__ = [
    "IngestBatch", "IngestFn", "Ports", "ProfileReader", "ProfileRecord", "TrackFn", "Tracker",
    "VisitorSegments",
]


class IngestFn(Protocol):
    """``Persona.ingest``: one Segment-shaped message or a ``{"batch": [...]}`` envelope;
    one ``persona_sdk.events.IngestResult`` per message (typed there: this module is a
    leaf)."""

    def __call__(
        self, payload: bytes | Mapping[str, Any], *, received_at: float | None = None
    ) -> list[Any]: ...


#: The collector's batch path: ``(items, received_at, oversized) -> (accepted, errors)``, for
#: messages already decoded, depth- and duplicate-checked and sized by the collector
#: (``oversized`` maps an item's index to its encoded size when near the cap); ``errors``
#: are ``(index, reason)`` pairs, in index order.
IngestBatch = Callable[
    [list[Any], float, Mapping[int, int]], tuple[int, list[tuple[int, str]]]
]


class ProfileRecord(Protocol):
    """What is known of a visitor, unfiltered (``ProfileResolver.record``)."""

    def __call__(
        self, *, anonymous_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any] | None: ...


class ProfileReader(Protocol):
    """The profile resolver's read path (``ProfileResolver.reader``): what ``Persona`` calls
    on every ``visitor``; the ``Profile`` it returns is typed in ``persona_sdk.profiles``."""

    def resolve(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Any:
        """The visitor's profile, within the deadline."""

    async def aresolve(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Any:
        """The asyncio form of ``resolve``."""

    def bare(self, anonymous_id: str | None, user_id: str | None) -> Callable[[str], Any] | None:
        """``build`` when ``resolve`` would give a profile holding nothing but its id ``key``
        (``user_id or anonymous_id``; ``build(key)`` makes it, only if the visitor reads it;
        always the same object, ``bare_parts[3]``, and a bound method: a visitor tells it
        from a profile by that); None: ``resolve`` it."""

    #: what ``bare`` reads, for ``persona.visitor`` to make the same test without a call:
    #: ``(state, held, linked, build)``: no profile is bare while ``state.remote_seen``; else
    #: the key (``user_id or anonymous_id``, a non-empty ``str``) is bare unless ``held(key)``
    #: or ``linked(key)``; ``build(key)`` makes the bare profile
    bare_parts: tuple[Any, Callable[[object], bool], Callable[[object], bool],
                      Callable[[str], Any]]


class TrackFn(Protocol):
    """``Persona.track``, as a visitor calls it (exposures, ``visitor.track``)."""

    def __call__(
        self,
        event: str,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        consent: Mapping[str, bool] | None = None,
        timestamp: Any = None,
        message_id: str | None = None,
    ) -> str: ...


class Tracker:
    """Where a visitor's exposures and ``visitor.track`` go: ``track``, bound once."""

    __slots__ = ("track",)

    def __init__(self, track: TrackFn) -> None:
        self.track = track


class VisitorSegments(Protocol):
    """What computes ``visitor.segments``: ``profiles.Segments`` (evaluates the conditions),
    or what ``Persona`` wires (``ProfileResolver.visitor_segments``: the membership kept per
    visitor, re-evaluating only what changed and emitting ``Segment Entered``/``Exited``)."""

    def evaluate(self, attributes: Mapping[str, Any]) -> frozenset[str]:
        """The segments whose condition ``attributes`` meet (nothing remembered)."""

    def of_visitor(
        self,
        attributes: Mapping[str, Any],
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> frozenset[str]:
        """The segments of this visitor, as of ``attributes``."""


@frozen
class Ports:
    """The callables a ``Persona`` hands the web adapters (``Collector``, the profile API).

    Built once with the ``Persona`` (``persona.ports``); each is a bound method, so calling
    one costs what calling the method does.
    """

    #: ``Persona.ingest``
    ingest: IngestFn
    #: the collector's batch path (see ``IngestBatch``)
    ingest_batch: IngestBatch
    #: the profile resolver's ``record`` (the profile API's ``GET /v1/profiles/<id>``)
    profile_record: ProfileRecord
