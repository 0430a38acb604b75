"""The speed helpers of ``persona_sdk._speed`` answer exactly as the plain forms they replace."""

from __future__ import annotations

from cachetools import LRUCache, TTLCache

from persona_sdk._speed import membership


def test_membership_of_an_lru_cache_follows_every_change() -> None:
    """On an LRU cache, the C-level test says what ``in`` says, through writes, deletes,
    evictions and ``clear``, for the cache's whole life."""
    cache: LRUCache[str, int] = LRUCache(maxsize=2)
    has = membership(cache)
    assert has.__class__ is not type(cache.__contains__)  # the item dict's own test
    for step in range(6):
        cache[f"k{step}"] = step  # evicts the oldest past two
        if step == 3:
            del cache["k3"]
        for key in ("k0", "k1", "k2", "k3", "k4", "k5", "missing"):
            assert has(key) is (key in cache)
    cache.clear()
    assert not has("k5")


def test_membership_keeps_a_cache_s_own_test_when_it_has_one() -> None:
    """A cache whose ``in`` does more (a TTL cache checks expiry) keeps its own test."""
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(maxsize=4, ttl=10, timer=lambda: now[0])
    has = membership(cache)
    cache["a"] = 1
    assert has("a")
    now[0] = 11.0
    assert not has("a")
    assert "a" not in cache

    class Odd(LRUCache[str, int]):
        def __contains__(self, key: object) -> bool:
            return True

    assert membership(Odd(maxsize=1))("anything")
