"""Degrade, never fail: with Redis killed or hung, requests get answers from the local tiers
(no exception), every fallback is counted in ``stats()``, and Redis is used again once it is
back."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import redis
from persona_redis import (
    RedisCounterStore,
    RedisDedupStore,
    RedisOptions,
    RedisStickyBucketStore,
)
from redis_servers import RedisServer

from persona_sdk import Persona


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def build(url: str) -> tuple[Persona, RedisCounterStore]:
    opts = RedisOptions(url, timeout=0.25, cooldown=0.05)
    persona = Persona(
        {
            "profiles": {
                "store": {"type": "redis", "url": url, "timeout": 0.25, "cooldown": 0.05},
                "deadline": 0.5,
            },
            "computed_traits": {"orders": {"kind": "count", "event": "Order Completed"}},
            "features": {"cta": {"defaultValue": "none", "rules": [
                {"key": "cta-test", "variations": ["blue", "green"],
                 "meta": [{"key": "0"}, {"key": "1"}]}]}},
        },
        sticky_store=RedisStickyBucketStore(opts),
        dedup_store=RedisDedupStore(opts),
    )
    return persona, RedisCounterStore(opts)


def request(persona: Persona, counters: RedisCounterStore, i: int) -> dict[str, Any]:
    """What one page request does: track, resolve, decide, check a cap."""
    uid = f"u-{i % 7}"
    persona.track("Order Completed", user_id=uid)
    v = persona.visitor(user_id=uid)
    return {
        "cta": v.get("cta", "none"),
        "orders": v.profile.computed.get("orders"),
        "cap": counters.window_hit(f"cap:{{{uid}}}", now=1000.0 + i, window=60.0, limit=3),
    }


def run(persona: Persona, counters: RedisCounterStore, n: int) -> tuple[list[Any], int]:
    results, exceptions = [], 0
    for i in range(n):
        try:
            results.append(request(persona, counters, i))
        except Exception:
            exceptions += 1
    return results, exceptions


def fallbacks(persona: Persona, counters: RedisCounterStore) -> int:
    stats = persona.stats()
    n = counters.stats()["fallbacks"] + stats["profiles"]["store_errors"]
    return n + sum(s.get("fallbacks", 0) for s in stats["stores"].values())


def test_redis_killed_mid_run(own_redis: RedisServer) -> None:
    """Redis killed mid-run: 0 exceptions into requests, local answers (the visitor's own
    computed traits, a variation, a locally held cap), counted fallbacks; after a restart on
    the same address, writes reach Redis again."""
    persona, counters = build(own_redis.url)
    _before, exceptions = run(persona, counters, 30)
    assert exceptions == 0
    assert persona.flush(timeout=5.0)
    assert fallbacks(persona, counters) == 0
    own_redis.kill()
    during, exceptions = run(persona, counters, 60)
    assert exceptions == 0
    assert all(r["cta"] in ("blue", "green") for r in during)
    assert all(r["orders"] for r in during)  # the process' own events still count
    assert fallbacks(persona, counters) > 0
    assert persona.stats()["profiles"]["store_errors"] > 0
    own_redis.start()
    raw = redis.Redis.from_url(own_redis.url)
    assert raw.dbsize() == 0  # a fresh server: nothing survived the kill

    def recovered() -> bool:
        run(persona, counters, 7)
        persona.flush(timeout=1.0)
        return raw.dbsize() > 0 and not counters.stats()["down"]

    assert eventually(recovered)
    raw.close()
    persona.close()


def test_hung_redis_costs_no_more_than_the_timeout(own_redis: RedisServer) -> None:
    """A hung Redis (SIGSTOP) answers nothing: calls give up after the store timeout, fall
    back, and are counted; no request raises. SIGCONT brings it back."""
    persona, counters = build(own_redis.url)
    run(persona, counters, 5)
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        results, exceptions = run(persona, counters, 20)
        assert exceptions == 0
        assert len(results) == 20
        assert counters.stats()["errors"] >= 1
        assert fallbacks(persona, counters) > 0
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert eventually(lambda: bool(run(persona, counters, 1)) and not counters.stats()["down"]
                      and counters.window_count("cap:{u-0}", now=1100.0, window=200.0) >= 0)
    persona.close()
