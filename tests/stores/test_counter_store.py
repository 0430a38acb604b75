"""The in-memory ``CounterStore`` passes the shared contract, and stays bounded."""

from __future__ import annotations

import pytest

from persona_sdk.content import InMemoryCounterStore
from persona_sdk.plugins import CounterStore
from stores.counter_conformance import CounterStoreConformance


class TestInMemoryCounterStore(CounterStoreConformance):
    """The contract, against ``InMemoryCounterStore``."""

    @pytest.fixture
    def store(self) -> InMemoryCounterStore:
        return InMemoryCounterStore()


def test_is_a_counter_store() -> None:
    """InMemoryCounterStore satisfies the CounterStore protocol."""
    assert isinstance(InMemoryCounterStore(), CounterStore)


def test_memory_is_bounded_by_max_keys() -> None:
    """Past max_keys, the least recently written keys are forgotten (and counted)."""
    store = InMemoryCounterStore(max_keys=64)
    for i in range(1000):
        store.window_hit(f"w{i}", now=1.0, window=1e9, limit=1)
        store.incr(f"h{i}", "n")
    assert len(store) <= 64
    assert store.stats()["evicted"] >= 2000 - 64
    assert store.get_all("h999") == {"n": 1.0}  # the most recent survive


def test_expired_keys_are_dropped() -> None:
    """Hashes expire ttl after their last write, windows once their hits are older than the
    window; expired keys are swept as new writes come."""
    now = [0.0]
    store = InMemoryCounterStore(ttl=10.0, clock=lambda: now[0])
    store.incr("h", "n")
    store.window_hit("w", now=0.0, window=5.0, limit=1)
    now[0] = 11.0
    assert store.get_all("h") == {}
    for i in range(300):  # enough writes to trigger a sweep
        store.window_hit(f"x{i}", now=11.0, window=5.0, limit=1)
    assert store.stats()["hashes"] == 0
    assert store.window_count("w", now=11.0, window=5.0) == 0
    assert "w" not in store._windows


def _reference_hit(hits: list[float], now: float, window: float, limit: int) -> bool:
    # the sliding window spelled out: the hits in (now - window, now] count
    hits[:] = [t for t in hits if t > now - window]
    allowed = sum(1 for t in hits if t <= now) < limit
    if allowed:
        hits.append(now)
        hits.sort()
    return allowed


def test_window_hits_match_the_sliding_window_spelled_out() -> None:
    """window_hit agrees with a plain list model on random hits, including hits whose
    clock runs behind an earlier caller's (those later hits are outside the window)."""
    import random

    rng = random.Random(7)
    store = InMemoryCounterStore()
    model: dict[str, list[float]] = {}
    for _ in range(5000):
        key = f"w{rng.randrange(5)}"
        now = rng.uniform(0.0, 100.0)
        window, limit = rng.choice((5.0, 20.0)), rng.choice((1, 3, 8))
        expected = _reference_hit(model.setdefault(key, []), now, window, limit)
        assert store.window_hit(key, now=now, window=window, limit=limit) is expected
        assert store.window_count(key, now=now, window=window) == sum(
            1 for t in model[key] if now - window < t <= now
        )


def test_add_is_applied_before_any_read() -> None:
    """add's increments (queued) are seen by the next get_all, incr, len and stats."""
    store = InMemoryCounterStore()
    store.add("h", "a")
    store.add("h", "a", 2.0)
    assert store.get_all("h") == {"a": 3.0}
    store.add("h", "b")
    assert store.incr("h", "b") == 2.0
    store.add("g", "x")
    assert len(store) == 2
    assert store.stats()["hashes"] == 2
    for _ in range(1000):  # past the queue's bound: applied as it goes
        store.add("k", "n")
    assert len(store._pending) < 256
    assert store.get_all("k") == {"n": 1000.0}
