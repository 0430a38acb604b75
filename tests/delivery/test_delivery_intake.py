"""The intake: ``track`` hands messages over, the delivery thread routes them.

What must hold: routing happens off the caller's thread; ``stats``/``flush``/``forget`` see
every event submitted before them; a full intake makes callers route themselves, so each
outbox's caps and drop counts stay exact; a failing route is counted and harms no other
event; a ``reload`` never re-routes events already tracked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from delivery_helpers import identity_holds, make_delivery, message, render

from persona_sdk import Persona
from persona_sdk.delivery import DeliveryConfig
from persona_sdk.events import Message
from persona_sdk.rules import OperatorRegistry
from persona_sdk.testing import CaptureDestination


class _Recording:
    """A route function sending everything to ``cap``, noting which thread routed."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self, msg: Message) -> Iterable[tuple[str, Any]]:
        self.threads.append(threading.current_thread().name)
        return [("cap", render)]


def test_track_is_routed_on_the_delivery_thread() -> None:
    """Triggers run on the delivery thread, not on the thread calling ``track``."""
    seen: list[str] = []

    class Seen:
        name = "$seen"

        def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
            def test(value: Any) -> bool:
                seen.append(threading.current_thread().name)
                return True

            return test

    registry = OperatorRegistry()
    registry.register(Seen())
    cap = CaptureDestination("cap")
    persona = Persona(
        {"destinations": {"cap": {"type": "capture"}},
         "tags": [{"name": "t", "destination": "cap", "trigger": {"event": {"$seen": 1}}}]},
        destinations={"cap": cap}, operators=registry,
    )  # fmt: skip
    for i in range(20):
        persona.track("Order Completed", anonymous_id=f"a-{i}")
    assert cap.wait_for(20, timeout=30)  # no flush or stats: those route on the caller
    assert seen == ["persona-delivery"] * 20
    persona.close()


def test_stats_and_flush_count_every_submitted_event() -> None:
    """``stats`` right after ``submit`` counts the events (routing what is pending first)."""
    cap = CaptureDestination("cap")
    d = make_delivery({"cap": cap})
    route = _Recording()
    for i in range(50):
        d.submit(message(i), route)
    s = d.stats()["cap"]
    assert s["tracked"] == 50
    assert identity_holds(s)
    assert d.flush(10)
    assert d.stats()["cap"]["delivered"] == 50
    d.close()


def test_flush_returns_when_no_tag_routes_anything() -> None:
    """Events that no tag routes leave nothing to wait for: flush says everything went."""
    d = make_delivery({"cap": CaptureDestination("cap")})
    for i in range(10):
        d.submit(message(i), lambda msg: ())
    assert d.flush(10)
    assert d.stats()["cap"]["tracked"] == 0
    d.close()


def test_a_full_intake_makes_callers_route_with_exact_drop_counts() -> None:
    """While the delivery thread is held, the intake stops at ``max_queue_events``; later
    events are routed by the caller into the outbox, whose own cap drops and counts them."""
    cap = CaptureDestination("cap")
    d = make_delivery({"cap": cap}, DeliveryConfig(max_queue_events=5))
    route = _Recording()
    d.submit(message(0), route)  # starts the delivery thread
    worker = d._worker
    assert worker is not None
    worker.ready.wait(10)
    worker.park()
    try:
        for i in range(1, 21):
            d.submit(message(i), route)
        assert len(d._intake) == 5  # bounded: the rest did not wait there
        by_caller = route.threads.count(threading.current_thread().name)
        assert by_caller in (15, 16)  # message 0 may still have been in the intake
    finally:
        worker.unpark()
    d.flush(10)
    s = d.stats()["cap"]
    assert s["tracked"] == 21
    assert identity_holds(s)
    assert s["delivered"] + s["dropped"].get("queue_full", 0) == 21
    assert s["dropped"]["queue_full"] > 0
    assert len(cap.events) == s["delivered"]
    d.close()


