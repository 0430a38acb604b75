"""The ``CounterStore`` contract, as tests any implementation can run.

Use it from a test module of your store (in-memory here, Redis in ``plugins/persona-redis``)::

    import pytest
    from stores.counter_conformance import CounterStoreConformance   # or import by path

    class TestMyStore(CounterStoreConformance):
        @pytest.fixture
        def store(self):
            return MyStore(...)          # a fresh, empty store (unique key prefix is fine)

Every key a test writes starts with ``conf:`` and a per-test unique part, so a shared server
can be reused between tests. Clocks are passed as ``now``: no test sleeps.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

__all__ = ["CounterStoreConformance"]


def _key(name: str) -> str:
    return f"conf:{uuid.uuid4().hex[:12]}:{name}"


class CounterStoreConformance:
    """The contract of ``persona_sdk.plugins.CounterStore`` (subclass and define ``store``)."""

    @pytest.fixture
    def store(self) -> Any:  # pragma: no cover - subclasses define it
        raise NotImplementedError("define a `store` fixture returning a fresh store")

    def test_incr_creates_and_adds(self, store: Any) -> None:
        """incr starts a field at 0, adds the amount (1 by default) and returns the sum."""
        key = _key("h")
        assert store.incr(key, "a") == 1.0
        assert store.incr(key, "a", 2.5) == 3.5
        assert store.incr(key, "b", -1) == -1.0
        assert store.get_all(key) == {"a": 3.5, "b": -1.0}

    def test_get_all_of_missing_key_is_empty(self, store: Any) -> None:
        """get_all of a key never written is an empty dict."""
        assert store.get_all(_key("none")) == {}

    def test_delete_forgets_hashes_and_windows(self, store: Any) -> None:
        """delete removes a hash and a window; deleting a missing key is no error."""
        h, w = _key("h"), _key("w")
        store.incr(h, "a")
        store.window_hit(w, now=100.0, window=10.0, limit=1)
        store.delete(h)
        store.delete(w)
        store.delete(_key("never"))
        assert store.get_all(h) == {}
        assert store.window_count(w, now=100.0, window=10.0) == 0
        assert store.window_hit(w, now=100.0, window=10.0, limit=1) is True

    def test_window_hit_allows_limit_hits_then_refuses(self, store: Any) -> None:
        """window_hit records and returns True for the first `limit` hits of a window, then
        False without recording."""
        key = _key("w")
        got = [store.window_hit(key, now=1000.0 + i, window=100.0, limit=3) for i in range(5)]
        assert got == [True, True, True, False, False]
        assert store.window_count(key, now=1004.0, window=100.0) == 3

    def test_window_slides(self, store: Any) -> None:
        """A hit leaves the window once it is `window` seconds old: the interval is
        (now - window, now]."""
        key = _key("w")
        assert store.window_hit(key, now=0.0, window=10.0, limit=2)
        assert store.window_hit(key, now=5.0, window=10.0, limit=2)
        assert not store.window_hit(key, now=9.0, window=10.0, limit=2)
        assert store.window_count(key, now=9.999, window=10.0) == 2
        # at t=10 the hit of t=0 is exactly `window` old: out
        assert store.window_count(key, now=10.0, window=10.0) == 1
        assert store.window_hit(key, now=10.0, window=10.0, limit=2)
        assert not store.window_hit(key, now=14.0, window=10.0, limit=2)
        assert store.window_hit(key, now=15.0, window=10.0, limit=2)

    def test_window_limit_zero_never_hits(self, store: Any) -> None:
        """A limit of 0 refuses every hit."""
        key = _key("w")
        assert store.window_hit(key, now=1.0, window=10.0, limit=0) is False
        assert store.window_count(key, now=1.0, window=10.0) == 0

    def test_windows_and_hashes_are_separate_per_key(self, store: Any) -> None:
        """Each key has its own window: filling one leaves another untouched."""
        a, b = _key("a"), _key("b")
        assert store.window_hit(a, now=1.0, window=10.0, limit=1)
        assert not store.window_hit(a, now=2.0, window=10.0, limit=1)
        assert store.window_hit(b, now=2.0, window=10.0, limit=1)

    def test_window_hit_is_exact_across_threads(self, store: Any) -> None:
        """Many threads racing on one window get exactly `limit` successes."""
        key = _key("race")
        limit, threads, each = 50, 8, 40
        wins: list[bool] = []
        lock = threading.Lock()
        start = threading.Barrier(threads)

        def run() -> None:
            start.wait()
            mine = [store.window_hit(key, now=500.0, window=60.0, limit=limit) for _ in range(each)]
            with lock:
                wins.extend(mine)

        workers = [threading.Thread(target=run) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert sum(wins) == limit
        assert store.window_count(key, now=500.0, window=60.0) == limit

    def test_incr_is_exact_across_threads(self, store: Any) -> None:
        """Concurrent incr calls on one field lose no update."""
        key = _key("sum")
        threads, each = 8, 250
        start = threading.Barrier(threads)

        def run() -> None:
            start.wait()
            for _ in range(each):
                store.incr(key, "n")

        workers = [threading.Thread(target=run) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert store.get_all(key) == {"n": float(threads * each)}
