"""The shapes of ``Persona.stats()`` and of the ``stats()`` of its parts, as TypedDicts.

They are plain dicts at run time (what ``/metrics`` and ``persona stats`` read); the types
let an application annotate what it reads and let mypy check the keys::

    from persona_sdk import PersonaStats

    def queued(stats: PersonaStats) -> int:
        return sum(d["queued"] for d in stats["destinations"].values())

Optional sections (only present when the container or the client has the feature) are the
keys of a ``total=False`` class; Python 3.10 has no ``NotRequired``. (No ``from __future__
import annotations``: the package re-exports these under ``persona_sdk``, and evaluated
annotations keep ``typing.get_type_hints`` working after that.)
"""

from typing import Any, TypedDict

__all__ = [
    "ActionCounts",
    "ActionsStats",
    "BreakerStats",
    "CatalogStats",
    "ContentSourceStats",
    "ContentStats",
    "DestinationStats",
    "FilteredCounts",
    "FlagFeedStats",
    "HookStats",
    "PersonaStats",
    "ProfilesStats",
    "ResolverStats",
    "RoutingStats",
    "TrackingPlanStats",
    "empty_destination_stats",
]


class FilteredCounts(TypedDict):
    """Tag evaluations that did not route to a destination, by reason."""

    trigger: int  #: the tag's trigger did not match
    consent: int  #: a purpose the tag or destination needs was not granted
    integrations: int  #: the event's ``integrations`` object turned the destination off


class _DestinationCounts(TypedDict):
    tracked: int
    delivered: int
    queued: int
    spooled: int
    in_flight: int
    retried: int
    dead_lettered: int
    dropped: dict[str, int]
    dropped_total: int
    rejected: dict[str, int]
    rejected_total: int
    restored: int
    breaker: str
    last_error: str


class DestinationStats(_DestinationCounts, total=False):
    """One destination's counters, taken at one instant: ``tracked == delivered + queued +
    spooled + in_flight + dropped_total + rejected_total + dead_lettered``. ``dropped`` and
    ``rejected`` count by reason; ``breaker`` is the circuit breaker's state (``closed``,
    ``open``, ``half_open``). ``Persona.stats()`` adds ``filtered`` (``Delivery.stats()``
    does not)."""

    filtered: FilteredCounts


def empty_destination_stats() -> DestinationStats:
    """The counters of a destination nothing reached yet."""
    return {
        "tracked": 0, "delivered": 0, "queued": 0, "spooled": 0, "in_flight": 0,
        "retried": 0, "dead_lettered": 0, "dropped": {}, "dropped_total": 0,
        "rejected": {}, "rejected_total": 0, "restored": 0, "breaker": "closed",
        "last_error": "",
    }


class RoutingStats(TypedDict):
    """Events whose routing raised (a trigger plugin failed); they went nowhere."""

    errors: int


class BreakerStats(TypedDict):
    """The profile source's circuit breaker: its ``state``, how often it ``opened``, calls
    ``rejected`` while open, the current window's calls, failures and slow calls, and until
    when (monotonic seconds) it is held open (``None`` when it is not)."""

    state: str
    opened: int
    rejected: int
    window_calls: int
    window_failures: int
    window_slow: int
    held_until: float | None


class ResolverStats(TypedDict):
    """``ProfileResolver.stats()``: the source and store in use (their names), lookups
    answered by each tier (``l1``, ``l2``, ``remote``, ``stale``) and missed, lookups in
    flight and joined, refreshes, timeouts, errors, fallbacks by reason, sizes, and
    ``store_swept``: visitors read by segment sweeps over a store that lists its keys."""

    source: str | None
    store: str | None
    l1: int
    misses: int
    stale: int
    l2: int
    remote: int
    flights: int
    joined: int
    refreshes: int
    timeouts: int
    segment_events: int
    store_errors: int
    erase_errors: int
    store_swept: int
    fallbacks: dict[str, int]
    aliases: int
    l1_entries: int
    visitors: int
    segment_memory: int
    in_flight: int
    segment_failures: int
    breaker: BreakerStats


class ProfilesStats(ResolverStats):
    """``Persona.stats()["profiles"]``: the resolver's counters and ``segment_errors``
    (segment conditions that raised)."""

    segment_errors: int


class HookStats(TypedDict):
    """``HookSet.stats()``: exposures logged, duplicates skipped, triples remembered, hook,
    exposure-track and shared dedup store errors, and the last error of a hook or track."""

    exposures: int
    deduplicated: int
    remembered: int
    hook_errors: int
    track_errors: int
    dedup_errors: int
    last_error: str


class TrackingPlanStats(TypedDict):
    """Events ``checked`` against the tracking plan, ``blocked``, and violations per event
    name."""

    checked: int
    blocked: int
    violations: dict[str, int]


class FlagFeedStats(TypedDict):
    """The feature feed (``Persona.from_growthbook`` with a client key): fetches, answers
    ``not_modified``, payloads ``applied``, stream events, errors, refused payloads, loads
    from the cache file, whether it is ``ready`` (a payload is in force) and the last
    error."""

    fetches: int
    not_modified: int
    applied: int
    stream_events: int
    errors: int
    refused: int
    cache_loads: int
    ready: bool
    last_error: str


class CatalogStats(TypedDict):
    """The content catalog: how many items, and its version (grows with each swap)."""

    items: int
    version: int


class ContentSourceStats(TypedDict):
    """One content source: polls, updates, answers ``not_modified``, failures, items
    refused, items held, whether it is ``failing`` and its last error."""

    polls: int
    updates: int
    not_modified: int
    failures: int
    refused: int
    items: int
    failing: bool
    last_error: str


class _ContentCounts(TypedDict):
    decisions: int
    holdouts: int
    fallbacks: int
    empty: int
    capped: int
    exposures: int
    clicks: int
    conversions: int
    store_errors: int
    track_errors: int
    unknown_placement: int
    strategy_errors: int
    catalog: CatalogStats


class ContentStats(_ContentCounts, total=False):
    """Content decisions by outcome, exposures, clicks and conversions, errors, the catalog,
    and (when configured) ``enricher_errors`` and each content source's ``sources`` stats."""

    enricher_errors: int
    sources: dict[str, ContentSourceStats]


class ActionCounts(TypedDict):
    """One next-best action: how often it was triggered, scheduled, cancelled, fired,
    deduplicated, refused for consent, dropped at shutdown, and raised."""

    triggered: int
    scheduled: int
    cancelled: int
    fired: int
    deduplicated: int
    consent_denied: int
    dropped: int
    errors: int


class ActionsStats(TypedDict):
    """Scheduled actions ``pending``, and each action's counters."""

    pending: int
    actions: dict[str, ActionCounts]


class _PersonaCore(TypedDict):
    destinations: dict[str, DestinationStats]
    routing: RoutingStats
    profiles: ProfilesStats
    decisions: HookStats


class PersonaStats(_PersonaCore, total=False):
    """``Persona.stats()``: per destination, routing, profiles and decisions always; the
    shared stores' own ``stats()`` (by class name, free-form), the tracking plan, the
    feature feed, content and actions when the client has them."""

    stores: dict[str, dict[str, Any]]
    tracking_plan: TrackingPlanStats
    flags: FlagFeedStats
    content: ContentStats
    actions: ActionsStats
