"""Profile configuration: source, cache tiers, computed traits and segments."""

from __future__ import annotations

from typing import Any

from attrs import Factory, field, frozen

from .._errors import ConfigError
from .._secret import mark_secrets
from .._strenum import StrEnum

__all__ = [
    "BreakerConfig",
    "ComputedKind",
    "ComputedTraitConfig",
    "MergePolicy",
    "ProfilesConfig",
    "SegmentConfig",
]


@frozen(kw_only=True)
class SegmentConfig:
    """A named condition over traits, computed traits and request attributes."""

    condition: dict[str, Any]
    description: str = ""


class ComputedKind(StrEnum):
    """What a computed trait holds."""

    COUNT = "count"  #: how many matching events (within ``window`` when given)
    SUM = "sum"  #: the sum of a numeric property (within ``window`` when given)
    MIN = "min"
    MAX = "max"
    FIRST = "first"  #: the property's value on the earliest matching event
    LAST = "last"  #: the property's value on the latest matching event
    FIRST_SEEN = "first_seen"  #: epoch seconds of the earliest matching event
    LAST_SEEN = "last_seen"  #: epoch seconds of the latest matching event
    DISTINCT = "distinct"  #: the distinct values of a property, in arrival order (capped)
    RFM = "rfm"  #: recency (days), frequency and monetary value of the matching events
    LIFECYCLE = "lifecycle"  #: new, active, at_risk, lapsed or reactivated
    AFFINITY = "affinity"  #: a time-decayed score per value of a property (category, brand)
    BEST_HOUR = "best_hour"  #: the hour of day (visitor's timezone) with the most activity
    ATTRIBUTION = "attribution"  #: touchpoints, and credit per model for ``conversion``


_NEEDS_PROPERTY = {
    ComputedKind.SUM,
    ComputedKind.MIN,
    ComputedKind.MAX,
    ComputedKind.FIRST,
    ComputedKind.LAST,
    ComputedKind.DISTINCT,
    ComputedKind.AFFINITY,
}
_WINDOWED = {ComputedKind.COUNT, ComputedKind.SUM}


@frozen(kw_only=True)
class ComputedTraitConfig:
    """A trait computed in-process from the visitor's own events.

    Usage (TOML)::

        [computed_traits.views_7d]
        kind = "count"
        event = "Product Viewed"
        window = 604800          # seconds

        [computed_traits.lifetime_revenue]
        kind = "sum"
        event = "Order Completed"
        property = "revenue"     # a key of ``properties``; dotted for nested values

        [computed_traits.stage]
        kind = "lifecycle"       # new, active, at_risk, lapsed, reactivated

        [computed_traits.category_affinity]
        kind = "affinity"
        property = "category"    # also read from each of properties.products
        weights = { "Product Viewed" = 1, "Order Completed" = 5 }
        half_life = 2592000      # a score halves in 30 days

    ``event`` matches the name of track events; without it every track, page and screen
    message counts. ``type`` narrows to one message type (``page``, ``screen``, ``track``).
    """

    kind: ComputedKind = field(converter=ComputedKind)
    event: str | None = None
    property: str | None = None
    window: float | None = None  # seconds
    type: str | None = None
    limit: int = 100  # distinct, affinity: most values kept
    #: affinity: seconds for a score to halve (None: no decay)
    half_life: float | None = 2_592_000.0
    #: affinity: weight per event name (only these events count when given)
    weights: dict[str, float] = Factory(dict)
    #: lifecycle: "new" for this long after the first activity (seconds)
    new_for: float = 14 * 86_400.0
    #: lifecycle: "active" while the last activity is more recent than this; then "at_risk"
    active_for: float = 30 * 86_400.0
    #: lifecycle: "lapsed" once the last activity is this old; a return is "reactivated"
    lapsed_after: float = 90 * 86_400.0
    #: attribution: the conversion event's name
    conversion: str | None = None

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.kind is ComputedKind.ATTRIBUTION:
            if not self.conversion:
                problems.append("conversion: required for kind 'attribution'")
            if self.event is not None:
                problems.append("event: attribution reads every event; use conversion")
        if self.half_life is not None and self.half_life <= 0:
            problems.append("half_life: must be positive")
        if not (self.new_for > 0 and 0 < self.active_for < self.lapsed_after):
            problems.append(
                "lapsed_after: new_for and active_for must be positive, active_for less "
                "than lapsed_after"
            )
        if self.kind in _NEEDS_PROPERTY and not self.property:
            problems.append(f"property: required for kind {self.kind.value!r}")
        if self.window is not None:
            if self.kind not in _WINDOWED:
                problems.append("window: only count and sum take a window")
            elif self.window <= 0:
                problems.append("window: must be positive")
        if self.type is not None and self.type not in ("track", "page", "screen"):
            problems.append(f"type: expected 'track', 'page' or 'screen', got {self.type!r}")
        if self.limit < 1:
            problems.append("limit: must be at least 1")
        if problems:
            raise ConfigError(problems)


