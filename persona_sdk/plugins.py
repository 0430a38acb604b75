"""Plugin protocols and discovery.

A plugin is found through an entry point and implements a small ``typing.Protocol``:

===============================  ==========================================================
entry point group                protocol
===============================  ==========================================================
``persona_sdk.destinations``     ``DestinationFactory`` returning a ``Destination``
``persona_sdk.profile_sources``  ``ProfileSourceFactory`` returning a ``ProfileSource``
``persona_sdk.stores``           ``ProfileStore`` / ``StickyBucketStore`` factories
(none: passed to ``Persona``)    ``CounterStore``, ``DedupStore``
``persona_sdk.workers``          ``WorkerFactory`` (``persona worker --from <scheme>://``)
``persona_sdk.operators``        ``Operator`` (custom condition operators)
``persona_sdk.content_sources``  ``ContentSourceFactory`` returning a ``ContentSource``
``persona_sdk.enrichers``        a factory (``options=``) returning an ``Enricher``
``persona_sdk.strategies``       a ``Strategy`` (content placement strategies)
(passed to ``Persona``)          ``CounterStore`` (frequency caps, bandit statistics)
===============================  ==========================================================

A plugin never needs to import private modules: everything it needs is here or in
``persona_sdk``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import httpx
from attrs import frozen

from ._errors import PluginError
from ._stores import person_key, person_tags
from ._strenum import StrEnum
from .allocation import (
    AsyncStickyBucketStore,
    HashScheme,
    StickyAssignments,
    StickyBucketStore,
    sticky_key,
)
from .delivery._config import BatchConfig
from .privacy._config import PiiConfig
from .profiles import (
    FetchResult,
    ProfileSource,
    ProfileSourceFactory,
    ProfileStore,
    ProfileStoreFactory,
)
from .rules import Operator, OperatorRegistry

__all__ = [
    "AsyncStickyBucketStore",
    "BatchConfig",
    "ContentSource",
    "ContentSourceFactory",
    "CounterStore",
    "DedupStore",
    "Destination",
    "DestinationFactory",
    "Enricher",
    "FeedResult",
    "FetchResult",
    "HashScheme",
    "Operator",
    "OperatorRegistry",
    "ProfileSource",
    "ProfileSourceFactory",
    "ProfileStore",
    "ProfileStoreFactory",
    "SendOutcome",
    "SendResult",
    "StickyAssignments",
    "StickyBucketStore",
    "Strategy",
    "Worker",
    "WorkerFactory",
    "load_plugin",
    "person_key",
    "person_tags",
    "sticky_key",
]


class SendOutcome(StrEnum):
    """What became of one batch sent to a destination."""

    DELIVERED = "delivered"
    RETRY = "retry"  #: transient (5xx, 408, 429, network): try again with backoff
    DEAD = "dead"  #: permanent (other 4xx, invalid payload): dead-letter the batch


@frozen(kw_only=True)
class SendResult:
    """The outcome of ``Destination.send``; ``retry_after`` honours a server's Retry-After."""

    outcome: SendOutcome
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""

    @classmethod
    def ok(cls, status: int | None = None) -> SendResult:
        """The batch was accepted."""
        return cls(outcome=SendOutcome.DELIVERED, status=status)

    @classmethod
    def retry(
        cls, detail: str, *, status: int | None = None, retry_after: float | None = None
    ) -> SendResult:
        """A transient failure: the batch is retried with backoff."""
        return cls(outcome=SendOutcome.RETRY, status=status, retry_after=retry_after, detail=detail)

    @classmethod
    def dead(cls, detail: str, *, status: int | None = None) -> SendResult:
        """A permanent failure: the batch is dead-lettered (counted, kept with the spool on)."""
        return cls(outcome=SendOutcome.DEAD, status=status, detail=detail)


@runtime_checkable
class Destination(Protocol):
    """Where events go. One instance per configured destination.

    ``transform`` must not mutate its input (the same dict is shared by every tag routing the
    event). A destination that applies PII rules itself sets ``handles_pii = True``; for any
    other, the router applies the container's PII policy before ``transform``.

    ``transform`` runs once per routed event (on the caller's thread in ``sync`` spool mode,
    otherwise on the delivery thread); its output is JSON-encoded once and what ``send``
    receives are those encoded items, ready to be joined into a request body. ``send`` runs on
    the single delivery thread's event loop and must not block it.

    A destination whose ``transform`` returns its input unchanged may say so with a true
    ``passthrough`` attribute: when no tag mapping or router-side PII rule changes the event
    either, ``transform`` is skipped and the event's Segment JSON is encoded once and shared
    by every such destination.

    A destination holding asyncio clients may add ``async aclose()``: it is awaited on the
    delivery loop after ``close()``, when the destination is retired or at shutdown.
    """

    name: str
    batch: BatchConfig

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Shape one Segment-spec event dict for this destination (``None`` skips it)."""
        ...

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Deliver one batch of encoded items."""
        ...

    def close(self) -> None:
        """Release files or connections; called once at shutdown."""
        ...


class DestinationFactory(Protocol):
    """Builds a destination from its container entry. Raise ``ConfigError`` with paths
    relative to ``options`` (``url: required field is missing``); the loader prefixes them
    with ``destinations.<name>.options``."""

    def __call__(
        self, *, name: str, options: Mapping[str, Any], pii: PiiConfig
    ) -> Destination: ...


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


class Worker(Protocol):
    """Consumes an event stream and hands each event to a ``Persona`` (``ingest``), which
    delivers it through its destinations; acknowledges only what was delivered."""

    def run(self) -> int:
        """Consume until ``stop()``; the process exit code."""
        ...

    def stop(self) -> None:
        """Ask ``run`` to return (called from a signal handler)."""
        ...


class WorkerFactory(Protocol):
    """Builds a worker for ``persona worker --from URL`` (entry point group
    ``persona_sdk.workers``, named by the URL's scheme). Raise ``ConfigError`` for a bad URL."""

    def __call__(self, *, url: str, persona: Any) -> Worker: ...


def load_plugin(group: str, name: str) -> Callable[..., Any]:
    """Load the entry point ``name`` of ``group``; ``PluginError`` names both on failure."""
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=group)})
        raise PluginError(
            f"no plugin {name!r} in entry point group {group!r}"
            + (f" (installed: {', '.join(known)})" if known else "")
        )
    try:
        obj = found[0].load()
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r} of group {group!r} ({found[0].value}) failed to load: {exc}"
        ) from exc
    if not callable(obj):
        raise PluginError(f"plugin {name!r} of group {group!r} is not callable")
    return obj  # type: ignore[no-any-return]


