"""The delivery thread: one asyncio loop, one shared ``httpx.AsyncClient``, one pump per outbox.

A pump turns its outbox's inbox into encoded items (render + one msgspec encode each, the
32 KB cap checked there), forms batches by count, bytes and interval, and launches up to
``concurrency`` sends at once. Each send retries with full-jitter backoff behind the
destination's circuit breaker. Pumps share nothing but the loop, so a hung destination only
ever holds its own batches.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from itertools import accumulate, count, islice, repeat, starmap
from operator import add, attrgetter
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from ._encode import encode_chunk
from ._intake import route_intake
from ._outbox import DONE, IN_FLIGHT, Item, Outbox, bump
from ._retry import Backoff
from ._send import deliver
from ._shutdown import close_retired, shutdown
from ._spool_thread import committer, forget, refill, refill_disk

if TYPE_CHECKING:
    from ..config import DeliveryConfig
    from ._state import DeliveryState

__all__ = ["Worker"]

log = logging.getLogger("persona_sdk.delivery")

_NEVER = 1 << 62
_CHUNK = 512  #: events moved out of an inbox per lock hold
_DATA = attrgetter("data")


class Worker:
    """Owns the delivery thread and everything that runs on it."""

    def __init__(self, state: DeliveryState, sleep: Callable[[float], Awaitable[Any]]) -> None:
        self.state = state
        self.sleep = sleep
        settings = state.settings
        self.backoff = Backoff(settings.backoff_base, settings.backoff_max, state.rng)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="persona-delivery", daemon=True)
        self.ready = threading.Event()
        self.stopping = False
        self.pumps: dict[Outbox, asyncio.Task[None]] = {}
        self.deletes: list[int] = []
        self.dead: list[tuple[str, Item, str, int | None]] = []
        self.restore: dict[str, int] = {}
        self.encode = msgspec.json.Encoder().encode
        self.client: httpx.AsyncClient | None = None
        self.stop_event: asyncio.Event | None = None
        self.commit_event: asyncio.Event | None = None
        self.closed: set[int] = set()  #: ids of destinations already closed
        self.intake_event: asyncio.Event | None = None
        self.resume: threading.Event | None = None  #: set to end a fork-time park
        #: batches launched whose send has not started yet (by ``id`` of the item list): a
        #: task cancelled before it runs never reaches its own ``except``, so shutdown puts
        #: these back itself
        self.unstarted: dict[int, tuple[Outbox, list[Item]]] = {}

    # -- caller threads ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (its loop builds the client and restores the spool)."""
        self.thread.start()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop (a no-op once the loop is gone)."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass

    def wake(self, box: Outbox) -> None:
        """Wake ``box``'s pump (the hot path calls this once per wake-up, not per event)."""
        self.call(_set_event, box)

    def wake_all(self) -> None:
        """Wake every pump (flush, close)."""
        self.call(self._wake_all)

    def wake_intake(self) -> None:
        """Wake the intake router (the hot path calls this once per burst, not per event)."""
        self.call(self._set_intake)

    def _set_intake(self) -> None:
        if self.intake_event is not None:
            self.intake_event.set()

    def park(self, timeout: float = 2.0) -> None:
        """Before a fork: hold the loop thread at a safe point (between callbacks), so that it
        is not inside OpenSSL, SQLite or an import while the process is copied; a child would
        inherit those locks held forever (a real deadlock seen with gunicorn --preload)."""
        if not self.thread.is_alive() or threading.get_ident() == self.thread.ident:
            return
        parked, resume = threading.Event(), threading.Event()
        self.resume = resume

        def hold() -> None:
            parked.set()
            resume.wait(10.0)  # bounded: a lost release never wedges delivery for good

        self.call(hold)
        parked.wait(timeout)

    def unpark(self) -> None:
        """After a fork, in the parent: let the loop thread run again."""
        resume = self.resume
        if resume is not None:
            self.resume = None
            resume.set()

    def reconfigure(self, settings: DeliveryConfig) -> None:
        """Take new settings (``Delivery.configure``): backoff now, new outboxes' pumps on
        the loop."""
        self.backoff.base = settings.backoff_base
        self.backoff.cap = settings.backoff_max
        self.call(self.sync_boxes)

    def forget(self, ids: frozenset[str]) -> int | None:
        """Purge these ids' events on the loop (bounded wait); None once the loop is gone."""
        async def run() -> int:
            return forget(self, ids)

        try:
            return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30.0)
        except RuntimeError:  # the loop is gone (closed meanwhile)
            return None

    def stop(self, timeout: float) -> None:
        """Ask the loop to shut down, then wait for the thread (bounded)."""
        self.call(self._request_stop)
        self.thread.join(max(timeout, 0.0))

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException:  # pragma: no cover - the loop must never take the process down
            log.exception("persona-sdk delivery thread crashed")
        finally:
            self.ready.set()
            self.loop.close()

    async def _main(self) -> None:
        state = self.state
        settings = state.settings
        spool = state.spool
        self.stop_event = asyncio.Event()
        self.commit_event = asyncio.Event()
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        writer = None
        try:
            if spool is not None:
                try:
                    spool.open()
                    self.restore = spool.restored_counts()
                except sqlite3.Error:
                    log.exception("persona-sdk spool %s could not be opened", spool.path)
                writer = self.loop.create_task(committer(self))
            self.sync_boxes()
            self.intake_event = asyncio.Event()
            router = self.loop.create_task(route_intake(self))
            self.ready.set()
            await self.stop_event.wait()
            router.cancel()
        finally:
            await shutdown(self, writer)

    def _wake_all(self) -> None:
        self._set_intake()
        for box in self.pumps:
            _set_event(box)

    def _request_stop(self) -> None:
        self.stopping = True
        self._wake_all()
        if self.stop_event is not None:
            self.stop_event.set()

    def sync_boxes(self) -> None:
        """Start a pump for every outbox that has none (called again after ``configure``)."""
        for box in self.state.boxes():
            if box in self.pumps or self.stopping:
                _set_event(box)
                continue
            n = self.restore.pop(box.name, 0)
            if n:
                with box.lock:
                    box.entered += n
                    box.restored += n
                    box.backlog += n
            box.event = asyncio.Event()
            box.breaker_changed = asyncio.Event()
            self.pumps[box] = self.loop.create_task(self._pump(box))

    # -- one outbox -------------------------------------------------------------------------

    async def _pump(self, box: Outbox) -> None:
        loop = self.loop
        event: asyncio.Event = box.event
        state = self.state
        while True:
            event.clear()
            # One chunk at a time, so sends already in flight are served between chunks and
            # the next batches are encoded while the previous ones travel.
            self.drain(box, _CHUNK)
            if box.backlog and not box.front_restored:
                refill(self, box)
            if box.disk_only and not box.inbox:
                refill_disk(self, box)
            now = loop.time()
            urgent = state.flushing > 0 or self.stopping
            while box.pending and box.busy < box.concurrency and (
                urgent or box.front_restored or box.held >= box.batch.max_events
                or box.held_bytes >= box.batch.max_bytes
                or now - box.first_at >= box.batch.interval
            ):
                self.launch(box)
                if box.backlog and not box.front_restored:
                    refill(self, box)
            if not box.busy and (box.old_destinations or (box.retired and box.idle())):
                close_retired(self, box)
            delay: float | None = None
            if box.busy >= box.concurrency:
                # A finishing send wakes us; meanwhile take events in a batch at a time, so
                # the byte cap holds and the next batches are encoded ahead.
                wake_at = _NEVER if box.held >= box.max_events else box.batch.max_events
            elif box.pending:
                wake_at = max(1, box.batch.max_events - box.held)
                delay = max(0.0, box.first_at + box.batch.interval - now)
            else:
                wake_at = 1
            box.wake_n = wake_at - 1  # armed: the enqueue that makes the inbox wake_at long
            if box.inbox and (box.busy < box.concurrency or box.held < box.max_events):
                await asyncio.sleep(0)
                continue
            if len(box.inbox) >= wake_at:
                continue
            state.notify()
            timer = loop.call_later(delay, event.set) if delay is not None else None
            await event.wait()
            if timer is not None:
                timer.cancel()

    def drain(self, box: Outbox, limit: int = _NEVER) -> None:
        """Move events from the inbox into the encoded queue (render + encode here), up to
        ``limit`` (everything by default)."""
        inbox = box.inbox
        sync = self.state.sync
        group = self.state.group
        moved = 0
        while inbox and moved < limit:
            if sync:
                with box.lock:
                    n = min(len(inbox), _CHUNK)
                    items: list[Item] = _take(inbox, n)
                    spooled = sum(1 for it in items if it.rowid is not None)
                    box.entered += n
                    box.inbox_spooled -= spooled
                    self.add(box, items, spooled)
                moved += n
                continue
            with box.lock:
                n = min(len(inbox), _CHUNK)
                raw = _take(inbox, n)
                box.entered += n
                box.transit += n
                box.held += n
                box.room()
            moved += n
            items, size, rejects = encode_chunk(self.encode, self.state.note_rejected, raw, box)
            with box.lock:
                box.transit -= n
                box.held -= n
                box.room()
                for reason, k in rejects.items():
                    bump(box.rejected, reason, k)
                self.add(box, items, 0, size)
            if group and items:
                box.uncommitted.extend(items)
                assert self.commit_event is not None
                self.commit_event.set()

    def add(self, box: Outbox, items: list[Item], spooled: int, size: int = -1) -> None:
        """Append encoded ``items`` to ``box``'s queue (the caller holds ``box.lock``)."""
        if not items:
            return
        if not box.pending:
            box.first_at = self.loop.time()
        box.pending.extend(items)
        box.held += len(items)
        box.held_bytes += size if size >= 0 else sum(len(it.data) for it in items)
        box.pending_spooled += spooled
        self._trim(box)
        box.room()

    def _trim(self, box: Outbox) -> None:
        # caller holds box.lock: enforce the caps on what the delivery thread holds
        pending = box.pending
        while pending and (box.held > box.max_events or box.held_bytes > box.max_bytes):
            reason = "queue_full" if box.held > box.max_events else "queue_bytes"
            victim = pending.popleft() if box.drop_oldest else pending.pop()
            if victim.restored and box.front_restored:
                box.front_restored -= 1
            box.held -= 1
            box.held_bytes -= len(victim.data)
            victim.state = DONE
            if victim.rowid is not None:
                box.pending_spooled -= 1
                self.deletes.append(victim.rowid)
            bump(box.dropped, reason)

    def launch(self, box: Outbox) -> None:
        """Take one batch off the queue and start sending it."""
        cfg = box.batch
        max_n, max_b = cfg.max_events, cfg.max_bytes - 2  # "[" and "]"
        with box.lock:
            pending = box.pending
            k = min(len(pending), max_n)
            size = sum(map(len, map(_DATA, islice(pending, k))))  # payload bytes
            if size + k - 1 > max_b:  # not all of them fit (bytes and commas between)
                # ends[i]: the bytes of the first i + 1 events with a comma after each; the
                # batch is the longest run whose bytes and commas between fit, one at least
                ends = list(map(add, accumulate(map(len, map(_DATA, islice(pending, k)))),
                                count(1)))
                k = bisect_right(ends, max_b + 1) or 1
                size = ends[k - 1] - k
            items: list[Item] = _take(pending, k)
            if self.state.spool is not None:  # states and spool counts matter only then
                for it in items:
                    it.state = IN_FLIGHT
                    if it.rowid is not None:
                        box.pending_spooled -= 1
                    if it.restored and box.front_restored:
                        box.front_restored -= 1
            box.held -= k
            box.held_bytes -= size
            box.room()
            box.in_flight += k
            box.busy += 1
        self.unstarted[id(items)] = (box, items)
        self.loop.create_task(deliver(self, box, items, box.destination))


def _take(queue: collections.deque[Any], n: int) -> list[Any]:
    """The first ``n`` entries of ``queue``, popped (the loop runs in C: ``starmap`` calls
    ``popleft()`` ``n`` times, a quarter of a Python loop's cost per event)."""
    return list(starmap(queue.popleft, repeat((), n)))


def _set_event(box: Outbox) -> None:
    if box.event is not None:
        box.event.set()
