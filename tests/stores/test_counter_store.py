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
