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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from ..config import DeliveryConfig
    from ..events import Message
    from ._outbox import Item, Outbox, Routed
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
        #: messages submitted but not routed yet (read by the thread's intake router)
        self.intake: collections.deque[Routed] = collections.deque()
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

    def after_fork(self) -> None:
        """In a forked child: fresh conditions and an empty intake."""
        self.idle = threading.Condition()
        self.flushing = 0
        self.intake = collections.deque()


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