def test_a_failing_route_is_counted_and_spares_the_others() -> None:
    """A route that raises (a broken trigger plugin) is counted; other events go out."""
    cap = CaptureDestination("cap")
    d = make_delivery({"cap": cap})

    def route(msg: Message) -> Iterable[tuple[str, Any]]:
        if msg.message_id == "m-3":
            raise RuntimeError("plugin bug")
        return [("cap", render)]

    for i in range(6):
        d.submit(message(i), route)
    assert d.flush(10)
    assert d.route_errors == 1
    assert sorted(e["messageId"] for e in cap.events) == ["m-0", "m-1", "m-2", "m-4", "m-5"]
    d.close()


def test_events_tracked_before_a_reload_keep_their_routing() -> None:
    """An event waiting in the intake during a reload is routed by the tags it was tracked
    under, not by the new container's."""
    cap = CaptureDestination("cap")
    every = {"destinations": {"cap": {"type": "capture"}},
             "tags": [{"name": "t", "destination": "cap"}]}
    nothing = {"destinations": {"cap": {"type": "capture"}},
               "tags": [{"name": "t", "destination": "cap", "trigger": {"event": "never"}}]}
    persona = Persona(every, destinations={"cap": cap})
    persona.track("Warm", anonymous_id="a-0")
    assert persona.flush(10)
    worker = persona._delivery._worker
    assert worker is not None
    worker.park()
    try:
        persona.track("Before Reload", anonymous_id="a-1")
        persona.reload(nothing)
    finally:
        worker.unpark()
    persona.track("After Reload", anonymous_id="a-2")
    assert persona.flush(10)
    assert [e["event"] for e in cap.events] == ["Warm", "Before Reload"]
    persona.close()


def test_closed_delivery_counts_late_submissions() -> None:
    """After ``close``, a submitted event is counted as dropped ``closed``, not left queued."""
    cap = CaptureDestination("cap")
    d = make_delivery({"cap": cap})
    d.submit(message(0), _Recording())
    assert d.close(10)
    d.submit(message(1), _Recording())
    s = d.stats()["cap"]
    assert s["dropped"].get("closed") == 1
    assert identity_holds(s)


def test_persona_stats_count_events_a_failing_trigger_could_not_route() -> None:
    """A trigger operator that raises costs its event, counted under ``routing.errors``;
    ``track`` itself never raises for it and other tags' events still go out."""

    class Broken:
        name = "$broken"

        def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
            def test(value: Any) -> bool:
                if value == "Boom":
                    raise RuntimeError("plugin bug")
                return True

            return test

    registry = OperatorRegistry()
    registry.register(Broken())
    cap = CaptureDestination("cap")
    persona = Persona(
        {"destinations": {"cap": {"type": "capture"}},
         "tags": [{"name": "t", "destination": "cap", "trigger": {"event": {"$broken": 1}}}]},
        destinations={"cap": cap}, operators=registry,
    )  # fmt: skip
    persona.track("Fine", anonymous_id="a-1")
    persona.track("Boom", anonymous_id="a-1")
    persona.track("Fine again", anonymous_id="a-1")
    assert persona.flush(10)
    assert persona.stats()["routing"] == {"errors": 1}
    assert [e["event"] for e in cap.events] == ["Fine", "Fine again"]
    persona.close()


class _SeenLock:
    """A lock that says when someone first waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wanted = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.wanted.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_flush_never_sees_an_event_between_two_counters() -> None:
    """An event the delivery thread is moving from one counter to the next (under the
    outbox's lock) is not missed by flush's idle check: it waits for the lock, then sees it."""
    d = make_delivery({"cap": CaptureDestination("cap")})
    box = d._boxes["cap"]
    lock = _SeenLock()
    box.lock = lock  # type: ignore[assignment]
    answers: list[bool] = []
    with lock:
        # the state in the middle of drain: popped from the inbox, not yet counted as held
        box.inbox.clear()
        box.held = 0
        checker = threading.Thread(target=lambda: answers.append(d._all_idle()))
        checker.start()
        while not lock.wanted.is_set() and checker.is_alive():
            lock.wanted.wait(0.01)  # a condition, polled: either it waits for us or it is done
        box.held = 1  # drain's second step, still under the lock
    checker.join()
    assert answers == [False]
    box.held = 0
    d.close(5)
