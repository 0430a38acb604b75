"""In-memory ``CounterStore`` and ``DedupStore``: the single-process tier and the reference the
shared implementations (persona-redis) are checked against by one conformance suite.

Both are thread-safe (one lock, held for a dict operation) and bounded. Keys that belong to a
person name them in braces, ``cap:{u-1}:promo`` (a Redis Cluster hash tag, too), so that
``forget(ids)`` (called by ``Persona.forget``) finds every key of a person.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable

from cachetools import LRUCache

__all__ = ["InMemoryCounterStore", "InMemoryDedupStore", "person_key", "person_tags"]


def person_key(kind: str, person: str, *rest: str) -> str:
    """``"<kind>:{<person>}:<rest>..."``: a store key that ``forget`` can find."""
    return ":".join((kind, f"{{{person}}}", *rest))


def person_tags(ids: Iterable[str]) -> list[str]:
    """The ``{id}`` markers ``forget`` looks for."""
    return [f"{{{i}}}" for i in ids if i]


class InMemoryCounterStore:
    """A ``CounterStore`` in this process' memory.

    Usage::

        counters = InMemoryCounterStore()
        counters.incr("bandit:home-hero", "a:shown")
        if counters.window_hit("cap:u-1:promo", now=time.time(), window=86_400, limit=3):
            ...  # shown: under the cap

    ``max_keys`` bounds memory: the least recently used keys are forgotten first.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._fields: LRUCache[str, dict[str, float]] = LRUCache(maxsize=max_keys)
        self._windows: LRUCache[str, list[float]] = LRUCache(maxsize=max_keys)

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        """Add ``amount`` to ``field`` of ``key``; the new value."""
        with self._lock:
            fields = self._fields.get(key)
            if fields is None:
                fields = self._fields[key] = {}
            value = fields[field] = fields.get(field, 0.0) + amount
            return value

    def get_all(self, key: str) -> dict[str, float]:
        """Every field of ``key`` (empty when unknown)."""
        with self._lock:
            return dict(self._fields.get(key) or {})

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """Record a hit at ``now`` when fewer than ``limit`` hits fall in ``(now - window,
        now]``; whether it was recorded (check and add are one step)."""
        with self._lock:
            hits = self._trimmed(key, now, window)
            if len(hits) >= limit:
                return False
            bisect.insort(hits, now)
            self._windows[key] = hits
            return True

    def window_count(self, key: str, *, now: float, window: float) -> int:
        """How many hits fall in ``(now - window, now]``."""
        with self._lock:
            hits = self._trimmed(key, now, window)
            return bisect.bisect_right(hits, now)

    def _trimmed(self, key: str, now: float, window: float) -> list[float]:
        hits = self._windows.get(key) or []
        cut = bisect.bisect_right(hits, now - window)
        if cut:
            del hits[:cut]
        return hits

    def delete(self, key: str) -> None:
        """Forget ``key``'s fields and window."""
        with self._lock:
            self._fields.pop(key, None)
            self._windows.pop(key, None)

    def forget(self, ids: Iterable[str]) -> None:
        """Erase every key naming one of ``ids`` as ``{id}`` (``Persona.forget``)."""
        tags = person_tags(ids)
        with self._lock:
            for cache in (self._fields, self._windows):
                for key in [k for k in cache if any(t in k for t in tags)]:
                    cache.pop(key, None)


class InMemoryDedupStore:
    """A ``DedupStore`` in this process' memory: keys expire after their ``ttl``; at most
    ``max_keys`` are kept (the oldest go first, and may then be added again).

    Usage::

        seen = InMemoryDedupStore()
        if seen.add("exposure:u-1:cta-test:1", ttl=86_400):
            ...  # the first time
    """

    def __init__(
        self, max_keys: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        # key -> expiry; an expired key counts as absent and is replaced on the next add
        self._keys: LRUCache[str, float] = LRUCache(maxsize=max_keys)

    def add(self, key: str, *, ttl: float) -> bool:
        """Add ``key`` for ``ttl`` seconds; True when it was not there."""
        now = self._clock()
        with self._lock:
            until = self._keys.get(key)
            if until is not None and until > now:
                return False
            self._keys[key] = now + ttl
            return True

    def forget(self, ids: Iterable[str]) -> None:
        """Erase every key naming one of ``ids`` as ``{id}`` (``Persona.forget``)."""
        tags = person_tags(ids)
        with self._lock:
            for key in [k for k in self._keys if any(t in k for t in tags)]:
                self._keys.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)
