"""One destination's outbox: the hot-path inbox, the encoded queue and the counters.

Who touches what (this is what keeps ``enqueue`` cheap and the counters exact):

- Caller threads only ``append`` to ``inbox`` (atomic on a ``deque``) and read ``held`` and
  ``held_bytes``; they take ``lock`` only on the rare paths (overflow, rejection, sync spool).
- The delivery thread pops from ``inbox`` and mutates everything else, always under ``lock``
  when an event changes state, so ``snapshot()`` (taken under ``lock``) sees every event in
  exactly one state.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .._breaker import BreakerPolicy, CircuitBreaker
from .._errors import ConfigError
from .._stats import DestinationStats
from ..config import BatchConfig, DeliveryConfig, DestinationConfig, Overflow

if TYPE_CHECKING:
    from ..events import Message
    from ..plugins import Destination

__all__ = ["Item", "Outbox", "Render", "RouteFn", "Routed"]

Render = Callable[["Message"], "dict[str, Any] | bytes | None"]
#: Routes one message: its ``(destination, render)`` pairs (``Router.route``).
RouteFn = Callable[["Message"], Iterable[tuple[str, Render]]]

#: Item states (``Item.state``).
PENDING, IN_FLIGHT, DONE = 0, 1, 2


class Routed(msgspec.Struct, gc=False, eq=False):
    """A message on its way, with what processes it next: its router while it waits in the
    intake, the tag's render once in an outbox's inbox.

    Not tracked by the cyclic garbage collector (a tuple holding a function would be, and
    the queues hold up to hundreds of thousands of these): nothing it refers to can lead
    back to it.
    """

    msg: Any
    fn: Any


class Item(msgspec.Struct, gc=False, eq=False):
    """One encoded event: the payload a destination's ``send`` receives, plus what the spool
    and ``forget`` need.

    Not tracked by the cyclic garbage collector (it only ever holds bytes, strings and
    numbers): queues of hundreds of thousands of items would otherwise make every full
    collection walk them all.
    """

    data: bytes
    mid: str
    uid: str | None
    aid: str | None
    rowid: int | None = None
    state: int = 0  #: PENDING, IN_FLIGHT or DONE
    restored: bool = False


_NEVER = 1 << 62


class Outbox:
    """The queue and counters of one destination (see the module docstring for ownership)."""

    __slots__ = (
        "backlog",
        "batch",
        "breaker",
        "breaker_changed",
        "busy",
        "concurrency",
        "cursor",
        "dead_lettered",
        "delivered",
        "dest_cfg",
        "destination",
        "disk_after",
        "disk_only",
        "drop_oldest",
        "dropped",
        "entered",
        "event",
        "first_at",
        "front_restored",
        "held",
        "held_bytes",
        "hot",
        "in_flight",
        "inbox",
        "inbox_spooled",
        "last_error",
        "last_rowid",
        "limit",
        "lock",
        "max_bytes",
        "max_events",
        "max_retries",
        "name",
        "old_destinations",
        "orphan_rows",
        "pending",
        "pending_spooled",
        "rejected",
        "restored",
        "retired",
        "retried",
        "transit",
        "uncommitted",
        "wake_n",
    )

    def __init__(
        self,
        name: str,
        destination: Destination,
        settings: DeliveryConfig,
        dest_cfg: DestinationConfig | None,
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.inbox: collections.deque[Any] = collections.deque()
        # -- read lock-free by the hot path, written by the delivery thread
        self.limit = 0  #: the inbox may grow below this length (caps minus what is held)
        self.wake_n = 0  #: an enqueue that finds this many queued wakes the delivery thread
        self.held = 0  #: events the delivery thread holds (being encoded + pending)
        self.held_bytes = 0
        # -- delivery thread
        self.pending: collections.deque[Item] = collections.deque()
        self.uncommitted: list[Item] = []  #: group spool mode: not yet written
        self.first_at = 0.0  #: loop time the oldest pending event was seen
        self.busy = 0  #: batches being sent or waiting to retry
        self.front_restored = 0  #: restored (spooled) items at the front of ``pending``
        self.cursor = 0  #: highest spool row id of this destination already loaded
        self.retired = False
        self.old_destinations: list[Destination] = []
        self.event: Any = None  #: asyncio.Event, made on the delivery loop
        self.breaker_changed: Any = None  #: asyncio.Event, replaced at each breaker verdict
        # -- counters (changed under ``lock``)
        self.entered = 0  #: events taken from the inbox or restored from the spool
        self.hot = 0  #: events that ended on a caller thread (dropped/rejected there)
        self.transit = 0
        self.inbox_spooled = 0  #: sync mode: inbox events already committed
        self.pending_spooled = 0
        self.backlog = 0  #: restored rows still on disk only
        #: sync mode: rows written while the memory queue was full, on disk only; they are
        #: the rows of this destination with an id above ``disk_after``
        self.disk_only = 0
        self.disk_after = 0
        self.last_rowid = 0  #: sync mode: the newest row also held in memory
        self.in_flight = 0
        self.delivered = 0
        self.retried = 0
        self.dead_lettered = 0
        self.restored = 0
        self.dropped: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.last_error = ""
        #: spool rows of events dropped on a caller thread (the delivery thread deletes them)
        self.orphan_rows: list[int] = []
        self.apply(destination, settings, dest_cfg, clock)

    def apply(
        self,
        destination: Destination,
        settings: DeliveryConfig,
        dest_cfg: DestinationConfig | None,
        clock: Callable[[], float],
    ) -> None:
        """Take (new) settings; keeps the queue. Called on configure and on reload."""
        self.dest_cfg = dest_cfg
        batch = (dest_cfg.batch if dest_cfg else None) or getattr(destination, "batch", None)
        self.batch: BatchConfig = batch if isinstance(batch, BatchConfig) else BatchConfig()
        self.max_events = max(1, (dest_cfg.max_queue_events if dest_cfg else None)
                              or settings.max_queue_events)
        self.max_bytes = max(1, (dest_cfg.max_queue_bytes if dest_cfg else None)
                             or settings.max_queue_bytes)
        overflow = (dest_cfg.overflow if dest_cfg else None) or settings.overflow
        self.drop_oldest = Overflow(overflow) is Overflow.DROP_OLDEST
        self.max_retries = settings.max_retries
        self.room()
        self.concurrency = max(1, settings.concurrency)
        current: Destination | None = getattr(self, "destination", None)
        if current is not None and current is not destination:
            self.old_destinations.append(current)
        self.destination: Destination = destination
        policy = BreakerPolicy.consecutive(settings.breaker_threshold, settings.breaker_cooldown)
        if not hasattr(self, "breaker"):
            self.breaker = CircuitBreaker(policy, clock)
        else:
            self.breaker.configure(policy)

    def room(self) -> None:
        """Recompute ``limit`` after ``held``/``held_bytes`` or the caps changed (the hot
        path then needs one comparison)."""
        self.limit = self.max_events - self.held if self.held_bytes < self.max_bytes else 0

    def disarm(self) -> None:
        """The hot path woke the delivery thread: no more wake-ups until it re-arms."""
        self.wake_n = _NEVER

    # -- caller threads (rare paths) --------------------------------------------------------

    def overflow(self, item: Any) -> bool:
        """The hot path found the queue full: apply the overflow policy, count the drop.

        Returns whether ``item`` was queued after all (the lock-free check used a ``limit``
        the delivery thread may have raised meanwhile; here everything is read at once).
        """
        with self.lock:
            fits = self.held_bytes < self.max_bytes
            reason = "queue_bytes" if not fits else "queue_full"
            if fits and len(self.inbox) + self.held < self.max_events and item is not None:
                self.inbox.append(item)
                if isinstance(item, Item) and item.rowid is not None:
                    self.inbox_spooled += 1
                return True
            if not self.drop_oldest:
                self.hot += 1
                bump(self.dropped, reason)
                return False
            # drop_oldest: the inbox holds at most max_events; the delivery thread trims its
            # own encoded queue from the front when it takes these in.
            if len(self.inbox) >= self.max_events:
                old = self.inbox.popleft()
                self.hot += 1
                bump(self.dropped, reason)
                if isinstance(old, Item) and old.rowid is not None:
                    self.inbox_spooled -= 1
                    self.orphan_rows.append(old.rowid)
            self.inbox.append(item)
            if isinstance(item, Item) and item.rowid is not None:
                self.inbox_spooled += 1
            return True

    def fits(self) -> bool:
        """Whether one more event fits (exact, under the lock; the rare path's check)."""
        with self.lock:
            return (self.held_bytes < self.max_bytes
                    and len(self.inbox) + self.held < self.max_events)

    def end_on_caller(self, counter: dict[str, int], reason: str) -> None:
        """Count an event that ended on the caller's thread (rejected or dropped there)."""
        with self.lock:
            self.hot += 1
            bump(counter, reason)

    # -- reading ----------------------------------------------------------------------------

    def snapshot(self, sync_spool: bool) -> DestinationStats:
        """Every counter, taken at one instant (under ``lock``)."""
        with self.lock:
            n_inbox = len(self.inbox)
            inbox_spooled = self.inbox_spooled if sync_spool else 0
            queued = (n_inbox - inbox_spooled) + self.transit + (
                len(self.pending) - self.pending_spooled)
            spooled = inbox_spooled + self.pending_spooled + self.backlog + self.disk_only
            dropped = dict(self.dropped)
            rejected = dict(self.rejected)
            return {
                "tracked": self.entered + n_inbox + self.hot,
                "delivered": self.delivered,
                "queued": queued,
                "spooled": spooled,
                "in_flight": self.in_flight,
                "retried": self.retried,
                "dead_lettered": self.dead_lettered,
                "dropped": dropped,
                "dropped_total": sum(dropped.values()),
                "rejected": rejected,
                "rejected_total": sum(rejected.values()),
                "restored": self.restored,
                "breaker": self.breaker.state.value,
                "last_error": self.last_error,
            }

    def idle(self) -> bool:
        """Nothing waits here: no event queued, spooled on disk or in flight (exact when the
        caller holds ``lock``: the counters an event moves between change under it)."""
        return (not self.inbox and not self.held and not self.in_flight and not self.backlog
                and not self.disk_only)

    def settled(self) -> bool:
        """``idle``, read under ``lock`` (what ``flush`` waits for): an event moves between
        two counters (inbox to held, held to in flight) within one hold of the lock, and a
        read between the two steps would find it nowhere."""
        with self.lock:
            return self.idle()


def bump(counter: dict[str, int], reason: str, n: int = 1) -> None:
    """Add ``n`` to ``counter[reason]`` (callers hold the outbox lock)."""
    counter[reason] = counter.get(reason, 0) + n


def check_positive(errors: list[str], path: str, value: float) -> None:
    """Collect a config error when ``value`` is not positive."""
    if value <= 0:
        errors.append(f"{path}: must be positive")


def validate(settings: DeliveryConfig) -> None:
    """Reject nonsensical delivery settings with paths (``delivery.max_queue_events: ...``)."""
    errors: list[str] = []
    for field in ("max_queue_events", "max_queue_bytes", "concurrency", "breaker_threshold",
                  "request_timeout", "group_commit_interval", "backoff_max", "spool_max_bytes"):
        check_positive(errors, f"delivery.{field}", getattr(settings, field))
    if settings.max_retries < 0:
        errors.append("delivery.max_retries: must not be negative")
    if errors:
        raise ConfigError(errors)
