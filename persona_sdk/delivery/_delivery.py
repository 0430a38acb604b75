"""``Delivery``: every destination's outbox, the one delivery thread, flush/close, fork, exit."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

from .._errors import SpoolError, SpoolFullError
from .._logonce import LogOnce
from .._stats import DestinationStats
from ..config import DeliveryConfig, SpoolMode
from ..events import MAX_EVENT_BYTES, UnencodableEvent
from ._outbox import Item, Outbox, Render, Routed, validate
from ._process import LIVE, import_network_stack, inherit, install_process_hooks
from ._spool import Spool
from ._spooling import forget as forget_on_loop
from ._worker import Worker

if TYPE_CHECKING:
    from ..config import Container
    from ..events import Message
    from ..plugins import Destination

__all__ = ["Delivery", "RouteFn"]

#: backoff jitter from the OS, never the global ``random`` state (an application may seed it,
#: and a forked worker must not repeat its parent's draws)
_JITTER = random.SystemRandom().random

log = logging.getLogger("persona_sdk.delivery")

#: Routes one message: its ``(destination, render)`` pairs (``Router.route``).
RouteFn = Callable[["Message"], Iterable[tuple[str, Render]]]
_NEVER = 1 << 62
_ROUTE_CHUNK = 256  #: messages routed per hold of the routing lock

class Delivery:
    """Per-destination outboxes drained by one background thread.

    ``submit`` (the hot path) appends a message and its router to one intake deque and
    returns; the delivery thread, started on the first event, routes it into the outbox of
    each destination it goes to (``enqueue``), renders and encodes each event once, batches,
    sends, retries and counts. See ``docs/delivery.md``.

    Usage::

        delivery = Delivery(DeliveryConfig())
        delivery.configure({"http": destination}, container)
        delivery.submit(message, router.route)   # or enqueue("http", message, render)
        delivery.flush(timeout=5.0)
        delivery.close()

    Args:
        config: queue caps, retries and the spool (the spool settings are fixed here).
        clock: monotonic seconds, for the circuit breakers (injectable for tests).
        sleep: the coroutine that waits out backoff and ``Retry-After`` (injectable).
        rng: ``random()``-like source of the backoff jitter (injectable).
    """

    def __init__(
        self,
        config: DeliveryConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: Callable[[], float] = _JITTER,
    ) -> None:
        config = config if config is not None else DeliveryConfig()
        validate(config)
        self._settings = config
        self._clock = clock
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._rng = rng
        mode = SpoolMode(config.spool)
        self._sync = mode is SpoolMode.SYNC
        self._group = mode is SpoolMode.GROUP
        self._spool = None if mode is SpoolMode.OFF else Spool(
            config.spool_path, fsync=config.spool_fsync
        )
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._boxes: dict[str, Outbox] = {}  #: accepting events (read lock-free by enqueue)
        self._all: dict[str, Outbox] = {}  #: every outbox ever made (stats, retired ones)
        self._unknown: dict[str, int] = {}
        self._worker: Worker | None = None
        self._flushing = 0
        self._closed = False
        self._close_result = True
        # The intake: messages tracked but not yet routed. Routing happens on the delivery
        # thread (or wherever stats/flush/forget need it done now), under ``_route_lock``.
        self._intake: collections.deque[Routed] = collections.deque()
        self._intake_limit = config.max_queue_events  #: beyond it callers route themselves
        self._intake_wake_n = 0  #: a submit finding this many queued wakes the thread
        self._route_lock = threading.Lock()
        self._route_errors = 0
        #: every counted error, logged once per kind (then a periodic count)
        self.errors = LogOnce(log)
        if self._sync:
            self.enqueue = self._enqueue_sync  # type: ignore[method-assign]
            self.submit = self._submit_sync  # type: ignore[method-assign]
            # the spool needs the routed, encoded event before the caller returns
            self._intake_limit = 0
        LIVE.add(self)

    # -- configuration ----------------------------------------------------------------------

    def configure(self, destinations: Mapping[str, Destination], container: Container) -> None:
        """Take the destinations of a (new) container; queues of those that stay are kept.

        Per-destination settings come from ``container.destinations[name]``; destinations
        not listed there (instances passed in directly) use the defaults. A destination that
        goes away stops taking events and is closed once its queue has drained.
        """
        settings = getattr(container, "delivery", None) or self._settings
        validate(settings)
        if destinations:
            import_network_stack()
        with self._lock:
            if self._closed:
                return
            self._settings = settings
            if not self._sync:
                self._intake_limit = settings.max_queue_events
            boxes: dict[str, Outbox] = {}
            for name, destination in destinations.items():
                cfg = container.destinations.get(name)
                box = self._all.get(name)
                if box is None:
                    box = Outbox(name, destination, settings, cfg, self._clock)
                else:
                    box.apply(destination, settings, cfg, self._clock)
                    box.retired = False
                boxes[name] = box
                self._all[name] = box
            for name, box in self._boxes.items():
                if name not in boxes:
                    box.retired = True
            self._boxes = boxes  # one swap: enqueue never sees a half-built map
            worker = self._worker
        if worker is not None:
            worker.backoff.base = settings.backoff_base
            worker.backoff.cap = settings.backoff_max
            worker.call(worker.sync_boxes)

    # -- the hot path -----------------------------------------------------------------------

    def submit(self, msg: Message, route: RouteFn) -> None:
        """Hand ``msg`` over for routing by ``route`` and delivery; never blocks on I/O.

        One append (and, at most once per burst, a wake-up of the delivery thread). When the
        intake is full (the thread is behind) or in ``sync`` spool mode, the caller routes
        the message itself, so each outbox's caps and overflow policy apply as usual.
        """
        intake = self._intake
        n = len(intake)
        if n < self._intake_limit:
            intake.append(Routed(msg, route))
            if n >= self._intake_wake_n:
                self._wake_intake()
        else:
            self._route(msg, route)

    def _submit_sync(self, msg: Message, route: RouteFn) -> None:
        # sync spool mode: the spool is the buffer. Refuse when it is full, before anything is
        # written; raise when a row could not be written, after trying every destination.
        spool = self._spool
        assert spool is not None
        try:
            if not spool.is_open:
                install_process_hooks()  # a fork must wait for this thread's writes
                spool.open()
            room = spool.has_room(self._settings.spool_max_bytes)
        except Exception as exc:
            raise SpoolError(f"the spool {spool.path} cannot be used: {exc}") from exc
        if not room:
            raise SpoolFullError(
                f"the spool {spool.path} is full (delivery.spool_max_bytes = "
                f"{self._settings.spool_max_bytes}); the event was not accepted"
            )
        try:
            routes = list(route(msg))
        except Exception as exc:
            self._route_failed(exc)
            return
        failed: SpoolError | None = None
        for destination, render in routes:
            try:
                self._enqueue_sync(destination, msg, render)
            except SpoolError as exc:
                failed = exc
        if failed is not None:
            raise failed

    def _route(self, msg: Message, route: RouteFn) -> None:
        try:
            for destination, render in route(msg):
                self.enqueue(destination, msg, render)
        except Exception as exc:  # a trigger plugin failed: count it, never lose the others'
            self._route_failed(exc)

    def _route_failed(self, exc: BaseException) -> None:
        self._route_errors += 1
        self.errors("route_error", f"routing an event failed: {type(exc).__name__}: {exc}", exc)

    def note_rejected(
        self, box: Outbox, reason: str, msg: Message, exc: BaseException | None, size: int = 0
    ) -> None:
        """Note an event ``box``'s destination refused (counted by the caller): its last
        error in ``stats()``, and a log line for the first of each kind (with the traceback
        of a failing render or ``transform``), then a periodic count."""
        if exc is not None:
            what = f"{reason}: {type(exc).__name__}: {exc}"
        elif reason == "too_large":
            what = f"too_large: {size} bytes is over the {MAX_EVENT_BYTES}-byte limit"
        else:
            what = reason
        box.last_error = f"{what} (messageId {msg.message_id})"
        self.errors(f"{reason}:{box.name}",
                    f"destination {box.name!r} rejected an event: {box.last_error}", exc)

    def route_pending(self, limit: int = _NEVER) -> int:
        """Route up to ``limit`` messages waiting in the intake, on the calling thread;
        returns how many were routed."""
        intake = self._intake
        pop = intake.popleft
        enqueue = self.enqueue
        done = 0
        while intake and done < limit:
            with self._route_lock:
                for _ in range(min(_ROUTE_CHUNK, limit - done)):
                    try:
                        item = pop()
                    except IndexError:
                        break
                    done += 1
                    msg = item.msg
                    try:  # _route, inlined: this loop runs for every event
                        for destination, render in item.fn(msg):
                            enqueue(destination, msg, render)
                    except Exception as exc:
                        self._route_failed(exc)
        return done

    def _wake_intake(self) -> None:
        self._intake_wake_n = _NEVER
        worker = self._worker or self._start()
        if worker is not None:
            worker.wake_intake()

    def enqueue(self, destination: str, msg: Message, render: Render) -> None:
        """Queue ``msg`` for ``destination``; ``render(msg)`` runs later on the delivery thread.

        Never blocks on I/O: an append, and a wake-up of the delivery thread at most once
        per batch. A full queue drops per its overflow policy, counted by reason.
        """
        try:
            box = self._boxes[destination]
        except KeyError:
            self._unrouted(destination)
            return
        inbox = box.inbox
        n = len(inbox)
        if n < box.limit:
            inbox.append(Routed(msg, render))
            if n >= box.wake_n:
                self._wake(box)
        elif box.overflow(Routed(msg, render)) and len(inbox) > box.wake_n:
            self._wake(box)

    def _enqueue_sync(self, destination: str, msg: Message, render: Render) -> None:
        # sync spool mode: render, encode and commit before returning (survives kill -9). The
        # row is written under the outbox lock, so that what is on disk only (the memory
        # queue was full) is exactly this destination's rows above ``disk_after``.
        box = self._boxes.get(destination)
        if box is None:
            self._unrouted(destination)
            return
        try:
            doc = render(msg)
        except Exception as exc:
            reason = "encode_error" if isinstance(exc, UnencodableEvent) else "render_error"
            box.end_on_caller(box.rejected, reason)
            self.note_rejected(box, reason, msg, exc)
            return
        if doc is None:
            box.end_on_caller(box.rejected, "skipped")
            return
        if doc.__class__ is bytes:  # already encoded (and shared between destinations)
            data: bytes = doc
        else:
            try:
                data = msgspec.json.encode(doc)
            except (TypeError, ValueError, OverflowError) as exc:
                box.end_on_caller(box.rejected, "encode_error")
                self.note_rejected(box, "encode_error", msg, exc)
                return
        if len(data) > MAX_EVENT_BYTES:
            box.end_on_caller(box.rejected, "too_large")
            self.note_rejected(box, "too_large", msg, None, len(data))
            return
        item = Item(data, msg.message_id, msg.user_id, msg.anonymous_id)
        spool = self._spool
        assert spool is not None
        wake = False
        failed: Exception | None = None
        with box.lock:
            try:
                if not spool.is_open:
                    install_process_hooks()  # a fork must wait for this thread's writes
                    spool.open()
                rowid = spool.insert(destination, item)
            except Exception as exc:
                # the disk failed: keep the event in memory, and say no (no id returned)
                box.last_error = f"spool insert failed: {type(exc).__name__}: {exc}"
                box.inbox.append(item)
                failed = exc
            else:
                item.rowid = rowid
                if box.disk_only or len(box.inbox) + box.held >= box.max_events or (
                        box.held_bytes >= box.max_bytes):
                    # the memory queue is full: the row waits on disk only, and is loaded
                    # when the queue has room again (the spool is the buffer)
                    if not box.disk_only:
                        box.disk_after = max(box.last_rowid, spool.restore_max)
                        wake = True
                    box.disk_only += 1
                    box.entered += 1
                else:
                    box.inbox.append(item)
                    box.inbox_spooled += 1
                    box.last_rowid = rowid
        if failed is not None:
            self.errors(f"spool_insert:{box.name}",
                        f"destination {box.name!r}: {box.last_error}", failed)
            raise SpoolError(
                f"destination {destination!r}: the event could not be written to the spool "
                f"({type(failed).__name__}: {failed}); it is queued in memory only"
            ) from failed
        if wake or len(box.inbox) > box.wake_n:
            self._wake(box)

    def _unrouted(self, destination: str) -> None:
        box = self._all.get(destination)
        if box is not None:  # removed by a reload, or closed
            box.end_on_caller(box.dropped, "closed" if self._closed else "removed")
            return
        with self._lock:
            self._unknown[destination] = self._unknown.get(destination, 0) + 1

    def _wake(self, box: Outbox) -> None:
        box.disarm()
        worker = self._worker or self._start()
        if worker is not None:
            worker.wake(box)

    def _start(self) -> Worker | None:
        with self._lock:
            if self._worker is None and not self._closed:
                import_network_stack()
                install_process_hooks()
                worker = Worker(self, self._sleep)
                worker.start()
                self._worker = worker
            return self._worker

    def _notify(self) -> None:
        with self._idle:
            self._idle.notify_all()

    # -- reading ----------------------------------------------------------------------------

    def stats(self) -> dict[str, DestinationStats]:
        """Counters per destination, each set taken at one instant; for each destination
        ``tracked == delivered + queued + spooled + in_flight + dropped_total +
        rejected_total + dead_lettered``.

        Messages submitted but not yet routed are routed first, so every event tracked
        before the call is counted."""
        self.route_pending()
        out = {name: box.snapshot(self._sync) for name, box in list(self._all.items())}
        for name, n in list(self._unknown.items()):
            out.setdefault(name, _unknown_stats(n))
        return out

    @property
    def route_errors(self) -> int:
        """Messages whose routing raised (a trigger plugin failed); they went nowhere."""
        return self._route_errors

    def _all_idle(self) -> bool:
        # intake before the lock: a message popped from the intake is being routed under
        # the lock, and is in an outbox by the time the lock is free again
        if self._intake or self._route_lock.locked():
            return False
        return all(box.idle() for box in list(self._all.values()))

    # -- flush and close --------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued now; return whether all of it was delivered in ``timeout``
        (nothing left queued, spooled or in flight, and nothing dead-lettered meanwhile)."""
        deadline = time.monotonic() + timeout
        self.route_pending()
        worker = self._worker
        if self._closed and (worker is None or not worker.thread.is_alive()):
            return self._all_idle()  # nothing will move any more
        if worker is None:
            if self._spool is None:
                return self._all_idle()
            worker = self._start()  # deliver what a previous run spooled
            if worker is None:
                return self._all_idle()
        worker.ready.wait(max(0.0, deadline - time.monotonic()))
        dead_before = self._dead_total()
        with self._lock:
            self._flushing += 1
        try:
            worker.wake_all()
            with self._idle:
                done = self._idle.wait_for(
                    self._all_idle, max(0.0, deadline - time.monotonic())
                )
        finally:
            with self._lock:
                self._flushing -= 1
        return done and self._dead_total() == dead_before

    def _dead_total(self) -> int:
        return sum(box.dead_lettered for box in list(self._all.values()))

    async def aflush(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``flush`` (waits in a worker thread, never on the loop)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush (bounded by ``timeout``), stop the delivery thread, close destinations.

        Returns whether everything was delivered. Events left over are kept in the spool
        when it is on (delivered at the next start), counted as dropped ``closed`` when
        not. Idempotent: later calls return the first result.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return self._close_result
            worker = self._worker
            if worker is None:
                self._closed = True
                self._intake_limit = 0
        if worker is None:
            for box in list(self._all.values()):
                for dest in (box.destination, *box.old_destinations):
                    try:
                        dest.close()
                    except Exception:
                        pass
            if self._spool is not None and self._spool.is_open:
                self._spool.close()
            return True
        ok = self.flush(timeout)
        closed_before = {name: box.dropped.get("closed", 0) for name, box in self._all.items()}
        with self._lock:
            self._closed = True
            self._intake_limit = 0  # late events are routed on the caller...
            self._boxes = {}  # ...and counted as dropped "closed"
        # at least 2 s to stop: the shutdown's final spool commit and its count must not be
        # cut short by a flush that used the whole timeout
        worker.stop(max(2.0, deadline - time.monotonic()))
        self._close_result = ok
        self.errors.report()
        if not ok:
            self._report_left(closed_before, stopped=not worker.thread.is_alive())
        return ok

    def _report_left(self, closed_before: Mapping[str, int], *, stopped: bool) -> None:
        # Say what close could not deliver, per destination: lost (no spool), or kept in the
        # spool for the next start.
        lost: list[str] = []
        kept: list[str] = []
        for name, box in list(self._all.items()):
            snap = box.snapshot(self._sync)
            gone = (snap["dropped"].get("closed", 0) - closed_before.get(name, 0)
                    + snap["queued"] + snap["in_flight"])
            why = f", last error: {snap['last_error']}" if snap["last_error"] else ""
            if gone:
                lost.append(f"{name}: {gone}{why}")
            if snap["spooled"]:
                kept.append(f"{name}: {snap['spooled']}{why}")
        if lost:
            log.error(
                "persona-sdk: closed with events not delivered, %s (%s). To keep them "
                "across restarts, turn the spool on (delivery.spool = \"group\" or \"sync\"; "
                "see docs/delivery.md)",
                "now lost" if stopped else "lost unless the delivery thread, still stopping, "
                "spools them", "; ".join(lost),
            )
        if kept:
            log.warning(
                "persona-sdk: closed with events not delivered, kept in the spool %s for the "
                "next start (%s)", self._spool.path if self._spool else "", "; ".join(kept),
            )

    async def aclose(self, timeout: float = 5.0) -> bool:
        """The asyncio form of ``close``."""
        return await asyncio.get_running_loop().run_in_executor(None, self.close, timeout)

    def __enter__(self) -> Delivery:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(self._settings.shutdown_timeout)

    async def __aenter__(self) -> Delivery:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(self._settings.shutdown_timeout)

    # -- erasure ----------------------------------------------------------------------------

    def forget(self, ids: set[str] | frozenset[str]) -> int:
        """Purge queued and spooled events (and dead letters) of these user/anonymous ids.

        Returns how many queued or spooled events were purged (counted as dropped
        ``forgotten``). Batches already in flight cannot be recalled.
        """
        wanted = frozenset(i for i in ids if i)
        if not wanted:
            return 0
        self.route_pending()
        worker = self._worker
        if worker is not None and worker.thread.is_alive():
            async def run() -> int:
                return forget_on_loop(worker, wanted)

            try:
                return asyncio.run_coroutine_threadsafe(run(), worker.loop).result(30.0)
            except RuntimeError:  # the loop is gone (closed meanwhile)
                pass
        spool = self._spool
        if spool is None:
            return 0
        if not spool.is_open:
            spool.open()
        spool.forget(sorted(wanted))
        return 0

    # -- fork -------------------------------------------------------------------------------

    def _after_fork(self) -> None:
        # In a forked child: start empty, with fresh locks and no thread; the parent keeps
        # (and delivers) everything it had queued, so nothing is sent by both.
        if self._worker is not None:
            inherit(self._worker)
        self._worker = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._flushing = 0
        self._unknown = {}
        self._intake = collections.deque()
        self._intake_wake_n = 0
        self._route_lock = threading.Lock()
        if self._spool is not None:
            self._spool.abandon()
        fresh: dict[str, Outbox] = {}
        for name, box in self._boxes.items():
            fresh[name] = Outbox(name, box.destination, self._settings, box.dest_cfg,
                                 self._clock)
        self._boxes = fresh
        self._all = dict(fresh)


def _unknown_stats(n: int) -> DestinationStats:
    return {
        "tracked": n, "delivered": 0, "queued": 0, "spooled": 0, "in_flight": 0,
        "retried": 0, "dead_lettered": 0, "dropped": {"unknown_destination": n},
        "dropped_total": n, "rejected": {}, "rejected_total": 0, "restored": 0,
        "breaker": "closed", "last_error": "",
    }
