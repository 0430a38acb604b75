"""Segment's ``integrations`` object routes events (``track``, ``ingest`` and the collector
alike), and top-level fields of other specs (RudderStack's ``channel``) reach destinations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from collector_helpers import head

from persona_sdk import EventValidationError, Persona
from persona_sdk.config import CollectorConfig
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._collector import Collector

NAMES = ("mixpanel", "ga4", "lake")


@pytest.fixture
def world() -> Iterator[tuple[Persona, dict[str, CaptureDestination]]]:
    captures = {n: CaptureDestination(name=n) for n in NAMES}
    persona = Persona(
        {"tags": [{"name": n, "destination": n} for n in NAMES]}, destinations=captures
    )
    yield persona, captures
    persona.close()


def received(world: tuple[Persona, dict[str, CaptureDestination]]) -> dict[str, list[str]]:
    persona, captures = world
    assert persona.flush(10)
    return {n: [e["messageId"] for e in c.events] for n, c in captures.items()}


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [
        ({"All": False, "mixpanel": True}, {"mixpanel"}),
        ({"ga4": False}, {"mixpanel", "lake"}),
        ({"All": False, "lake": {"some": "options"}}, {"lake"}),  # an object turns it on
        ({"All": True, "ga4": False, "lake": False}, {"mixpanel"}),
        ({"All": False, "Mixpanel": True}, set()),  # names are case-sensitive, as Segment's
        ({}, set(NAMES)),
    ],
)
def test_track_honours_integrations(world: Any, integrations: Any, expected: set[str]) -> None:
    """``track(integrations=...)`` sends the event only to the destinations the object
    enables: its own key decides, else ``All`` (default true)."""
    persona, _ = world
    persona.track("Order Completed", anonymous_id="a-1", message_id="m-1",
                  integrations=integrations)  # fmt: skip
    got = received(world)
    assert {n for n, ids in got.items() if ids} == expected
    filtered = persona.stats()["destinations"]
    for name in NAMES:
        off = 0 if name in expected else 1
        assert filtered[name]["filtered"]["integrations"] == off


def test_every_call_takes_integrations(world: Any) -> None:
    """identify, page, screen, group and alias take ``integrations`` as track does."""
    persona, _ = world
    only = {"All": False, "lake": True}
    persona.identify("u-1", message_id="m-i", integrations=only)
    persona.page("Home", anonymous_id="a-1", message_id="m-p", integrations=only)
    persona.screen("Cart", anonymous_id="a-1", message_id="m-s", integrations=only)
    persona.group("g-1", user_id="u-1", message_id="m-g", integrations=only)
    persona.alias("u-1", previous_id="a-1", message_id="m-a", integrations=only)
    got = received(world)
    assert got["lake"] == ["m-i", "m-p", "m-s", "m-g", "m-a"]
    assert got["mixpanel"] == got["ga4"] == []


def test_a_bad_integrations_object_is_refused_at_the_call(world: Any) -> None:
    """``integrations`` must be a mapping: anything else is an ``EventValidationError``."""
    persona, _ = world
    with pytest.raises(EventValidationError, match=r"^integrations: "):
        persona.track("E", anonymous_id="a-1", integrations="mixpanel")  # type: ignore[arg-type]


def test_ingest_honours_integrations(world: Any) -> None:
    """``persona.ingest`` (bytes or a mapping) routes by the message's ``integrations``."""
    persona, _ = world
    msg = {"type": "track", "event": "E", "anonymousId": "a-1",
           "integrations": {"All": False, "ga4": True}}  # fmt: skip
    persona.ingest({**msg, "messageId": "m-1"})
    persona.ingest(msgspec.json.encode({**msg, "messageId": "m-2"}))
    assert received(world) == {"mixpanel": [], "ga4": ["m-1", "m-2"], "lake": []}


def test_collector_honours_integrations(world: Any) -> None:
    """A batch posted to the collector routes each message by its own ``integrations``
    (or the envelope's, for messages without one)."""
    persona, _ = world
    c = Collector(persona, CollectorConfig())
    batch = {
        "batch": [
            {"type": "track", "event": "E", "anonymousId": "a", "messageId": "m-1",
             "integrations": {"All": False, "mixpanel": True}},
            {"type": "track", "event": "E", "anonymousId": "a", "messageId": "m-2"},
        ],
        "integrations": {"lake": False},
    }  # fmt: skip
    r = c.handle(head("POST", "/v1/batch"), msgspec.json.encode(batch))
    assert r.status == 200, r.body
    assert received(world) == {"mixpanel": ["m-1", "m-2"], "ga4": ["m-2"], "lake": []}


RUDDER = {
    "type": "track",
    "event": "Order Completed",
    "anonymousId": "a-1",
    "channel": "web",
    "rudderId": "r-1",
    "_metadata": {"nodeVersion": "18"},
    "writeKey": "wk_secret",
    "receivedAt": "2001-01-01T00:00:00.000Z",
}


@pytest.mark.parametrize("how", ["mapping", "bytes", "collector"])
def test_unknown_top_level_fields_are_kept(world: Any, how: str) -> None:
    """RudderStack's ``channel`` and other top-level fields the spec model does not know
    reach destinations unchanged; ``writeKey`` (a secret) and a client's ``receivedAt`` (the
    receiver stamps it) do not."""
    persona, captures = world
    if how == "mapping":
        persona.ingest(dict(RUDDER))
    elif how == "bytes":
        persona.ingest(msgspec.json.encode(RUDDER))
    else:
        r = Collector(persona, CollectorConfig()).handle(
            head("POST", "/v1/batch"), msgspec.json.encode({"batch": [RUDDER]})
        )
        assert r.status == 200, r.body
    assert persona.flush(10)
    for capture in captures.values():
        (event,) = capture.events
        assert event["channel"] == "web"
        assert event["rudderId"] == "r-1"
        assert event["_metadata"] == {"nodeVersion": "18"}
        assert "writeKey" not in event
        assert event["receivedAt"] != "2001-01-01T00:00:00.000Z"


def test_unknown_top_level_fields_count_toward_the_size_limit(world: Any) -> None:
    """Kept fields are bounded: a message made large by an unknown field is refused as too
    large, like any other."""
    persona, _ = world
    (result,) = persona.ingest({**RUDDER, "channel": "x" * 40_000})
    assert not result.ok
    assert result.error is not None
    assert "limit" in result.error
