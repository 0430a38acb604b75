"""``Delivery``: every destination's outbox, the one delivery thread, flush/close, fork, exit."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._logonce import LogOnce
from .._stats import DestinationStats
from ..config import DeliveryConfig, SpoolMode
from ._intake import route_intake_now
from ._outbox import Outbox, Render, Routed, RouteFn, validate
from ._process import LIVE, import_network_stack, inherit, install_process_hooks
from ._report import closed_counts, rejection, report_left, snapshot
from ._retry import OS_JITTER
from ._spool import Spool
from ._state import DeliveryState
from ._syncwrite import SyncWriter
from ._worker import Worker

if TYPE_CHECKING:
    from ..config import Container
    from ..events import Message
    from ..plugins import Destination

__all__ = ["Delivery", "RouteFn"]

log = logging.getLogger("persona_sdk.delivery")

_NEVER = 1 << 62

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
        rng: Callable[[], float] = OS_JITTER,
    ) -> None:
        config = config if config is not None else DeliveryConfig()
        validate(config)
        self._clock = clock
        self._sleep = sleep if sleep is not None else asyncio.sleep
        mode = SpoolMode(config.spool)
        spool = None if mode is SpoolMode.OFF else Spool(
            config.spool_path, fsync=config.spool_fsync
        )
        #: shared with the delivery thread, which reads it and calls back through it
        self._state = state = DeliveryState(
            config, spool, mode is SpoolMode.SYNC, mode is SpoolMode.GROUP, rng,
            self.route_pending, self._arm_intake, self.note_rejected,
        )
        self._lock = threading.Lock()
        self._boxes: dict[str, Outbox] = {}  #: accepting events (read lock-free by enqueue)
        self._unknown: dict[str, int] = {}
        self._worker: Worker | None = None
        self._closed = False
        self._close_result = True
        # The intake: messages tracked but not yet routed. Routing happens on the delivery
        # thread (or wherever stats/flush/forget need it done now), under ``_route_lock``.
        self._intake = state.intake  # the same deque: ``submit`` reads it without a hop
        self._intake_limit = config.max_queue_events  #: beyond it callers route themselves
        self._intake_wake_n = 0  #: a submit finding this many queued wakes the thread
        self._route_lock = threading.Lock()
        self._route_errors = 0
        #: every counted error, logged once per kind (then a periodic count)
        self.errors = LogOnce(log)
        if state.sync:
            writer = SyncWriter(state, self._outbox, self._unrouted, self._route_failed,
                                self._wake, self.errors)
            self.enqueue = writer.enqueue  # type: ignore[method-assign]
            self.submit = writer.submit  # type: ignore[method-assign]
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
        settings = getattr(container, "delivery", None) or self._state.settings
        validate(settings)
        if destinations:
            import_network_stack()
        with self._lock:
            if self._closed:
                return
            self._state.settings = settings
            if not self._state.sync:
                self._intake_limit = settings.max_queue_events
            # one swap: enqueue never sees a half-built map
            self._boxes = self._state.adopt(destinations, container, self._boxes, self._clock)
            worker = self._worker
        if worker is not None:
            worker.reconfigure(settings)

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

    def submit_item(self, item: tuple[Any, ...]) -> None:
        """``submit`` for a tuple that is its own message: ``item[0](item)`` routes it (on
        the delivery thread, like ``submit``'s router). One object handed over instead of a
        message and its ``Routed``: what the delivery thread frees, the caller's next
        allocations reuse cold (an exposure, ``ExposureLane``: ~0.1 µs a visitor). The
        generated features make the same append inline (``decisions._fastpath._PICK``):
        change both together."""
        intake = self._intake
        n = len(intake)
        if n < self._intake_limit:
            intake.append(item)
            if n >= self._intake_wake_n:
                self._wake_intake()
        else:
            self._route(item, item[0])

    def _route(self, msg: Any, route: RouteFn) -> None:
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
        box.last_error = rejection(reason, msg, exc, size)
        self.errors(f"{reason}:{box.name}",
                    f"destination {box.name!r} rejected an event: {box.last_error}", exc)

    def route_pending(self, limit: int = _NEVER) -> int:
        """Route up to ``limit`` messages waiting in the intake, on the calling thread;
        returns how many were routed."""
        return route_intake_now(self, limit)

    def _arm_intake(self, n: int) -> None:
        # the delivery thread's intake router: how many queued messages make ``submit`` wake it
        self._intake_wake_n = n

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

    def _outbox(self, destination: str) -> Outbox | None:
        return self._boxes.get(destination)

    def _unrouted(self, destination: str) -> None:
        box = self._state.outboxes.get(destination)
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
                worker = Worker(self._state, self._sleep)
                worker.start()
                self._worker = worker
            return self._worker

    # -- reading ----------------------------------------------------------------------------

    def stats(self) -> dict[str, DestinationStats]:
        """Counters per destination, each set taken at one instant; for each destination
        ``tracked == delivered + queued + spooled + in_flight + dropped_total +
        rejected_total + dead_lettered``.

        Messages submitted but not yet routed are routed first, so every event tracked
        before the call is counted."""
        self.route_pending()
        return snapshot(self._state.outboxes, self._unknown, self._state.sync)

    @property
    def route_errors(self) -> int:
        """Messages whose routing raised (a trigger plugin failed); they went nowhere."""
        return self._route_errors

    def _all_idle(self) -> bool:
        # intake before the lock: a message popped from the intake is being routed under
        # the lock, and is in an outbox by the time the lock is free again
        if self._intake or self._route_lock.locked():
            return False
        return all(box.settled() for box in list(self._state.outboxes.values()))

    # -- flush and close --------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued now; return whether all of it was delivered in ``timeout``
        (nothing left queued, spooled or in flight, and nothing dead-lettered meanwhile)."""
        deadline = time.monotonic() + timeout
        self.route_pending()
        worker = self._worker
        if self._closed and (worker is None or not worker.thread.is_alive()):
            return self._all_idle()  # nothing will move any more
        if worker is None and self._state.spool is not None:
            worker = self._start()  # deliver what a previous run spooled
        if worker is None:
            return self._all_idle()
        worker.ready.wait(max(0.0, deadline - time.monotonic()))
        dead_before = self._state.dead_total()
        with self._lock:
            self._state.flushing += 1
        try:
            worker.wake_all()
            with self._state.idle:
                done = self._state.idle.wait_for(
                    self._all_idle, max(0.0, deadline - time.monotonic())
                )
        finally:
            with self._lock:
                self._state.flushing -= 1
        return done and self._state.dead_total() == dead_before

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
            self._state.close_unstarted()
            return True
        ok = self.flush(timeout)
        closed_before = closed_counts(self._state.outboxes)
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
            report_left(self._state, closed_before, stopped=not worker.thread.is_alive())
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
        self.close(self._state.settings.shutdown_timeout)

    async def __aenter__(self) -> Delivery:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(self._state.settings.shutdown_timeout)

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
            purged = worker.forget(wanted)
            if purged is not None:
                return purged
        self._state.forget_in_spool(wanted)
        return 0

    # -- process hooks (called by ``_process``) -------------------------------------------

    def before_fork(self) -> None:
        """Before ``os.fork``: hold the delivery thread at a safe point (it may be waiting for
        a spool lock)."""
        if self._worker is not None:
            self._worker.park()

    def hold_spool_for_fork(self) -> None:
        """Before ``os.fork``, once every delivery thread is parked: hold the spool writers
        (caller threads write the spool themselves in ``sync`` mode)."""
        if self._state.spool is not None:
            self._state.spool.hold_for_fork()

    def after_fork_in_parent(self) -> None:
        """After ``os.fork``, in the parent: release the spool, then the delivery thread."""
        if self._state.spool is not None:
            self._state.spool.release_after_fork()
        if self._worker is not None:
            self._worker.unpark()

    def after_fork_in_child(self) -> None:
        """After ``os.fork``, in the child: start empty, with fresh locks and no thread; the
        parent keeps (and delivers) everything it had queued, so nothing is sent by both."""
        if self._worker is not None:
            inherit(self._worker)
        self._worker = None
        self._lock = threading.Lock()
        state = self._state
        self._boxes = state.after_fork(self._boxes, self._clock)
        self._unknown = {}
        self._intake = state.intake
        self._intake_wake_n = 0
        self._route_lock = threading.Lock()

    def close_at_exit(self) -> None:
        """At interpreter exit: close (bounded by ``shutdown_timeout``) if a delivery thread
        ran and ``close`` was never called."""
        if self._worker is not None and not self._closed:
            self.close(self._state.settings.shutdown_timeout)
