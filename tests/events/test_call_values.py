"""What ``track()`` and the other calls accept (issue 11, item 3): ``timestamp`` as epoch
seconds, a ``datetime`` (naive is UTC) or an ISO 8601 string, anything else refused at the
call; NaN and ±Infinity anywhere in properties, traits or context refused at the call."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from persona_sdk import EventValidationError, Persona
from persona_sdk.testing import CaptureDestination

WHEN = datetime(2026, 12, 4, 10, 0, 0, 123000, tzinfo=timezone.utc)


@pytest.fixture
def persona():
    capture = CaptureDestination()
    p = Persona({"tags": [{"name": "all", "destination": "c"}]}, destinations={"c": capture})
    p.capture = capture  # type: ignore[attr-defined]
    yield p
    p.close()


def _sent(persona: Persona) -> list[dict[str, Any]]:
    assert persona.flush(10.0)
    return persona.capture.events  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    "given",
    [WHEN, WHEN.replace(tzinfo=None), WHEN.astimezone(timezone(timedelta(hours=2))),
     "2026-12-04T10:00:00.123Z", "2026-12-04T12:00:00.123+02:00", "2026-12-04T10:00:00.123",
     WHEN.timestamp(), int(WHEN.timestamp()) ],
    ids=["aware", "naive-is-utc", "offset", "iso-z", "iso-offset", "iso-naive", "float", "int"],
)
def test_track_accepts_segment_timestamps(persona, given) -> None:
    """Datetimes (naive read as UTC), ISO 8601 strings and epoch seconds are delivered with
    that time, not refused later as render errors."""
    persona.track("E", anonymous_id="a", timestamp=given)
    (event,) = _sent(persona)
    expected = "2026-12-04T10:00:00.000Z" if isinstance(given, int) else (
        "2026-12-04T10:00:00.123Z")
    assert event["timestamp"] == expected
    stats = persona.stats()["destinations"]["c"]
    assert stats["rejected_total"] == 0


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45T00:00:00Z", b"2026", [1], True,
                                 math.nan, math.inf])
def test_track_refuses_other_timestamps_at_the_call(persona, bad) -> None:
    """Anything else raises ``EventValidationError`` on ``timestamp``; no id, nothing sent."""
    with pytest.raises(EventValidationError) as info:
        persona.track("E", anonymous_id="a", timestamp=bad)
    assert info.value.field == "timestamp"
    assert _sent(persona) == []


def test_other_calls_take_the_same_timestamps(persona) -> None:
    """identify and page take datetimes and ISO strings too, and refuse the rest."""
    persona.identify("u", traits={"plan": "pro"}, timestamp=WHEN)
    persona.page("Home", anonymous_id="a", timestamp="2026-12-04T10:00:00.123Z")
    assert [e["timestamp"] for e in _sent(persona)] == ["2026-12-04T10:00:00.123Z"] * 2
    with pytest.raises(EventValidationError):
        persona.identify("u", timestamp=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"properties": {"revenue": math.nan}}, "properties.revenue"),
    ({"properties": {"cart": [{"price": 1.0}, {"price": -math.inf}]}}, "properties.cart[1].price"),
    ({"properties": {"a": {"b": (1.0, math.inf)}}}, "properties.a.b[1]"),
    ({"context": {"page": {"scroll": math.inf}}}, "context.page.scroll"),
])
def test_track_refuses_nan_and_infinity(persona, kwargs, field) -> None:
    """NaN and ±Infinity anywhere in properties or context raise at the call, naming the
    path; finite floats (including huge ones) pass."""
    with pytest.raises(EventValidationError) as info:
        persona.track("E", anonymous_id="a", **kwargs)
    assert info.value.field == field
    persona.track("E", anonymous_id="a", properties={"big": 1e308, "neg": -0.0, "n": [2.5]})
    assert len(_sent(persona)) == 1


def test_identify_and_ingest_refuse_nan(persona) -> None:
    """Traits and ingested Python dicts are checked the same way."""
    with pytest.raises(EventValidationError) as info:
        persona.identify("u", traits={"score": math.nan})
    assert info.value.field == "traits.score"
    (result,) = persona.ingest({"type": "track", "event": "E", "userId": "u",
                                "properties": {"x": math.inf}})
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("properties.x")


@pytest.mark.parametrize(
    "bad",
    [1e12, -1e12, 10**400, "9999-12-31T23:59:59.9999Z",
     datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))],
    ids=["far-future", "far-past", "huge-int", "last-ms-of-9999", "offset-past-9999"],
)
def test_track_refuses_times_outside_years_1_to_9999(persona, bad) -> None:
    """A time no ISO 8601 string with a four-digit year can carry raises at the call,
    naming ``timestamp`` (before: an id, then a render error on the delivery thread)."""
    with pytest.raises(EventValidationError) as info:
        persona.track("E", anonymous_id="a", timestamp=bad)
    assert info.value.field == "timestamp"
    assert "years 1 to 9999" in str(info.value)
    assert len(str(info.value)) < 200  # a huge number is cut, not printed whole
    assert _sent(persona) == []


def test_years_below_1000_go_out_with_four_digits(persona) -> None:
    """Year 999 renders as ``0999-...`` (strftime's ``%Y`` does not pad it on glibc: the
    event went out with a time that is not ISO 8601); the first and last renderable times
    go out as they are."""
    persona.track("E", anonymous_id="a", timestamp=datetime(999, 6, 1, tzinfo=timezone.utc))
    persona.track("E", anonymous_id="a", timestamp="0001-01-01T00:00:00Z")
    persona.track("E", anonymous_id="a", timestamp="9999-12-31T23:59:59.5Z")
    assert [e["timestamp"] for e in _sent(persona)] == [
        "0999-06-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.500Z",
    ]


def test_ingest_refuses_an_offset_that_carries_past_year_9999(persona) -> None:
    """At the collector's door: a message whose time (or sentAt) lands outside years 1 to
    9999 once its offset is applied is refused with its path; its neighbours go through and
    nothing is refused later as a render error."""
    results = persona.ingest({"batch": [
        {"type": "track", "event": "A", "anonymousId": "a",
         "timestamp": "9999-12-31T23:00:00-05:00"},
        {"type": "track", "event": "B", "anonymousId": "a",
         "timestamp": "2026-12-04T10:00:00Z", "sentAt": "0001-01-01T00:00:00+01:00"},
        {"type": "track", "event": "C", "anonymousId": "a",
         "originalTimestamp": "9999-12-31T23:30:00-01:00"},
        {"type": "track", "event": "D", "anonymousId": "a",
         "timestamp": "0999-06-01T00:00:00Z"},
    ]})
    assert [r.ok for r in results] == [False, False, False, True]
    assert results[0].error is not None
    assert results[0].error.startswith("batch[0].timestamp: ")
    assert results[1].error is not None
    assert results[1].error.startswith("batch[1].sentAt: ")
    assert results[2].error is not None
    assert results[2].error.startswith("batch[2].originalTimestamp: ")
    (event,) = _sent(persona)
    assert event["event"] == "D"
    assert event["timestamp"] == "0999-06-01T00:00:00.000Z"
    assert persona.stats()["destinations"]["c"]["rejected_total"] == 0
