"""Content and store contracts: counters, de-duplication, content sources, enrichers, strategies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

__all__ = [
    "AsyncCounterStore",
    "ContentSource",
    "ContentSourceFactory",
    "CounterStore",
    "DedupStore",
    "Enricher",
    "FeedResult",
    "Strategy",
    "person_key",
    "person_tags",
]


@runtime_checkable
class CounterStore(Protocol):
    """Counters shared by every process deciding content: frequency caps (sliding windows)
    and bandit statistics (hash fields). The in-memory implementation is
    ``persona_sdk.InMemoryCounterStore``; a shared one (Redis) makes caps exact
    across processes. Every method must be safe to call from many threads at once, and
    ``window_hit`` must be atomic: two callers never both take the last hit of a window.

    The conformance tests any implementation should pass are in
    ``tests/stores/counter_conformance.py`` (``run_counter_conformance(make_store)``).

    A store may also offer ``add(key, field, amount)``: an increment whose result nobody
    waits for (bandit statistics), which it may batch with its next round trip.
    """

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        """Add ``amount`` to ``field`` of the hash ``key`` (created at 0); the new value."""
        ...

    def get_all(self, key: str) -> dict[str, float]:
        """Every field of the hash ``key`` (``{}`` when there is none)."""
        ...

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """Atomically: if fewer than ``limit`` hits of ``key`` fall in ``(now - window, now]``,
        record one at ``now`` and return True; otherwise record nothing and return False."""
        ...

    def window_count(self, key: str, *, now: float, window: float) -> int:
        """How many hits of ``key`` fall in ``(now - window, now]``."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key`` (a hash or a window); nothing happens when it does not exist."""
        ...


@runtime_checkable
class AsyncCounterStore(Protocol):
    """The asyncio side a ``CounterStore`` may offer (optional, method by method):
    ``await visitor.adecide(...)`` awaits each of these the store has and calls the sync
    method for the others, as ``decide`` does. Same meaning as the sync methods.
    """

    async def aincr(self, key: str, field: str, amount: float = 1.0) -> float:
        """The asyncio form of ``incr``."""
        ...

    async def aget_all(self, key: str) -> dict[str, float]:
        """The asyncio form of ``get_all``."""
        ...

    async def awindow_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """The asyncio form of ``window_hit`` (as atomic)."""
        ...


@frozen(kw_only=True)
class FeedResult:
    """What a ``ContentSource`` fetched: raw item mappings (validated by the catalog, which
    refuses bad items one by one), or ``not_modified`` when the source answered that its
    content is unchanged since ``etag``."""

    items: Sequence[Mapping[str, Any]] = ()
    etag: str | None = None
    not_modified: bool = False


@runtime_checkable
class ContentSource(Protocol):
    """Where content items come from besides the container: a CMS or PIM export, a file.

    ``fetch`` runs on the feed poller's thread (never in a request). It raises on any
    failure (timeout, bad status, unreadable body, partial CSV): the catalog then keeps the
    last good items of this source and counts the failure.
    """

    name: str
    #: seconds between polls
    interval: float

    def fetch(self, etag: str | None) -> FeedResult:
        """Fetch the items, sending ``etag`` as ``If-None-Match`` where the transport has it."""
        ...

    def close(self) -> None:
        """Release connections; called once at shutdown."""
        ...


class ContentSourceFactory(Protocol):
    """Builds a content source from its container entry (``content_sources.<name>``).
    Raise ``ConfigError`` with paths relative to ``options``."""

    def __call__(self, *, name: str, options: Mapping[str, Any]) -> ContentSource: ...


@runtime_checkable
class Enricher(Protocol):
    """Adds real-time context attributes for content conditions and scores.

    ``enrich`` runs inside ``decide``, once per decision: it must do no I/O and never block
    (answer from a cache and refresh it in the background). It gets the visitor's attributes
    (read-only: the app's ``headers``, ``cookies``, ``user_agent``, ``url``... and what earlier
    enrichers added) and the decision's clock, and returns the attributes to add (the app's own
    attributes win). An exception is counted and skipped, never raised into the request.
    """

    def enrich(self, attributes: Mapping[str, Any], now: float) -> Mapping[str, Any] | None:
        """The attributes to add (None or ``{}``: nothing)."""
        ...


@runtime_checkable
class Strategy(Protocol):
    """A content placement strategy of your own (``strategy = "<name>"`` in a placement).

    ``rank`` gets the placement's eligible items (live, in locale, audience condition
    passed; each has ``id``, ``name``, ``type``, ``tags``, ``categories``, ``priority``,
    ``weight``, ``campaign``, ``payload``, ``metadata`` and ``attributes``), the visitor's
    attributes (enriched) and a stable visitor key, and yields ``(item, score or None)`` best
    first; the runtime takes items from the front until ``n`` pass their frequency caps. It
    runs inside ``decide``: no I/O. An exception gives the placement's fallback, counted in
    ``stats()["content"]["strategy_errors"]``.
    """

    def rank(
        self, items: Sequence[Any], attributes: Mapping[str, Any], visitor_key: str
    ) -> Iterable[tuple[Any, float | None]]:
        """The items, best first, each with its score (or None)."""
        ...


@runtime_checkable
class DedupStore(Protocol):
    """A set of keys with expiry, shared by the processes that should log something once
    (exposure de-duplication). ``persona_sdk.InMemoryDedupStore`` within one process;
    persona-redis across hosts.

    A store may also offer ``forget(ids)``, called by ``Persona.forget`` to erase a person.
    """

    def add(self, key: str, *, ttl: float) -> bool:
        """Add ``key`` for ``ttl`` seconds; True when it was not there (the first time)."""
        ...




def person_key(kind: str, person: str, *rest: str) -> str:
    """``"<kind>:{<person>}:<rest>..."``: a store key that ``forget`` can find."""
    return ":".join((kind, f"{{{person}}}", *rest))


def person_tags(ids: Iterable[str]) -> list[str]:
    """The ``{id}`` markers ``forget`` looks for."""
    return [f"{{{i}}}" for i in ids if i]
