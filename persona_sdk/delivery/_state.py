"""What ``Delivery`` shares with the delivery thread, and what the thread's parts need of it.

``Delivery`` owns a ``DeliveryState`` and hands it to the ``Worker`` it starts; the worker's
helpers (``_send``, ``_spool_thread``, ``_shutdown``, ``_intake``) are written against the
``Thread`` protocol, so that no part of the package imports the whole it belongs to (no
import cycle inside ``delivery``).
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._outbox import Outbox

if TYPE_CHECKING:
    import httpx

    from ..config import Container, DeliveryConfig
    from ..events import Message
    from ..plugins import Destination
    from ._outbox import Item, Routed
    from ._retry import Backoff
    from ._spool import Spool

__all__ = ["DeliveryState", "NoteRejected", "Thread"]

#: ``Delivery.note_rejected``: record why a destination refused one event.
NoteRejected = Callable[["Outbox", str, "Message", "BaseException | None", int], None]


class DeliveryState:
    """The state ``Delivery`` and its delivery thread both read.

    ``Delivery`` writes it (``configure`` swaps ``settings`` and adds ``outboxes``; ``flush``
    counts ``flushing``); the thread reads it and calls the callables ``Delivery`` put here
    (routing the intake, recording a rejected event). ``spool``, ``sync`` and ``group`` are
    fixed for the life of a ``Delivery``.
    """

    __slots__ = (
        "arm_intake", "flushing", "group", "idle", "intake", "note_rejected", "outboxes",
        "rng", "route_pending", "settings", "spool", "sync",
    )

    def __init__(  # noqa: PLR0917 - a plain record, built in one place
        self,
        settings: DeliveryConfig,
        spool: Spool | None,
        sync: bool,
        group: bool,
        rng: Callable[[], float],
        route_pending: Callable[[int], int],
        arm_intake: Callable[[int], None],
        note_rejected: NoteRejected,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.sync = sync
        self.group = group
        self.rng = rng
        #: every outbox ever made (stats, and retired ones still draining)
        self.outboxes: dict[str, Outbox] = {}
        #: flushes under way: while positive, pumps send what they hold without waiting
        self.flushing = 0
        #: notified whenever something may have become idle (``flush`` waits on it)
        self.idle = threading.Condition()
        #: messages submitted but not routed yet (read by the thread's intake router): a
        #: ``Routed``, or a tuple that is its own message (``Delivery.submit_item``)
        self.intake: collections.deque[Routed | tuple[Any, ...]] = collections.deque()
        #: routes up to ``n`` intake messages on the calling thread; returns how many
        self.route_pending = route_pending
        #: sets how many queued intake messages make ``submit`` wake the thread
        self.arm_intake = arm_intake
        self.note_rejected = note_rejected

    def notify(self) -> None:
        """Wake whoever waits for the outboxes to become idle."""
        with self.idle:
            self.idle.notify_all()

    def boxes(self) -> list[Outbox]:
        """Every outbox, as a list safe to iterate while ``configure`` adds one."""
        return list(self.outboxes.values())

    def adopt(
        self, destinations: Mapping[str, Destination], container: Container,
        current: Mapping[str, Outbox], clock: Callable[[], float],
    ) -> dict[str, Outbox]:
        """The outboxes taking events for ``destinations`` (those that stay keep their
        queues); the ``current`` ones no longer listed are retired (closed once drained)."""
        settings = self.settings
        boxes: dict[str, Outbox] = {}
        for name, destination in destinations.items():
            cfg = container.destinations.get(name)
            box = self.outboxes.get(name)
            if box is None:
                box = Outbox(name, destination, settings, cfg, clock)
            else:
                box.apply(destination, settings, cfg, clock)
                box.retired = False
            boxes[name] = box
            self.outboxes[name] = box
        for name, box in current.items():
            if name not in boxes:
                box.retired = True
        return boxes

    def dead_total(self) -> int:
        """Events dead-lettered so far, over every outbox."""
        return sum(box.dead_lettered for box in self.boxes())

    def close_unstarted(self) -> None:
        """``close`` when no delivery thread ever ran: close the destinations and the spool."""
        for box in self.boxes():
            for dest in (box.destination, *box.old_destinations):
                try:
                    dest.close()
                except Exception:
                    pass
        if self.spool is not None and self.spool.is_open:
            self.spool.close()

    def forget_in_spool(self, ids: frozenset[str]) -> None:
        """Purge these ids' rows from the spool, with no delivery thread running."""
        spool = self.spool
        if spool is None:
            return
        if not spool.is_open:
            spool.open()
        spool.forget(sorted(ids))

    def after_fork(
        self, boxes: Mapping[str, Outbox], clock: Callable[[], float]
    ) -> dict[str, Outbox]:
        """In a forked child: fresh conditions, an empty intake, the spool left to the
        parent, and empty outboxes for the same destinations (returned)."""
        self.idle = threading.Condition()
        self.flushing = 0
        self.intake = collections.deque()
        if self.spool is not None:
            self.spool.abandon()
        fresh = {name: Outbox(name, box.destination, self.settings, box.dest_cfg, clock)
                 for name, box in boxes.items()}
        self.outboxes = dict(fresh)
        return fresh


class Thread(Protocol):
    """What the delivery thread's helpers (``_send``, ``_spool_thread``, ``_shutdown``,
    ``_intake``) use of the ``Worker``."""

    state: DeliveryState
    loop: asyncio.AbstractEventLoop
    sleep: Callable[[float], Awaitable[Any]]
    backoff: Backoff
    client: httpx.AsyncClient | None
    commit_event: asyncio.Event | None
    pumps: dict[Outbox, asyncio.Task[None]]
    deletes: list[int]
    dead: list[tuple[str, Item, str, int | None]]
    unstarted: dict[int, tuple[Outbox, list[Item]]]
    stopping: bool
    intake_event: asyncio.Event | None
    closed: set[int]

    def drain(self, box: Outbox, limit: int = ...) -> None:
        """Move ``box``'s inbox into its encoded queue."""

    def add(self, box: Outbox, items: list[Item], spooled: int, size: int = -1) -> None:
        """Append encoded ``items`` to ``box``'s queue (caller holds ``box.lock``)."""
