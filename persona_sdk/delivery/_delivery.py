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

from ..events import MAX_EVENT_BYTES, UnencodableEvent
from ._config import DeliveryConfig, SpoolMode
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
        if self._sync:
            self.enqueue = self._enqueue_sync  # type: ignore[method-assign]
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

    def _route(self, msg: Message, route: RouteFn) -> None:
        try:
            for destination, render in route(msg):
                self.enqueue(destination, msg, render)
        except Exception:  # a trigger plugin failed: count it, never lose the others' events
            self._route_failed()

    def _route_failed(self) -> None:
        # called from an except block: log.exception reports the plugin's traceback
        self._route_errors += 1
        if self._route_errors == 1:
            log.exception("persona-sdk: routing an event failed (counted from now on)")

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
                    except Exception:
                        self._route_failed()
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
        # sync spool mode: render, encode and commit before returning (survives kill -9)
        box = self._boxes.get(destination)
        if box is None:
            self._unrouted(destination)
            return
        full = len(box.inbox) >= box.limit and not box.fits()
        if full and not box.drop_oldest:
            box.overflow(None)  # counts the drop
            return
        try:
            doc = render(msg)
        except Exception as exc:
            reason = "encode_error" if isinstance(exc, UnencodableEvent) else "render_error"
            box.end_on_caller(box.rejected, reason)
            return
        if doc is None:
            box.end_on_caller(box.rejected, "skipped")
            return
        if doc.__class__ is bytes:  # already encoded (and shared between destinations)
            data: bytes = doc
        else:
            try:
                data = msgspec.json.encode(doc)
            except (TypeError, ValueError, OverflowError):
                box.end_on_caller(box.rejected, "encode_error")
                return
        if len(data) > MAX_EVENT_BYTES:
            box.end_on_caller(box.rejected, "too_large")
            return
        item = Item(data, msg.message_id, msg.user_id, msg.anonymous_id)
        spool = self._spool
        assert spool is not None
        try:
            if not spool.is_open:
                install_process_hooks()  # a fork must wait for this thread's writes
                spool.open()
            item.rowid = spool.insert(destination, item)
        except Exception:  # the disk failed: keep the event in memory rather than lose it
            box.last_error = "spool insert failed"
        if full:
            box.overflow(item)
        else:
            with box.lock:
                box.inbox.append(item)
                if item.rowid is not None:
                    box.inbox_spooled += 1
        if len(box.inbox) > box.wake_n:
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

    def stats(self) -> dict[str, dict[str, Any]]:
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
        with self._lock:
            self._closed = True
            self._intake_limit = 0  # late events are routed on the caller...
            self._boxes = {}  # ...and counted as dropped "closed"
        worker.stop(max(0.5, deadline - time.monotonic()))
        self._close_result = ok
        return ok

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


def _unknown_stats(n: int) -> dict[str, Any]:
    return {
        "tracked": n, "delivered": 0, "queued": 0, "spooled": 0, "in_flight": 0,
        "retried": 0, "dead_lettered": 0, "dropped": {"unknown_destination": n},
        "dropped_total": n, "rejected": {}, "rejected_total": 0, "restored": 0,
        "breaker": "closed", "last_error": "",
    }
