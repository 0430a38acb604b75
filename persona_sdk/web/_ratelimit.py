"""A per-client token-bucket rate limiter with bounded memory and an injectable clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import LRUCache

__all__ = ["TokenBucketLimiter"]


class TokenBucketLimiter:
    """Allow ``rate`` requests per second per key, with bursts up to ``burst``.

    Buckets live in an LRU of ``max_keys`` entries: a flood of distinct addresses can evict
    quiet clients (who then start with a full bucket again) but never grows memory.

    Usage::

        limiter = TokenBucketLimiter(rate=20, burst=100)
        wait = limiter.acquire("203.0.113.7")   # 0.0 when allowed, else seconds to wait
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 65_536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        # key -> [tokens, last refill time]
        self._buckets: LRUCache[str, list[float]] = LRUCache(maxsize=max_keys)
        # a WSGI server calls from many threads; the critical section is a few float ops
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket.

        Returns ``0.0`` when allowed; otherwise the seconds until enough tokens are back
        (nothing is taken).
        """
        now = self._clock()
        with self._lock:
            try:
                bucket = self._buckets[key]
            except KeyError:
                bucket = self._buckets[key] = [self.burst, now]
            # a clock that steps back refills nothing rather than draining the bucket
            elapsed = now - bucket[1] if now > bucket[1] else 0.0
            tokens = min(self.burst, bucket[0] + elapsed * self.rate)
            bucket[1] = now if now > bucket[1] else bucket[1]
            if tokens >= cost:
                bucket[0] = tokens - cost
                return 0.0
            bucket[0] = tokens
            return (cost - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)
