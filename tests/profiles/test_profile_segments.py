"""Segments: named conditions over traits, computed traits and request attributes; lifecycle
events when a known visitor's membership changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from profile_helpers import START, Driver

from persona_sdk import ConfigError
from persona_sdk.config import Container
from persona_sdk.events import Message, consent_of, new_message_id, to_segment
from persona_sdk.profiles import FileSource, ProfileResolver, Segments

Make = Callable[..., ProfileResolver]

DOC: dict[str, Any] = {
    "segments": {
        "engaged-pros": {
            "condition": {"plan": "pro", "views": {"$gte": 2}},
            "description": "Pro plan, browsing a lot",
        },
        "french": {"condition": {"country": {"$in": ["FR", "BE"]}}},
        "beta": {"condition": {"id": {"$inGroup": "testers"}}},
    },
    "saved_groups": {"testers": ["u-1"]},
    "computed_traits": {"views": {"kind": "count", "event": "Product Viewed"}},
}


def test_evaluate_over_traits_computed_and_attributes(make_resolver: Make, driver: Driver) -> None:
    """Segment conditions see remote traits, computed traits and request attributes."""
    segments = Segments.build(Container.from_dict(DOC))
    r = make_resolver(DOC, source=FileSource.from_records({"u-1": {"plan": "pro"}}))

    def members() -> frozenset[str]:
        profile = driver.resolve(r, user_id="u-1")
        return segments.evaluate({**profile.targeting_traits, "country": "FR", "id": "u-1"})

    assert members() == {"french", "beta"}
    for _ in range(2):
        r.observe(
            Message(
                type="track",
                message_id=new_message_id(),
                user_id="u-1",
                event="Product Viewed",
                timestamp=START,
            )
        )
    assert members() == {"french", "beta", "engaged-pros"}
    assert segments.names == ("engaged-pros", "french", "beta")
    assert segments.descriptions["engaged-pros"] == "Pro plan, browsing a lot"


def test_bad_conditions_are_listed_with_paths() -> None:
    """Every bad segment condition is reported, each with its path."""
    doc = {
        "segments": {
            "a": {"condition": {"x": {"$nope": 1}}},
            "b": {"condition": {"y": {"$regex": "("}}},
            "ok": {"condition": {"z": 1}},
        }
    }
    with pytest.raises(ConfigError) as err:
        Segments.build(Container.from_dict(doc))
    paths = [line.split(":")[0] for line in err.value.errors]
    assert paths == ["segments.a.condition.x", "segments.b.condition.y"]


def test_a_raising_condition_is_not_a_member() -> None:
    """A condition that raises on odd input counts as not matching."""

    def boom(attributes: Any) -> bool:
        raise TypeError("odd")

    segments = Segments((("odd", boom), ("all", lambda a: True)))
    assert segments.evaluate({}) == {"all"}
    assert Segments(()).evaluate({"x": 1}) == frozenset()


def test_entered_and_exited_events(make_resolver: Make) -> None:
    """A known visitor's membership change emits Segment Entered / Segment Exited track
    events with the segment's id and name, the visitor's ids and consent."""
    sent: list[Message] = []
    r = make_resolver(DOC, emit=sent.append)
    consent = {"analytics": True}
    r.note_segments(anonymous_id="a-1", consent=consent, members=frozenset({"french"}))
    assert sent == []  # first sighting: nothing to compare with
    r.note_segments(anonymous_id="a-1", consent=consent, members=frozenset({"french"}))
    assert sent == []
    r.note_segments(anonymous_id="a-1", consent=consent, members=frozenset({"beta"}))
    assert [(m.event, m.properties) for m in sent] == [
        ("Segment Exited", {"segment_id": "french", "segment_name": "french"}),
        ("Segment Entered", {"segment_id": "beta", "segment_name": "beta"}),
    ]
    assert all(m.type == "track" and m.anonymous_id == "a-1" for m in sent)
    assert consent_of(sent[0]) == consent
    assert to_segment(sent[1])["event"] == "Segment Entered"
    assert r.stats()["segment_events"] == 2


def test_membership_follows_identity(make_resolver: Make) -> None:
    """After identify, the anonymous visitor's memberships belong to the user: logging in
    does not re-announce segments the visitor was already in."""
    sent: list[Message] = []
    r = make_resolver(DOC, emit=sent.append)
    r.note_segments(anonymous_id="a-1", members=frozenset({"french"}))
    r.observe(
        Message(
            type="identify",
            message_id=new_message_id(),
            anonymous_id="a-1",
            user_id="u-1",
            timestamp=START,
        )
    )
    r.note_segments(anonymous_id="a-1", user_id="u-1", members=frozenset({"french"}))
    assert sent == []


def test_segment_memory_is_bounded_and_emit_failures_are_contained(make_resolver: Make) -> None:
    """The membership memory is an LRU of ``segment_memory`` visitors; a failing ``emit``
    never breaks the caller."""

    def broken(msg: Message) -> None:
        raise RuntimeError("tag layer closed")

    r = make_resolver({**DOC, "profiles": {"segment_memory": 2}}, emit=broken)
    for i in range(5):
        r.note_segments(anonymous_id=f"a-{i}", members=frozenset())
    assert r.stats()["segment_memory"] == 2
    r.note_segments(anonymous_id="a-4", members=frozenset({"beta"}))
    assert r.stats()["segment_events"] == 0


def test_segment_events_can_be_turned_off(make_resolver: Make) -> None:
    """``segment_events = false`` keeps lifecycle events from being emitted."""
    sent: list[Message] = []
    r = make_resolver({**DOC, "profiles": {"segment_events": False}}, emit=sent.append)
    r.note_segments(anonymous_id="a-1", members=frozenset())
    r.note_segments(anonymous_id="a-1", members=frozenset({"beta"}))
    assert sent == []
