"""The speed helpers of ``persona_sdk._speed`` answer exactly as the plain forms they replace."""

from __future__ import annotations

import inspect

import pytest
from cachetools import LRUCache, TTLCache

from persona_sdk import Persona
from persona_sdk._speed import KEYWORDS_ONLY, KeywordsOnly, keywords_only, membership


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


def test_keywords_only_refuses_positional_options_and_shows_the_signature() -> None:
    """``Persona.track``'s options sit behind the ``keywords_only`` guard: a second
    positional argument is refused as ``*`` would refuse it (before any work), and the
    signature shown is the documented one (keyword-only, no guard)."""
    with Persona() as persona:
        for args in (("E", "a-1"), ("E", None), ("E", "a-1", "u-1")):
            with pytest.raises(TypeError, match="positional"):
                persona.track(*args)  # type: ignore[arg-type]
        assert persona.track("E", anonymous_id="a-1")
        for shown, first in ((inspect.signature(Persona.track), ["self", "event"]),
                             (inspect.signature(persona.track), ["event"])):
            params = list(shown.parameters.values())
            assert [p.name for p in params[:len(first)]] == first
            assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                       for p in params[:len(first)])
            rest = params[len(first):]
            assert [p.name for p in rest] == [
                "anonymous_id", "user_id", "properties", "context", "consent", "timestamp",
                "message_id", "integrations",
            ]
            assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None
                       for p in rest)


def test_keywords_only_needs_its_guard() -> None:
    """A function without the named guard is refused when decorated, not shown wrong."""

    def no_guard(a: int, b: int = 0) -> int:
        return a + b

    with pytest.raises(ValueError, match="no parameter"):
        keywords_only("_kw")(no_guard)
    assert KEYWORDS_ONLY is KeywordsOnly.GUARD
