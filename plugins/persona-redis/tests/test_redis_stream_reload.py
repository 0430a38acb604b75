"""The Redis Streams destination (XADD, approximate MAXLEN, messageId as the idempotency key)
and container reloads broadcast over pub/sub."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
import pytest
import redis
from persona_redis import RedisOptions, RedisStreamDestination, ReloadBroadcaster
from redis_servers import RedisServer

from persona_sdk import ConfigError, Persona, SendOutcome


def entries(url: str, stream: str) -> list[dict[str, Any]]:
    raw = redis.Redis.from_url(url)
    out = [
        {"messageId": f[b"messageId"].decode(), "event": msgspec.json.decode(f[b"event"])}
        for _id, f in raw.xrange(stream)
    ]
    raw.close()
    return out


def test_persona_delivers_to_a_redis_stream_once_per_message_id(
    redis_server: RedisServer,
) -> None:
    """Tracked events land in the stream as one entry each, keyed by messageId; sending the
    same batch again (a retry after a lost reply) appends nothing and counts duplicates."""
    redis_server.flush()
    persona = Persona({
        "destinations": {"stream": {"type": "redis_stream", "options": {
            "url": redis_server.url, "stream": "events", "maxlen": 1000}}},
        "tags": [{"name": "all", "destination": "stream"}],
    }, destinations={"stream": RedisStreamDestination.from_options(
        name="stream", options={"url": redis_server.url, "stream": "events", "maxlen": 1000})})
    ids = [persona.track("Product Viewed", anonymous_id=f"a-{i}") for i in range(50)]
    assert persona.flush(timeout=10.0)
    got = entries(redis_server.url, "events")
    assert [e["messageId"] for e in got] == ids
    assert got[0]["event"]["event"] == "Product Viewed"
    persona.close()

    dest = RedisStreamDestination.from_options(
        name="again", options={"url": redis_server.url, "stream": "events"})
    items = [msgspec.json.encode({"messageId": i, "type": "track"}) for i in ids[:10]]

    async def resend() -> Any:
        async with httpx.AsyncClient() as client:
            result = await dest.send(items, client)
        await dest.aclose()
        return result

    assert asyncio.run(resend()).outcome is SendOutcome.DELIVERED
    assert dest.duplicates == 10
    assert len(entries(redis_server.url, "events")) == 50


def test_every_event_of_a_batch_lands_whole_and_once(redis_server: RedisServer) -> None:
    """A batch of 2,500 events of different sizes (multi-byte text among them), one without
    a messageId and one repeated within the batch: every entry holds its own event, byte
    for byte, the repeat is counted as a duplicate, the event without an id is kept."""
    redis_server.flush()
    events = [{"messageId": f"m-{i}", "type": "track", "event": "é€" * (i % 7),
               "properties": {"i": i, "pad": "x" * (i % 300)}} for i in range(2500)]
    events.append({"type": "track", "event": "no id"})
    events.append(events[5])
    items = [msgspec.json.encode(e) for e in events]
    dest = RedisStreamDestination.from_options(
        name="s", options={"url": redis_server.url, "stream": "whole"})

    async def send() -> Any:
        async with httpx.AsyncClient() as client:
            result = await dest.send(items, client)
        await dest.aclose()
        return result

    assert asyncio.run(send()).outcome is SendOutcome.DELIVERED
    got = entries(redis_server.url, "whole")
    assert [e["event"] for e in got] == events[:-1]
    assert [e["messageId"] for e in got[:2500]] == [f"m-{i}" for i in range(2500)]
    assert got[-1]["messageId"].startswith("no-id:")
    assert dest.duplicates == 1


def test_stream_is_trimmed_approximately(redis_server: RedisServer) -> None:
    """With maxlen, the stream stays near the cap (MAXLEN ~ trims whole nodes)."""
    redis_server.flush()
    dest = RedisStreamDestination.from_options(
        name="s", options={"url": redis_server.url, "stream": "trim", "maxlen": 100})
    items = [msgspec.json.encode({"messageId": f"m-{i}"}) for i in range(2000)]

    async def send() -> None:
        async with httpx.AsyncClient() as client:
            for i in range(0, 2000, 100):
                await dest.send(items[i : i + 100], client)
        await dest.aclose()

    asyncio.run(send())
    raw = redis.Redis.from_url(redis_server.url)
    assert 100 <= raw.xlen("trim") < 1000
    raw.close()


def test_stream_send_to_a_dead_redis_is_retried(own_redis: RedisServer) -> None:
    """A Redis that is down gives a RETRY result (the outbox backs off), not an exception."""
    dest = RedisStreamDestination.from_options(
        name="s", options={"url": own_redis.url, "timeout": 0.2})
    own_redis.kill()

    async def send() -> Any:
        async with httpx.AsyncClient() as client:
            return await dest.send([b'{"messageId":"m"}'], client)

    assert asyncio.run(send()).outcome is SendOutcome.RETRY


def test_stream_options_are_checked() -> None:
    """Bad stream options name their field."""
    with pytest.raises(ConfigError) as err:
        RedisStreamDestination.from_options(name="s", options={"maxlen": 0, "stream": ""})
    assert "maxlen: must be a positive integer" in str(err.value)
    assert "stream: must be a non-empty string" in str(err.value)


def test_reload_broadcast_switches_every_process(redis_server: RedisServer) -> None:
    """A container published once is applied by every subscribed Persona; an invalid one is
    refused everywhere and the last good container stays."""
    redis_server.flush()
    personas = [Persona({"features": {"f": {"defaultValue": 1}}}) for _ in range(3)]
    buses = [ReloadBroadcaster(p, RedisOptions(redis_server.url, timeout=2.0),
                               channel="reload-test") for p in personas]
    try:
        check_broadcast(buses, personas)
    finally:
        for bus, p in zip(buses, personas, strict=False):
            bus.close()
            p.close()


def check_broadcast(buses: list[ReloadBroadcaster], personas: list[Persona]) -> None:
    for bus in buses:
        bus.start()
    assert buses[0].publish({"features": {"f": {"defaultValue": 2}}}) == 3
    deadline = time.monotonic() + 10
    while any(b.applied < 1 for b in buses) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p.visitor(anonymous_id="a").get("f", 0) for p in personas] == [2, 2, 2]
    buses[1].publish({"features": {"f": {"defaultValue": 3}}, "profiles": {"deadline": -1}})
    while any(b.refused < 1 for b in buses) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [b.stats()["refused"] for b in buses] == [1, 1, 1]
    assert [p.visitor(anonymous_id="a").get("f", 0) for p in personas] == [2, 2, 2]
