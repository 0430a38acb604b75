"""persona-sdk on Redis, in-process: two ``Persona`` instances (two processes' worth of state,
each with its own computed-trait slot) share computed traits, segments, sticky buckets and
exposure de-duplication through Redis, and ``forget`` erases a person everywhere."""

from __future__ import annotations

from typing import Any

import redis
from persona_redis import RedisDedupStore, RedisOptions, RedisStickyBucketStore
from redis_servers import RedisServer

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination


def container(url: str, weights: tuple[float, float] = (0.5, 0.5)) -> dict[str, Any]:
    return {
        "profiles": {"store": {"type": "redis", "url": url, "timeout": 2.0}},
        "computed_traits": {
            "spent": {"kind": "sum", "event": "Order Completed", "property": "revenue"}
        },
        "segments": {"big_spender": {"condition": {"spent": {"$gte": 100}}}},
        "tags": [{"name": "all", "destination": "capture"}],
        "features": {
            "cta": {
                "defaultValue": "none",
                "rules": [{"key": "cta-test", "variations": ["blue", "green"],
                           "weights": list(weights), "meta": [{"key": "0"}, {"key": "1"}]}],
            }
        },
    }


def make(url: str, capture: CaptureDestination | None = None, **kw: Any) -> Persona:
    opts = RedisOptions(url, timeout=2.0)
    return Persona(
        container(url, **kw),
        sticky_store=RedisStickyBucketStore(opts),
        dedup_store=RedisDedupStore(opts),
        destinations={"capture": capture or CaptureDestination(name="capture")},
    )


def test_computed_traits_and_segments_are_shared(redis_server: RedisServer) -> None:
    """A purchase seen by one instance is in the other's computed traits and segments on its
    next request after ``flush``; both instances' contributions add up (each writes its own
    hash field: neither overwrites the other)."""
    redis_server.flush()
    a, b = make(redis_server.url), make(redis_server.url)
    assert "big_spender" not in b.visitor(user_id="u-1").segments
    a.track("Order Completed", user_id="u-1", properties={"revenue": 150.0})
    assert a.flush(timeout=5.0)
    seen = b.visitor(user_id="u-1")
    assert seen.profile.computed == {"spent": 150.0}
    assert "big_spender" in seen.segments
    b.track("Order Completed", user_id="u-1", properties={"revenue": 10.0})
    assert b.flush(timeout=5.0)
    assert a.visitor(user_id="u-1").profile.computed == {"spent": 160.0}
    a.close()
    b.close()


def test_sticky_buckets_and_exposures_are_shared(redis_server: RedisServer) -> None:
    """Visitors bucketed by one instance keep their variation on an instance running other
    weights, and each exposure is logged once across both."""
    redis_server.flush()
    ca, cb = CaptureDestination(name="capture"), CaptureDestination(name="capture")
    a = make(redis_server.url, ca, weights=(1.0, 0.0))
    b = make(redis_server.url, cb, weights=(0.0, 1.0))
    first = {f"u-{i}": a.visitor(user_id=f"u-{i}").get("cta", "none") for i in range(20)}
    assert set(first.values()) == {"blue"}
    again = {f"u-{i}": b.visitor(user_id=f"u-{i}").get("cta", "none") for i in range(20)}
    assert again == first
    assert b.visitor(user_id="u-new").get("cta", "none") == "green"  # b's own weights
    a.flush(timeout=5.0)
    b.flush(timeout=5.0)
    viewed = [e for e in ca.events + cb.events if e["event"] == "Experiment Viewed"]
    assert sorted(e["userId"] for e in viewed) == sorted([*first, "u-new"])
    assert b.stats()["decisions"]["deduplicated"] == 20
    a.close()
    b.close()


def test_forget_erases_a_person_in_redis(redis_server: RedisServer) -> None:
    """``Persona.forget`` removes the person's profile entry, computed traits, sticky
    documents and exposure keys from Redis, and nobody else's."""
    redis_server.flush()
    p = make(redis_server.url)
    for uid in ("u-1", "u-2"):
        p.identify(uid, anonymous_id=f"a-{uid}")
        p.track("Order Completed", user_id=uid, properties={"revenue": 5.0})
        p.visitor(user_id=uid).get("cta", "none")
    assert p.flush(timeout=5.0)
    raw = redis.Redis.from_url(redis_server.url)
    assert any(b"u-1" in k for k in raw.keys("*"))
    p.forget(user_id="u-1")
    keys = raw.keys("*")
    assert not [k for k in keys if b"u-1" in k]
    assert [k for k in keys if b"u-2" in k]
    raw.close()
    p.close()