class MergePolicy(StrEnum):
    """How computed traits combine with the remote profile's traits of the same name."""

    COMPUTED_WINS = "computed_wins"  #: the in-process value overrides the remote one
    REMOTE_WINS = "remote_wins"  #: the remote value stays; computed traits only fill gaps


@frozen(kw_only=True)
class BreakerConfig:
    """The circuit breaker in front of the profile source.

    It opens when, over the last ``window`` calls (at least ``min_calls``), the share of
    failed calls reaches ``failure_rate`` or the share of calls slower than ``slow_call``
    seconds reaches ``slow_rate``. After ``open_for`` seconds it lets ``half_open_probes``
    calls through; they close it again, or any failure reopens it. A ``429`` holds it for
    the answer's ``Retry-After``, at most ``max_hold`` seconds (a finite number).
    """

    enabled: bool = True
    window: int = 20
    min_calls: int = 5
    failure_rate: float = 0.5
    slow_call: float | None = None  # seconds; None: the lookup deadline
    slow_rate: float = 0.5
    open_for: float = 30.0
    half_open_probes: int = 1
    #: the longest a ``429`` answer's ``Retry-After`` may hold the source (seconds)
    max_hold: float = 300.0

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.window < 1:
            problems.append("window: must be at least 1")
        if not 1 <= self.min_calls <= self.window:
            problems.append("min_calls: must be between 1 and window")
        for name in ("failure_rate", "slow_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f"{name}: must be in (0, 1]")
        if self.open_for < 0:
            problems.append("open_for: must not be negative")
        if not 0.0 <= self.max_hold < float("inf"):
            problems.append("max_hold: must be a finite number of seconds, not negative")
        if self.half_open_probes < 1:
            problems.append("half_open_probes: must be at least 1")
        if problems:
            raise ConfigError(problems)


@frozen(kw_only=True)
class ProfilesConfig:
    """Where profiles come from and how they are cached.

    Usage (TOML)::

        [profiles]
        deadline = 0.05                 # how long a request waits for a profile, seconds
        fetch_timeout = 1.0             # how long the lookup itself may run (then cached)
        ttl = 300                       # fresh for 5 minutes in the local cache
        stale_grace = 3600              # then served stale (and refreshed) for an hour
        personal_traits = ["email", "age"]

        [profiles.source]
        type = "segment"
        space_id = "spa_123"
        access_token = "${env:SEGMENT_PROFILES_TOKEN}"
    """

    # {"type": "http", ...options}; secret-looking option strings become Secret
    source: dict[str, Any] | None = field(default=None, converter=mark_secrets)
    # {"type": "memory"} or a persona_sdk.stores plugin
    store: dict[str, Any] | None = field(default=None, converter=mark_secrets)
    deadline: float = 0.05
    ttl: float = 300.0
    negative_ttl: float = 60.0
    stale_grace: float = 600.0
    fetch_timeout: float = 1.0
    max_in_flight: int = 64
    retry: bool = True
    max_entries: int = 100_000
    alias_max_entries: int = 100_000
    visitor_max_entries: int = 100_000
    personal_traits: list[str] = Factory(list)
    personalization_purpose: str = "personalization"
    merge: MergePolicy = field(default=MergePolicy.COMPUTED_WINS, converter=MergePolicy)
    breaker: BreakerConfig = Factory(BreakerConfig)
    segment_events: bool = True
    segment_memory: int = 100_000
    store_prefix: str = "persona:"
    computed_flush_interval: float = 1.0
    computed_ttl: float = 2_592_000.0  # how long the L2 store keeps computed traits (30 days)
    #: traits holding timestamps that relative-time segment operators may read
    time_traits: list[str] = Factory(list)
    #: time-dependent segments are re-checked at most this often per visitor, when seen
    segment_recheck: float = 60.0
    #: the periodic sweep over held profiles re-checking time-dependent segments (0: off)
    segment_sweep_interval: float = 300.0
    #: the sweep also walks a shared store that lists its keys (``ListableProfileStore``):
    #: turn it on in one process (a worker), since each sweeping process re-reads every profile
    sweep_store: bool = False

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        for name in (
            "deadline",
            "ttl",
            "fetch_timeout",
            "computed_flush_interval",
            "computed_ttl",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"{name}: must be positive")
        for name in ("negative_ttl", "stale_grace", "segment_recheck", "segment_sweep_interval"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: must not be negative")
        for name in (
            "max_entries",
            "alias_max_entries",
            "visitor_max_entries",
            "segment_memory",
            "max_in_flight",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name}: must be at least 1")
        if problems:
            raise ConfigError(problems)
