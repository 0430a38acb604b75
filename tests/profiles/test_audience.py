"""Event-driven segments: membership kept per visitor, updated by every event that reaches the
profile, with Segment Entered / Segment Exited going out through the real tag layer at once;
segments indexed by what they read; relative-time operators against an injected clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from profile_helpers import START, FakeClock

from persona_sdk import ConfigError, Persona
from persona_sdk.config import Container
from persona_sdk.profiles import Segments
from persona_sdk.rules import OperatorRegistry, compile_condition
from persona_sdk.rules._reads import Reads
from persona_sdk.testing import CaptureDestination

DAY = 86_400.0


class Counted:
    """An operator plugin counting how often conditions using it run (``$counted: x``
    passes when the value equals x)."""

    name = "$counted"

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def compile(self, operand: Any, path: str) -> Callable[[Any], bool]:
        def test(value: Any) -> bool:
            with self._lock:
                self.calls += 1
            return bool(value == operand)

        return test


def doc(segments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "tags": [{"name": "all", "destination": "capture"}],
        "computed_traits": {
            "views": {"kind": "count", "event": "Product Viewed"},
            "orders": {"kind": "count", "event": "Order Completed"},
            "last_seen": {"kind": "last_seen"},
        },
        "segments": segments,
        **extra,
    }


@pytest.fixture
def capture() -> CaptureDestination:
    return CaptureDestination()


@pytest.fixture
def make(
    capture: CaptureDestination, clock: FakeClock
) -> Iterator[Callable[..., Persona]]:
    made: list[Persona] = []

    def build(container: dict[str, Any], **kwargs: Any) -> Persona:
        p = Persona(container, destinations={"capture": capture}, clock=clock, **kwargs)
        made.append(p)
        return p

    yield build
    for p in made:
        p.close()


def segment_events(capture: CaptureDestination, n: int) -> list[tuple[str, str, str | None]]:
    assert capture.wait_for(n, timeout=5), capture.events
    return [
        (e["event"], e["properties"]["segment_id"], e.get("anonymousId"))
        for e in capture.events
        if e.get("event") in ("Segment Entered", "Segment Exited")
    ]


def only_segment_events(capture: CaptureDestination) -> list[tuple[str, str]]:
    return [
        (e["event"], e["properties"]["segment_id"])
        for e in capture.events
        if e.get("event") in ("Segment Entered", "Segment Exited")
    ]


def test_an_event_crossing_a_threshold_emits_segment_entered_at_once(
    make: Callable[..., Persona], capture: CaptureDestination
) -> None:
    """The third Product Viewed puts the visitor in ``browsers`` and Segment Entered goes
    through the tag layer without anyone reading ``visitor.segments``."""
    p = make(doc({"browsers": {"condition": {"views": {"$gte": 3}}}}))
    for _ in range(2):
        p.track("Product Viewed", anonymous_id="a-1")
    assert p.flush(5)
    assert only_segment_events(capture) == []
    p.track("Product Viewed", anonymous_id="a-1")
    assert p.flush(5)
    assert only_segment_events(capture) == [("Segment Entered", "browsers")]
    assert p.segment_members("browsers") == ["a-1"]


def test_a_first_seen_visitor_who_already_qualifies_gets_segment_entered(
    make: Callable[..., Persona], capture: CaptureDestination
) -> None:
    """A visitor whose first event already meets a condition is entered at once (the
    membership before the first sighting is empty), consent carried on the event."""
    p = make(doc({"everyone": {"condition": {}}, "browsers": {"condition": {"views": 1}}}))
    p.track("Product Viewed", anonymous_id="a-9", consent={"analytics": True})
    assert p.flush(5)
    events = [e for e in capture.events if e["event"] == "Segment Entered"]
    assert sorted(e["properties"]["segment_id"] for e in events) == ["browsers", "everyone"]
    assert all(e["anonymousId"] == "a-9" for e in events)
    assert all(
        e["context"]["consent"]["categoryPreferences"] == {"analytics": True} for e in events
    )


def test_ingested_and_identify_events_update_membership(
    make: Callable[..., Persona], capture: CaptureDestination
) -> None:
    """``ingest`` (the collector's path) feeds segments like ``track``; an identify trait
    change moves the visitor out of one segment and into another."""
    p = make(
        doc(
            {
                "buyers": {"condition": {"orders": {"$gte": 1}}},
                "pros": {"condition": {"plan": "pro"}},
                "free": {"condition": {"plan": "free"}},
            }
        )
    )
    p.ingest({"type": "track", "event": "Order Completed", "anonymousId": "a-2"})
    p.identify("u-2", anonymous_id="a-2", traits={"plan": "free"})
    p.identify("u-2", traits={"plan": "pro"})
    assert p.flush(5)
    assert only_segment_events(capture) == [
        ("Segment Entered", "buyers"),
        ("Segment Entered", "free"),
        ("Segment Exited", "free"),
        ("Segment Entered", "pros"),
    ]
    visitor = p.visitor(user_id="u-2")
    assert visitor.segments == {"buyers", "pros"}


def test_an_event_runs_only_the_segments_reading_what_it_changed(
    make: Callable[..., Persona],
) -> None:
    """With 200 segments on ``plan`` and one on ``views``, a Product Viewed evaluates the
    ``views`` segment only; a repeated read with the same attributes evaluates nothing."""
    counted = Counted()
    ops = OperatorRegistry()
    ops.register(counted)
    segments: dict[str, Any] = {
        f"plan-{i}": {"condition": {"plan": {"$counted": f"p{i}"}}} for i in range(200)
    }
    segments["viewer"] = {"condition": {"views": {"$counted": 2}}}
    p = make(doc(segments), operators=ops)
    p.track("Product Viewed", anonymous_id="a-3")  # first sighting: every segment runs
    assert counted.calls == 201
    counted.calls = 0
    p.track("Product Viewed", anonymous_id="a-3")
    assert counted.calls == 1
    assert p.visitor(anonymous_id="a-3").segments == {"viewer"}
    assert p.visitor(anonymous_id="a-3").segments == {"viewer"}
    assert counted.calls == 1  # membership reads are lookups


def test_request_attributes_are_remembered_and_diffed() -> None:
    """A read with a different request attribute re-runs only the segments reading it."""
    counted = Counted()
    ops = OperatorRegistry()
    ops.register(counted)
    container = doc(
        {
            "fr": {"condition": {"country": {"$counted": "FR"}}},
            "mobile": {"condition": {"device": {"$counted": "mobile"}}},
        }
    )
    with Persona(container, destinations={"capture": CaptureDestination()}, operators=ops) as p:
        assert p.visitor(anonymous_id="a", attributes={"country": "FR"}).segments == {"fr"}
        counted.calls = 0
        seen = p.visitor(anonymous_id="a", attributes={"country": "DE"}).segments
        assert seen == frozenset()
        assert counted.calls == 1


def test_conditions_record_their_read_paths() -> None:
    """The compiler notes the attribute paths a condition reads, through $and/$or/$not but
    not the keys inside $elemMatch (those are relative to the array's items)."""
    reads = Reads()
    compile_condition(
        {
            "plan": "pro",
            "$or": [{"traits.age": {"$gte": 18}}, {"$not": {"country": "FR"}}],
            "items": {"$elemMatch": {"sku": "x"}},
        },
        reads=reads,
    )
    assert reads.roots == {"plan", "traits", "country", "items"}
    assert [r.key for r in reads.items] == ["plan", "traits.age", "country", "items"]
    segs = Segments.build(
        Container.from_dict(
            {"segments": {"a": {"condition": {"x": 1}}, "b": {"condition": {"y.z": 1}}}}
        )
    )
    assert segs.affected(["y"]) == {1}
    assert segs.affected(["y.z", "q"]) == {1}
    assert segs.affected(["x"]) == {0}


def test_relative_time_segments_change_when_next_seen_and_on_a_sweep(
    make: Callable[..., Persona], capture: CaptureDestination, clock: FakeClock
) -> None:
    """``$olderThan`` against a computed ``last_seen``: 31 days later the visitor is lapsed,
    found by the next read and by ``sweep_segments``, each emitting Segment Entered once."""
    lapsed = {"lapsed": {"condition": {"last_seen": {"$olderThan": "30d"}}}}
    p = make(doc(lapsed, profiles={"segment_sweep_interval": 0}))
    p.track("Product Viewed", anonymous_id="seen")
    p.track("Product Viewed", anonymous_id="swept")
    clock.advance(31 * DAY)
    assert p.visitor(anonymous_id="seen").segments == {"lapsed"}
    assert p.sweep_segments() == 1  # only "swept" changed: "seen" was re-checked already
    assert p.flush(5)
    entered = [
        (e["anonymousId"], e["properties"]["segment_id"])
        for e in capture.events
        if e["event"] == "Segment Entered"
    ]
    assert entered == [("seen", "lapsed"), ("swept", "lapsed")]
    # the Segment Entered events are not the visitor's activity: last_seen did not move
    assert p.visitor(anonymous_id="swept").segments == {"lapsed"}
    p.track("Page Viewed", anonymous_id="swept")  # back: last_seen moves, out again
    assert p.flush(5)
    assert only_segment_events(capture)[-1] == ("Segment Exited", "lapsed")


def test_the_periodic_sweep_runs_on_its_own(
    make: Callable[..., Persona], capture: CaptureDestination, clock: FakeClock
) -> None:
    """With ``segment_sweep_interval`` set, the background sweep finds the time change
    without any call (waited on as a condition, not a sleep)."""
    lapsed = {"lapsed": {"condition": {"last_seen": {"$olderThan": "1d"}}}}
    p = make(doc(lapsed, profiles={"segment_sweep_interval": 0.02}))
    p.track("Product Viewed", anonymous_id="a-5")
    clock.advance(2 * DAY)
    assert capture.wait_for(2, timeout=5)
    assert ("Segment Entered", "lapsed") in only_segment_events(capture)


def test_within_last_and_anniversary_of_read_iso_and_epoch_timestamps(clock: FakeClock) -> None:
    """``$withinLast`` and ``$anniversaryOf`` read epoch seconds, milliseconds and ISO
    strings declared in ``profiles.time_traits``; anything else fails the test."""
    container = Container.from_dict(
        {
            "profiles": {"time_traits": ["signed_up", "last_order"]},
            "segments": {
                "recent": {"condition": {"last_order": {"$withinLast": "7d"}}},
                "birthday": {"condition": {"signed_up": {"$anniversaryOf": True}}},
                "soon": {"condition": {"signed_up": {"$anniversaryOf": "3d"}}},
            },
        }
    )
    segs = Segments.build(container, clock=clock)
    now = START  # 2023-11-14T22:13:20Z
    assert segs.evaluate({"last_order": now - 6 * DAY}) == {"recent"}
    assert segs.evaluate({"last_order": (now - 8 * DAY) * 1000}) == frozenset()
    assert segs.evaluate({"last_order": "not a date"}) == frozenset()
    assert segs.evaluate({"signed_up": "2020-11-14T08:00:00Z"}) == {"birthday", "soon"}
    assert segs.evaluate({"signed_up": "2020-11-16"}) == {"soon"}
    assert segs.evaluate({"signed_up": "2023-11-14"}) == frozenset()  # not a later year
    clock.advance(30 * DAY)
    assert segs.evaluate({"last_order": now - 6 * DAY}) == frozenset()


def test_unknown_trait_in_a_relative_time_operator_is_a_config_error() -> None:
    """A relative-time test of an attribute that is neither a timestamp computed trait nor
    listed in ``profiles.time_traits`` is refused with its path; bad durations too."""
    bad = {
        "computed_traits": {"views": {"kind": "count"}},
        "segments": {
            "a": {"condition": {"$or": [{"last_sen": {"$olderThan": "30d"}}]}},
            "b": {"condition": {"views": {"$withinLast": "1d"}}},
            "c": {"condition": {"x": {"$olderThan": "soon"}}},
        },
    }
    with pytest.raises(ConfigError) as err:
        Persona(bad)
    text = "\n".join(err.value.errors)
    assert "segments.a.condition.$or[0].last_sen: unknown trait 'last_sen'" in text
    assert "segments.b.condition.views: unknown trait 'views'" in text
    assert "segments.c.condition.x: expected a duration" in text


def test_a_failing_condition_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A condition raising on a visitor counts as not a member, is counted, logged once."""

    def boom(attributes: Any) -> bool:
        raise TypeError("odd")

    segs = Segments((("odd", boom), ("all", lambda a: True)))
    with caplog.at_level(logging.WARNING, logger="persona_sdk.profiles"):
        for _ in range(3):
            assert segs.evaluate({}) == {"all"}
    assert segs.failures == 3
    assert len([r for r in caplog.records if "'odd'" in r.getMessage()]) == 1


def test_failures_show_in_persona_stats(make: Callable[..., Persona]) -> None:
    """A condition failing on a visitor's values is counted in ``stats()``, never raised."""
    counted = Counted()
    counted.compile = lambda operand, path: (lambda v: 1 / 0)  # type: ignore[method-assign]
    ops = OperatorRegistry()
    ops.register(counted)
    p = make(doc({"odd": {"condition": {"views": {"$counted": 1}}}}), operators=ops)
    p.track("Product Viewed", anonymous_id="f")
    p.track("Product Viewed", anonymous_id="f")
    assert p.visitor(anonymous_id="f").segments == frozenset()
    assert p.stats()["profiles"]["segment_failures"] == 2


def test_membership_memory_is_bounded(make: Callable[..., Persona]) -> None:
    """Membership is an LRU of ``segment_memory`` visitors."""
    p = make(doc({"v": {"condition": {"views": 1}}}, profiles={"segment_memory": 3}))
    for i in range(10):
        p.track("Product Viewed", anonymous_id=f"m-{i}")
    assert p.stats()["profiles"]["segment_memory"] == 3
    assert p.segment_members("v") == ["m-7", "m-8", "m-9"]


def test_a_reload_re_evaluates_kept_memberships_without_re_entering(
    make: Callable[..., Persona], capture: CaptureDestination
) -> None:
    """After ``reload`` a visitor's next event evaluates the new segments in full: a kept
    segment is not entered again, a removed one is exited, a new one is entered."""
    p = make(doc({"v1": {"condition": {"views": {"$gte": 1}}},
                  "gone": {"condition": {"views": {"$gte": 1}}}}))  # fmt: skip
    p.track("Product Viewed", anonymous_id="r")
    p.reload(doc({"v1": {"condition": {"views": {"$gte": 1}}},
                  "new": {"condition": {"orders": {"$exists": False}}}}))  # fmt: skip
    p.track("Page Viewed", anonymous_id="r")
    assert p.flush(5)
    assert only_segment_events(capture) == [
        ("Segment Entered", "gone"),
        ("Segment Entered", "v1"),
        ("Segment Exited", "gone"),
        ("Segment Entered", "new"),
    ]


def test_segment_events_off_keeps_no_membership(make: Callable[..., Persona]) -> None:
    """``segment_events = false``: no events and no membership memory."""
    p = make(doc({"v": {"condition": {"views": 1}}}, profiles={"segment_events": False}))
    p.track("Product Viewed", anonymous_id="x")
    assert p.visitor(anonymous_id="x").segments == {"v"}
    assert p.stats()["profiles"]["segment_memory"] == 0


def test_a_sweep_walks_the_visitors_another_instance_put_in_the_shared_store(
    clock: FakeClock,
) -> None:
    """Two instances share one in-memory store: ``b``'s first sweep learns a visitor seen
    only by ``a`` without announcing them (``a`` did); 31 days later they lapse and ``b``'s
    sweep emits Segment Entered and lists them and, once ``a`` sees them again, Segment
    Exited; ``b`` emits each transition once."""
    from persona_sdk.profiles import InMemoryProfileStore

    store = InMemoryProfileStore()
    lapsed = {"lapsed": {"condition": {"last_seen": {"$olderThan": "30d"}}}}
    container = doc(lapsed, profiles={"segment_sweep_interval": 0, "sweep_store": True})
    seen_a, seen_b = CaptureDestination(), CaptureDestination()
    a = Persona(container, destinations={"capture": seen_a}, clock=clock, profile_store=store)
    b = Persona(container, destinations={"capture": seen_b}, clock=clock, profile_store=store)
    try:
        a.track("Product Viewed", anonymous_id="only-a")
        assert a.flush(5)
        assert b.segment_members("lapsed") == []
        assert b.sweep_segments() == 0  # learnt, not announced: a announced them
        clock.advance(31 * DAY)
        assert b.sweep_segments() == 1
        assert b.sweep_segments() == 0  # nothing changed since: nothing emitted again
        assert b.segment_members("lapsed") == ["only-a"]
        assert b.stats()["profiles"]["store_swept"] == 3  # one visitor, three sweeps
        a.track("Page Viewed", anonymous_id="only-a")  # back: last_seen moves on a
        assert a.flush(5)
        assert b.sweep_segments() == 1
        assert b.flush(5)
        assert [
            (e["event"], e["properties"]["segment_id"], e["anonymousId"])
            for e in seen_b.events
        ] == [("Segment Entered", "lapsed", "only-a"), ("Segment Exited", "lapsed", "only-a")]
        assert b.segment_members("lapsed") == []
    finally:
        a.close()
        b.close()


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait on a condition (the periodic sweep's own thread makes it true)."""
    done = threading.Event()
    deadline = 0.0
    while deadline < timeout:
        if pred():
            return True
        done.wait(0.01)
        deadline += 0.01
    return pred()


def test_the_periodic_sweep_walks_a_shared_store_on_its_own(clock: FakeClock) -> None:
    """An instance that sees no visitor at all still sweeps the shared store periodically
    (on a worker of its I/O loop) and emits the visitor's Segment Entered when they lapse;
    without ``sweep_store`` it does not walk the store."""
    from persona_sdk.profiles import InMemoryProfileStore

    store = InMemoryProfileStore()
    lapsed = {"lapsed": {"condition": {"last_seen": {"$olderThan": "1d"}}}}
    seen_b = CaptureDestination()
    a = Persona(doc(lapsed, profiles={"segment_sweep_interval": 0}),
                destinations={"capture": CaptureDestination()}, clock=clock, profile_store=store)
    a.track("Product Viewed", anonymous_id="only-a")
    assert a.flush(5)
    off = Persona(doc(lapsed, profiles={"segment_sweep_interval": 0.02}),
                  destinations={"capture": CaptureDestination()}, clock=clock,
                  profile_store=store)
    off.sweep_segments()
    assert off.stats()["profiles"]["store_swept"] == 0
    off.close()
    b = Persona(doc(lapsed, profiles={"segment_sweep_interval": 0.02, "sweep_store": True}),
                destinations={"capture": seen_b}, clock=clock, profile_store=store)
    try:
        assert wait_until(lambda: b.stats()["profiles"]["store_swept"] >= 1)
        assert seen_b.events == []  # learnt, not announced
        clock.advance(2 * DAY)
        assert seen_b.wait_for(1, timeout=5)
        assert only_segment_events(seen_b) == [("Segment Entered", "lapsed")]
        assert b.segment_members("lapsed") == ["only-a"]
    finally:
        a.close()
        b.close()