def test_identity_links_are_shared_and_forgotten(redis_server: RedisServer) -> None:
    """An anonymous id linked to a user by one instance (identify) resolves to that user's
    profile on another instance that never saw the link; forget on the second instance
    erases the link from Redis too."""
    redis_server.flush()
    a, b = make(redis_server.url), make(redis_server.url)
    a.identify("u-7", anonymous_id="a-7")
    a.track("Order Completed", user_id="u-7", properties={"revenue": 120.0})
    assert a.flush(timeout=5.0)
    seen = b.visitor(anonymous_id="a-7")
    assert seen.profile.canonical_id == "u-7"
    assert seen.profile.computed == {"spent": 120.0}
    assert "big_spender" in seen.segments
    assert b.visitor(anonymous_id="a-7").profile.canonical_id == "u-7"  # now linked locally
    raw = redis.Redis.from_url(redis_server.url)
    assert raw.get("persona:a:a-7") == b"u-7"
    b.forget(user_id="u-7")
    assert not [k for k in raw.keys("*") if b"7" in k]
    raw.close()
    a.close()
    b.close()


def test_adecide_on_redis_counters(redis_server: RedisServer) -> None:
    """``await visitor.adecide`` over ``RedisCounterStore``: caps checked through its
    asyncio side hold across two Personas (two processes' worth), and the bandit's trials
    (queued increments) reach Redis."""
    import asyncio

    from persona_redis import RedisCounterStore

    redis_server.flush()
    doc = {
        "content": [{"id": "h1"}, {"id": "h2"}, {"id": "base"}],
        "placements": {"hero": {"strategy": "bandit", "items": ["h1", "h2"],
                                "fallback": "base",
                                "caps": [{"per": "item", "limit": 1, "window": "1d"}]}},
    }
    stores = [RedisCounterStore(RedisOptions(redis_server.url, timeout=2.0)) for _ in range(2)]
    personas = [Persona(doc, counter_store=s) for s in stores]

    async def run() -> list[list[str]]:
        shown = []
        for p in (*personas, personas[0]):
            visitor = await p.avisitor(anonymous_id="v-1")
            shown.append((await visitor.adecide("hero")).ids())
        for s in stores:
            await s.aclose()
        return shown

    shown = asyncio.run(run())
    assert sorted(shown[:2]) == [["h1"], ["h2"]]
    assert shown[2] == ["base"]
    for s in stores:
        s.flush()
    assert stores[0].get_all("bandit:hero:*") == {"h1|n": 1.0, "h2|n": 1.0}
    for p in personas:
        p.close()


def test_a_sweep_re_checks_visitors_seen_only_by_another_instance(
    redis_server: RedisServer,
) -> None:
    """``b`` never sees the visitor: its first sweep learns them from Redis (SCAN) without
    announcing them; 31 days after ``a`` saw them, ``b``'s sweep emits Segment Entered
    "lapsed" to its destination and lists the member; when ``a`` sees them again, ``b``'s
    next sweep emits Segment Exited."""
    redis_server.flush()
    now = [1_700_000_000.0]
    doc = {
        "profiles": {
            "store": {"type": "redis", "url": redis_server.url, "timeout": 2.0},
            "segment_sweep_interval": 0,
            "sweep_store": True,
        },
        "computed_traits": {"last_seen": {"kind": "last_seen"}},
        "segments": {"lapsed": {"condition": {"last_seen": {"$olderThan": "30d"}}}},
        "tags": [{"name": "all", "destination": "capture"}],
    }
    seen_b = CaptureDestination(name="capture")
    a = Persona(doc, destinations={"capture": CaptureDestination(name="capture")},
                clock=lambda: now[0])
    b = Persona(doc, destinations={"capture": seen_b}, clock=lambda: now[0])
    try:
        a.track("Product Viewed", anonymous_id="only-a")
        assert a.flush(timeout=5.0)
        assert b.sweep_segments() == 0  # learnt, not announced: a announced them
        now[0] += 31 * 86_400
        assert b.sweep_segments() == 1
        assert b.segment_members("lapsed") == ["only-a"]
        a.track("Page Viewed", anonymous_id="only-a")
        assert a.flush(timeout=5.0)
        assert b.sweep_segments() == 1
        assert b.flush(timeout=5.0)
        assert [(e["event"], e["anonymousId"]) for e in seen_b.events] == [
            ("Segment Entered", "only-a"), ("Segment Exited", "only-a"),
        ]
        assert b.stats()["profiles"]["store_swept"] == 3
    finally:
        a.close()
        b.close()
