"""The delivery thread: one asyncio loop, one shared ``httpx.AsyncClient``, one pump per outbox.

A pump turns its outbox's inbox into encoded items (render + one msgspec encode each, the
32 KB cap checked there), forms batches by count, bytes and interval, and launches up to
``concurrency`` sends at once. Each send retries with full-jitter backoff behind the
destination's circuit breaker. Pumps share nothing but the loop, so a hung destination only
ever holds its own batches.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from ..events import MAX_EVENT_BYTES
from ..plugins import SendOutcome, SendResult
from ._outbox import DONE, IN_FLIGHT, PENDING, Item, Outbox, bump
from ._retry import Backoff

if TYPE_CHECKING:
    from ._delivery import Delivery

__all__ = ["Worker"]

log = logging.getLogger("persona_sdk.delivery")

_NEVER = 1 << 62
_CHUNK = 512  #: events moved out of an inbox per lock hold


class Worker:
    """Owns the delivery thread and everything that runs on it."""

    def __init__(self, owner: Delivery, sleep: Callable[[float], Awaitable[Any]]) -> None:
        self.d = owner
        self.sleep = sleep
        settings = owner._settings
        self.backoff = Backoff(settings.backoff_base, settings.backoff_max, owner._rng)
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
        d = self.d
        settings = d._settings
        self.stop_event = asyncio.Event()
        self.commit_event = asyncio.Event()
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        committer = None
        try:
            if d._spool is not None:
                try:
                    d._spool.open()
                    self.restore = d._spool.restored_counts()
                except sqlite3.Error:
                    log.exception("persona-sdk spool %s could not be opened", d._spool.path)
                committer = self.loop.create_task(self._committer())
            self.sync_boxes()
            self.ready.set()
            await self.stop_event.wait()
        finally:
            await self._shutdown(committer)

    def _wake_all(self) -> None:
        for box in self.pumps:
            _set_event(box)

    def _request_stop(self) -> None:
        self.stopping = True
        self._wake_all()
        if self.stop_event is not None:
            self.stop_event.set()

    def sync_boxes(self) -> None:
        """Start a pump for every outbox that has none (called again after ``configure``)."""
        for box in list(self.d._all.values()):
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
        d = self.d
        while True:
            event.clear()
            # One chunk at a time, so sends already in flight are served between chunks and
            # the next batches are encoded while the previous ones travel.
            self.drain(box, _CHUNK)
            if box.backlog and not box.front_restored:
                self.refill(box)
            now = loop.time()
            urgent = d._flushing > 0 or self.stopping
            while box.pending and box.busy < box.concurrency and (
                urgent or box.front_restored or box.held >= box.batch.max_events
                or box.held_bytes >= box.batch.max_bytes
                or now - box.first_at >= box.batch.interval
            ):
                self.launch(box)
                if box.backlog and not box.front_restored:
                    self.refill(box)
            if not box.busy and (box.old_destinations or (box.retired and box.idle())):
                self._close_old(box)
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
            d._notify()
            timer = loop.call_later(delay, event.set) if delay is not None else None
            await event.wait()
            if timer is not None:
                timer.cancel()

    def drain(self, box: Outbox, limit: int = _NEVER) -> None:
        """Move events from the inbox into the encoded queue (render + encode here), up to
        ``limit`` (everything by default)."""
        inbox = box.inbox
        sync = self.d._sync
        group = self.d._group
        moved = 0
        while inbox and moved < limit:
            if sync:
                with box.lock:
                    n = min(len(inbox), _CHUNK)
                    items: list[Item] = [inbox.popleft() for _ in range(n)]
                    spooled = sum(1 for it in items if it.rowid is not None)
                    box.entered += n
                    box.inbox_spooled -= spooled
                    self._add(box, items, spooled)
                moved += n
                continue
            with box.lock:
                n = min(len(inbox), _CHUNK)
                raw = [inbox.popleft() for _ in range(n)]
                box.entered += n
                box.transit += n
                box.held += n
                box.room()
            moved += n
            items, rejects = self._encode(raw)
            with box.lock:
                box.transit -= n
                box.held -= n
                box.room()
                for reason, k in rejects.items():
                    bump(box.rejected, reason, k)
                self._add(box, items, 0)
            if group and items:
                box.uncommitted.extend(items)
                assert self.commit_event is not None
                self.commit_event.set()

    def _encode(self, raw: list[Any]) -> tuple[list[Item], dict[str, int]]:
        encode = self.encode
        items: list[Item] = []
        rejects: dict[str, int] = {}
        for msg, render in raw:
            try:
                doc = render(msg)
            except Exception:
                rejects["render_error"] = rejects.get("render_error", 0) + 1
                continue
            if doc is None:
                rejects["skipped"] = rejects.get("skipped", 0) + 1
                continue
            try:
                data = encode(doc)
            except (TypeError, ValueError, OverflowError):
                rejects["encode_error"] = rejects.get("encode_error", 0) + 1
                continue
            if len(data) > MAX_EVENT_BYTES:
                rejects["too_large"] = rejects.get("too_large", 0) + 1
                continue
            items.append(Item(data, msg.message_id, msg.user_id, msg.anonymous_id))
        return items, rejects

    def _add(self, box: Outbox, items: list[Item], spooled: int) -> None:
        # caller holds box.lock
        if not items:
            return
        if not box.pending:
            box.first_at = self.loop.time()
        box.pending.extend(items)
        box.held += len(items)
        box.held_bytes += sum(len(it.data) for it in items)
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

    def refill(self, box: Outbox) -> None:
        """Load the next batch of restored rows to the front of the queue (delivered first)."""
        spool = self.d._spool
        if spool is None or not spool.is_open:
            return
        try:
            items = spool.load(box.name, box.cursor, box.batch.max_events)
        except sqlite3.Error:
            log.exception("persona-sdk spool read failed")
            return
        with box.lock:
            if not items:  # the rows are gone (forgotten by another process)
                bump(box.dropped, "forgotten", box.backlog)
                box.backlog = 0
                return
            box.cursor = items[-1].rowid or box.cursor
            if not box.pending:
                box.first_at = self.loop.time()
            for it in reversed(items):
                it.restored = True
                box.pending.appendleft(it)
            k = len(items)
            box.backlog -= k
            box.pending_spooled += k
            box.front_restored += k
            box.held += k
            box.held_bytes += sum(len(it.data) for it in items)
            box.room()

    def launch(self, box: Outbox) -> None:
        """Take one batch off the queue and start sending it."""
        cfg = box.batch
        items: list[Item] = []
        size = 2
        with box.lock:
            pending = box.pending
            while pending and len(items) < cfg.max_events:
                it = pending[0]
                if items and size + len(it.data) + 1 > cfg.max_bytes:
                    break
                pending.popleft()
                items.append(it)
                size += len(it.data) + 1
                it.state = IN_FLIGHT
                if it.rowid is not None:
                    box.pending_spooled -= 1
                if it.restored and box.front_restored:
                    box.front_restored -= 1
            n = len(items)
            box.held -= n
            box.held_bytes -= size - 2 - n
            box.room()
            box.in_flight += n
            box.busy += 1
        self.loop.create_task(self._deliver(box, items, box.destination))

    async def _deliver(self, box: Outbox, items: list[Item], destination: Any) -> None:
        assert self.client is not None
        payload = [it.data for it in items]
        breaker = box.breaker
        attempt = 0
        try:
            while True:
                while (wait := breaker.admit()) is not None:
                    if wait > 0:
                        await self.sleep(wait)
                    else:  # a half-open probe is under way: wait for its verdict
                        await box.breaker_changed.wait()
                result = await self._send(destination, payload)
                if result.outcome is not SendOutcome.RETRY:
                    breaker.success()
                    _changed(box)
                    dead = None if result.outcome is SendOutcome.DELIVERED else "rejected"
                    self._finish(box, items, dead, result)
                    return
                if breaker.failure():
                    log.warning("persona-sdk destination %r: circuit breaker open (%s)",
                                box.name, result.detail)
                _changed(box)
                box.last_error = result.detail
                if attempt >= box.max_retries:
                    self._finish(box, items, "retries_exhausted", result)
                    return
                attempt += 1
                with box.lock:
                    box.retried += len(items)
                await self.sleep(self.backoff.delay(attempt, result.retry_after))
        except asyncio.CancelledError:
            breaker.release_probe()
            _changed(box)
            self._abandon(box, items)
            raise
        finally:
            box.busy -= 1
            if box.event is not None:
                box.event.set()
            self.d._notify()

    async def _send(self, destination: Any, payload: Sequence[bytes]) -> SendResult:
        assert self.client is not None
        try:
            result = await destination.send(payload, self.client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        if not isinstance(result, SendResult):
            return SendResult.dead(f"send() returned {type(result).__name__}, not SendResult")
        return result

    def _finish(self, box: Outbox, items: list[Item], dead: str | None, result: SendResult) -> None:
        n = len(items)
        with box.lock:
            box.in_flight -= n
            if dead is None:
                box.delivered += n
            else:
                box.dead_lettered += n
                box.last_error = result.detail or dead
        for it in items:
            it.state = DONE
        if dead is not None:
            log.warning("persona-sdk destination %r: dead-lettered %d events (%s: %s)",
                        box.name, n, dead, result.detail)
        if self.d._spool is not None and self.commit_event is not None:
            self.deletes.extend(it.rowid for it in items if it.rowid is not None)
            if dead is not None:
                self.dead.extend((box.name, it, dead, result.status) for it in items)
            self.commit_event.set()

    def _abandon(self, box: Outbox, items: list[Item]) -> None:
        # Shutdown cancelled a send: the events go back to the front of the queue, where the
        # final commit and the shutdown bookkeeping find them.
        with box.lock:
            box.in_flight -= len(items)
            for it in reversed(items):
                it.state = PENDING
                box.pending.appendleft(it)
                box.held += 1
                box.held_bytes += len(it.data)
                if it.rowid is not None:
                    box.pending_spooled += 1
            box.room()

    def _close_old(self, box: Outbox, everything: bool = False) -> None:
        # Destinations replaced by a reload (or a removed destination, once drained) are closed
        # when no batch can still be using them.
        olds = list(box.old_destinations)
        box.old_destinations.clear()
        if everything or box.retired:
            olds.append(box.destination)
        for dest in olds:
            if id(dest) not in self.closed:
                self.closed.add(id(dest))
                _close_destination(box.name, dest)

    # -- spool ------------------------------------------------------------------------------

    async def _committer(self) -> None:
        assert self.commit_event is not None
        interval = self.d._settings.group_commit_interval
        while True:
            await self.commit_event.wait()
            while True:
                self.commit_event.clear()
                self.commit()
                await asyncio.sleep(interval)
                quiet = self.d._sync or all(b.idle() for b in self.pumps)
                if quiet and not (self.deletes or self.dead or self.commit_event.is_set()):
                    break

    def commit(self) -> None:
        """Write what is waiting (group mode: drain every inbox first, bounding the loss
        window), delete delivered rows, store dead letters: one transaction."""
        spool = self.d._spool
        if spool is None or not spool.is_open:
            return
        inserts: list[tuple[str, Item]] = []
        boxes = list(self.pumps)
        if self.d._group:
            for box in boxes:
                self.drain(box)
                inserts.extend((box.name, it) for it in box.uncommitted if it.state != DONE)
                box.uncommitted = []
        deletes, self.deletes = self.deletes, []
        dead, self.dead = self.dead, []
        for box in boxes:
            if box.orphan_rows:
                with box.lock:
                    deletes.extend(box.orphan_rows)
                    box.orphan_rows = []
        try:
            spool.write(inserts, deletes, dead)
        except sqlite3.Error:
            log.exception("persona-sdk spool write failed; will retry")
            self.deletes.extend(deletes)
            self.dead.extend(dead)
            by_name = {b.name: b for b in boxes}
            for name, it in inserts:
                by_name[name].uncommitted.append(it)
            return
        counted: dict[str, int] = {}
        for name, it in inserts:
            if it.state != IN_FLIGHT:  # still pending: it moves from queued to spooled
                counted[name] = counted.get(name, 0) + 1
        for box in boxes:
            k = counted.get(box.name)
            if k:
                with box.lock:
                    box.pending_spooled += k
        self.d._notify()

    # -- forget, shutdown -------------------------------------------------------------------

    def forget(self, ids: frozenset[str]) -> int:
        """Purge queued and spooled events of these ids (runs on the loop)."""
        purged = 0
        for box in list(self.d._all.values()):
            self.drain(box)
            with box.lock:
                keep = [it for it in box.pending if it.uid not in ids and it.aid not in ids]
                gone = [it for it in box.pending if it.uid in ids or it.aid in ids]
                if not gone:
                    continue
                box.pending.clear()
                box.pending.extend(keep)
                for it in gone:
                    it.state = DONE
                    box.held -= 1
                    box.held_bytes -= len(it.data)
                    if it.rowid is not None:
                        box.pending_spooled -= 1
                    if it.restored:
                        box.front_restored -= 1
                box.room()
                bump(box.dropped, "forgotten", len(gone))
                purged += len(gone)
        spool = self.d._spool
        if spool is not None and spool.is_open and ids:
            for dest, rowid in spool.forget(sorted(ids)):
                owner = self.d._all.get(dest)
                if owner is not None and rowid > owner.cursor and owner.backlog:
                    with owner.lock:
                        owner.backlog -= 1
                        bump(owner.dropped, "forgotten")
                    purged += 1
        return purged

    async def _shutdown(self, committer: asyncio.Task[None] | None) -> None:
        self.stopping = True
        tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        boxes = list(self.d._all.values())
        for box in boxes:
            self.drain(box)
        try:
            self.commit()
        except Exception:  # pragma: no cover - logged, the rest of shutdown must run
            log.exception("persona-sdk final spool commit failed")
        keep = self.d._spool is not None
        for box in boxes:
            with box.lock:
                for it in box.pending:
                    if keep and it.rowid is not None:
                        box.backlog += 1
                    else:
                        bump(box.dropped, "closed")
                    it.state = DONE
                box.pending.clear()
                box.held = box.held_bytes = box.pending_spooled = box.front_restored = 0
                box.room()
            self._close_old(box, everything=True)
        if self.client is not None:
            await self.client.aclose()
        if self.d._spool is not None:
            try:
                self.d._spool.close()
            except sqlite3.Error:  # pragma: no cover
                log.exception("persona-sdk spool close failed")
        self.d._notify()


def _changed(box: Outbox) -> None:
    # wake the sends waiting for a half-open probe's verdict
    event = box.breaker_changed
    box.breaker_changed = asyncio.Event()
    event.set()


def _set_event(box: Outbox) -> None:
    if box.event is not None:
        box.event.set()


def _close_destination(name: str, destination: Any) -> None:
    try:
        destination.close()
    except Exception:
        log.exception("persona-sdk destination %r failed to close", name)
