"""In-memory ``DedupStore`` (the in-memory ``CounterStore`` is ``content.InMemoryCounterStore``):
the single-process tier, and the reference the shared implementations (persona-redis) are
checked against by one conformance suite.

Both are thread-safe (one lock, held for a dict operation) and bounded. Keys that belong to a
person name them in braces, ``cap:{u-1}:promo`` (a Redis Cluster hash tag, too), so that
``forget(ids)`` (called by ``Persona.forget``) finds every key of a person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from cachetools import LRUCache

from .plugins import person_tags

__all__ = ["InMemoryDedupStore"]


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
