"""Segment-spec events: validation names the field; ingest keeps good messages."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_sdk import EventValidationError, PayloadTooLarge
from persona_sdk.events import (
    MAX_EVENT_BYTES,
    Message,
    UnencodableEvent,
    check_message,
    decode_messages,
    new_message_id,
    to_segment,
    to_segment_json,
)
from persona_sdk.events._ingest import decode_one
from persona_sdk.events._model import MESSAGE_IDS, _reseed_ids, id_chain


def test_message_ids_are_unique_uuid_shaped() -> None:
    """Message ids are UUID-formatted and do not repeat."""
    ids = {new_message_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    for mid in list(ids)[:100]:
        parts = mid.split("-")
        assert [len(p) for p in parts] == [8, 4, 4, 4, 12]


def test_the_id_chain_is_the_counter_formula() -> None:
    """``id_chain`` (one C call per id) gives what ``prefix + hex(n)[3:]`` gives, across
    block boundaries (every 256 ids) and from any block's start."""
    for start in ((1 << 48), (1 << 48) | (12345 << 8), (1 << 49) - (4 << 8)):
        take = id_chain("p-", start)
        assert [take() for _ in range(1000)] == [
            "p-" + hex(n)[3:] for n in range(start, start + 1000)
        ]


def test_message_ids_stay_unique_across_threads_and_a_redraw() -> None:
    """Threads taking ids at once never get the same one, nor does the process after its
    ids are redrawn (what a forked child does first)."""
    taken: list[list[str]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def take(out: list[str]) -> None:
        barrier.wait()
        nxt = MESSAGE_IDS.next
        out.extend(nxt() for _ in range(20_000))

    threads = [threading.Thread(target=take, args=(out,)) for out in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    before = [i for out in taken for i in out]
    _reseed_ids()
    after = [new_message_id() for _ in range(1000)]
    assert len(set(before + after)) == len(before) + len(after) == 81_000
    assert after[0].rsplit("-", 1)[0] != before[0].rsplit("-", 1)[0]  # a new prefix
    for mid in after[:300]:
        assert uuid.UUID(mid).version == 4


def test_to_segment_renders_the_wire_shape() -> None:
    """The wire dict uses Segment's camelCase keys and ISO-8601 UTC timestamps."""
    msg = Message(
        type="track", message_id="m1", anonymous_id="a1", event="Order Completed",
        properties={"revenue": 42.0}, context={"ip": "1.2.3.4"}, timestamp=1700000000.25,
        received_at=1700000001.0,
    )
    wire = to_segment(msg)
    assert wire == {
        "type": "track", "messageId": "m1", "anonymousId": "a1", "event": "Order Completed",
        "properties": {"revenue": 42.0}, "context": {"ip": "1.2.3.4"},
        "timestamp": "2023-11-14T22:13:20.250Z", "receivedAt": "2023-11-14T22:13:21.000Z",
    }


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"type": "track", "event": "X"}, "anonymousId"),
        ({"type": "track", "anonymous_id": "a"}, "event"),
        ({"type": "track", "anonymous_id": "a", "event": ""}, "event"),
        ({"type": "group", "anonymous_id": "a"}, "groupId"),
        ({"type": "alias", "user_id": "u"}, "previousId"),
        ({"type": "alias", "anonymous_id": "a", "previous_id": "p"}, "userId"),
        ({"type": "purchase", "anonymous_id": "a"}, "type"),
    ],
)
def test_check_message_names_the_bad_field(fields: dict[str, str], bad: str) -> None:
    """Each spec violation raises EventValidationError whose `field` is the offending key."""
    with pytest.raises(EventValidationError) as info:
        check_message(Message(message_id="m", **fields))
    assert info.value.field == bad


def test_ingest_batch_keeps_good_messages_and_reports_bad_ones() -> None:
    """A bad message in a batch is reported by path; its neighbours are accepted."""
    body = json.dumps(
        {
            "batch": [
                {"type": "track", "event": "A", "anonymousId": "x", "messageId": "keep-me",
                 "timestamp": "2024-05-01T10:00:00Z"},
                {"type": "track", "event": 5, "anonymousId": "x"},
                {"type": "identify", "userId": 42, "traits": {"plan": "pro"}},
                "not an object",
            ]
        }
    ).encode()
    messages, results = decode_messages(body, received_at=1.0)
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[0].message_id == "keep-me"
    assert results[1].error is not None
    assert results[1].error.startswith("batch[1].event: ")
    assert results[3].error is not None
    assert results[3].error.startswith("batch[3]")
    first = messages[0]
    assert first is not None
    assert first.timestamp == datetime.fromisoformat("2024-05-01T10:00:00+00:00").timestamp()
    assert first.received_at == 1.0
    assert messages[2] is not None
    assert messages[2].user_id == "42"


def test_ingest_enforces_the_per_event_cap() -> None:
    """An event over 32 KB is rejected by itself; the batch still goes through."""
    big = {"type": "track", "event": "Big", "anonymousId": "a",
           "properties": {"blob": "x" * MAX_EVENT_BYTES}}
    small = {"type": "track", "event": "Small", "anonymousId": "a"}
    _, results = decode_messages({"batch": [big, small]})
    assert not results[0].ok
    assert "32768-byte limit" in (results[0].error or "")
    assert results[1].ok
    encoded = msgspec.json.encode(big)
    with pytest.raises(PayloadTooLarge):
        decode_one(encoded, 0.0, "")


