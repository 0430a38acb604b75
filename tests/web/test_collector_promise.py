"""A 200 from the collector is a promise: every event it accepts reaches the destination.

Issue 11, item 1: the per-event 32 KB cap is checked once, on the message as it will be sent
(with the collector's stamp: ``context.ip``, ``userAgent``, ``receivedAt``, ``sentAt``), so
messages just under the cap as sent by a client are either delivered or refused at the edge,
never accepted and then dropped as ``too_large``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from collector_helpers import BROWSER_UA, connection, wsgi_server

from persona_sdk import Persona
from persona_sdk.events import MAX_EVENT_BYTES
from persona_sdk.web._collector import Collector

#: the sizes real clients saw lost, plus two that fit once stamped
SIZES = [32_400, 32_500, *range(32_669, 32_760, 10)]


def _message(size: int) -> dict[str, Any]:
    # what a Segment client sends: its own messageId and timestamp, padded to ``size`` bytes
    msg: dict[str, Any] = {
        "type": "track", "event": "Big", "userId": "u-1",
        "messageId": str(uuid.uuid4()), "timestamp": "2026-12-04T10:00:00.123Z",
        "properties": {"pad": ""},
    }
    msg["properties"]["pad"] = "x" * (size - len(msgspec.json.encode(msg)))
    assert len(msgspec.json.encode(msg)) == size
    return msg


def _post(url: str, path: str, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    conn = connection(url)
    try:
        conn.request("POST", path, body=msgspec.json.encode(doc), headers={
            "content-type": "application/json", "user-agent": BROWSER_UA,
            "x-forwarded-for": "198.51.100.23",
        })
        resp = conn.getresponse()
        return resp.status, msgspec.json.decode(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_accepted_near_cap_messages_are_delivered(sink, path) -> None:
    """Messages of 32,400-32,759 bytes posted by a client through the real collector to a
    real loopback destination are either delivered or refused with a 4xx naming the cap;
    none is answered 200 and then rejected by delivery as too large."""
    persona = Persona({
        "destinations": {"warehouse": {"type": "http", "options": {
            "url": f"{sink.url}/v1/batch", "write_key": "k"}}},
        "tags": [{"name": "all", "destination": "warehouse"}],
    })
    collector = Collector(persona)
    accepted: list[str] = []
    refused = 0
    try:
        with wsgi_server(collector.wsgi) as url:
            for size in SIZES:
                msg = _message(size)
                doc = {"batch": [msg], "sentAt": "2026-12-04T10:00:01.000Z"} if (
                    path == "/v1/batch") else msg
                status, body = _post(url, path, doc)
                if status == 200 and body.get("accepted") == 1:
                    accepted.append(msg["messageId"])
                else:
                    refused += 1
                    assert status in (400, 413), body
                    reason = body.get("message") or body["errors"][0]["error"]
                    assert f"{MAX_EVENT_BYTES}-byte limit" in reason
        assert persona.flush(10.0)
        stats = persona.stats()["destinations"]["warehouse"]
    finally:
        persona.close()
    assert stats["rejected"].get("too_large", 0) == 0, stats
    assert set(accepted) <= set(sink.message_ids())
    assert len(accepted) + refused == len(SIZES)
    # the sweep crosses the cap once stamped: the largest are refused at the edge
    assert accepted
    assert refused


def test_batch_measures_stamped_size_exactly(sink) -> None:
    """A batch message refused for size names its index and its size as it would be sent
    (over the cap), while a neighbour just under the cap once stamped is accepted."""
    persona = Persona({
        "destinations": {"w": {"type": "http", "options": {"url": f"{sink.url}/v1/batch"}}},
        "tags": [{"name": "all", "destination": "w"}],
    })
    collector = Collector(persona)
    try:
        with wsgi_server(collector.wsgi) as url:
            over, under = _message(32_760), _message(32_000)
            status, body = _post(url, "/v1/batch", {"batch": [over, under]})
        assert status == 200
        assert body["accepted"] == 1
        (err,) = body["errors"]
        assert err["field"] == "batch[0]"
        size = int(err["error"].split()[0])
        assert size > MAX_EVENT_BYTES
        assert persona.flush(10.0)
        assert under["messageId"] in sink.message_ids()
    finally:
        persona.close()