def test_unreadable_payloads_raise() -> None:
    """Non-JSON bodies and non-list batches are errors of the payload as a whole."""
    with pytest.raises(EventValidationError, match="invalid JSON"):
        decode_messages(b"{nope")
    with pytest.raises(EventValidationError):
        decode_messages({"batch": "nope"})
    with pytest.raises(EventValidationError):
        decode_messages(b"[1,2]")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "event", "anonymousId", "userId", "properties", "context", "timestamp",
             "messageId", "traits", "groupId", "previousId"]
        ),
        _json | st.sampled_from(["track", "identify", "alias", "group", "page"]),
    )
)
def test_ingest_never_raises_per_message(doc: dict[str, object]) -> None:
    """Property: any JSON object in a batch yields exactly one result and never an exception;
    accepted messages satisfy the spec."""
    messages, results = decode_messages({"batch": [doc]})
    assert len(results) == 1
    assert len(messages) == 1
    if results[0].ok:
        msg = messages[0]
        assert msg is not None
        check_message(msg)
        assert msg.anonymous_id or msg.user_id
    else:
        assert messages[0] is None
        assert results[0].error


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_format_ts_matches_datetime(ts: float) -> None:
    """Property: the per-second cached formatter renders exactly what datetime renders."""
    from datetime import datetime, timezone

    from persona_sdk.events import format_ts

    expected = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")
    assert format_ts(ts) == expected[:-6] + "Z"


def _wire_timestamp(ts: float) -> str:
    msg = Message(type="track", message_id="m", anonymous_id="a", event="E", timestamp=ts)
    return str(json.loads(to_segment_json(msg))["timestamp"])


def _datetime_timestamp(ts: float) -> str:
    from datetime import timezone

    text = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text[:-6] + "Z"


@settings(max_examples=300, deadline=None)
@given(st.floats(0.001, 4.5e9, allow_nan=False),
       st.lists(st.integers(-8000, 8000), min_size=1, max_size=40))
def test_to_segment_json_timestamps_of_a_burst_match_datetime(base: float,
                                                               offsets: list[int]) -> None:
    """Property: events close together in time (a burst, where the last millisecond
    rendered is reused) each carry the timestamp datetime renders for their own time, on
    either side of a millisecond's edge and of a second's."""
    for quarter_us in offsets:
        ts = base + quarter_us * 0.25e-6
        if ts > 0:
            assert _wire_timestamp(ts) == _datetime_timestamp(ts)


def test_to_segment_json_timestamps_across_millisecond_edges() -> None:
    """Times swept through several millisecond edges in 0.1 µs steps, up and down: each
    renders as datetime renders it (a reused millisecond never leaks past its edge)."""
    for edge in (1_700_000_000.123, 1_799_999_999.999, 1_800_000_000.0, 0.5, 4_294_967_295.5):
        steps = [edge + k * 1e-7 for k in range(-40, 41)]
        for ts in steps + steps[::-1]:
            assert _wire_timestamp(ts) == _datetime_timestamp(ts), ts


def test_message_ids_are_version_4_uuids() -> None:
    """Message ids parse as RFC 4122 version-4 UUIDs."""
    import uuid

    for _ in range(1000):
        parsed = uuid.UUID(new_message_id())
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
)
_OPT_STR = st.none() | st.text(max_size=8)
_OPT_DICT = st.none() | st.dictionaries(st.text(max_size=5), _JSON, max_size=3)
_OPT_TS = st.none() | st.floats(0, 4e9, allow_nan=False)


_MESSAGES = st.fixed_dictionaries({
    "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
    "message_id": st.just("m-1"),
    "anonymous_id": _OPT_STR, "user_id": _OPT_STR, "event": _OPT_STR, "name": _OPT_STR,
    "category": _OPT_STR, "group_id": _OPT_STR, "previous_id": _OPT_STR,
    "properties": _OPT_DICT, "traits": _OPT_DICT, "context": _OPT_DICT,
    "integrations": _OPT_DICT, "timestamp": st.floats(0.001, 4e9, allow_nan=False),
    "sent_at": _OPT_TS, "received_at": _OPT_TS,
}).map(lambda fields: Message(**fields))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_MESSAGES)
def test_to_segment_json_is_the_encoded_wire_dict(msg: Message) -> None:
    """The JSON encoded straight from a message is byte for byte the encoding of
    ``to_segment``'s dict: same keys, same order, same timestamps."""
    assert to_segment_json(msg) == msgspec.json.encode(to_segment(msg))


def test_to_segment_json_names_unencodable_values() -> None:
    """A value JSON cannot hold raises ``UnencodableEvent`` (counted as ``encode_error``)."""
    msg = Message(type="track", message_id="m", anonymous_id="a", event="E",
                  properties={"when": object()}, timestamp=1.0)
    with pytest.raises(UnencodableEvent):
        to_segment_json(msg)
