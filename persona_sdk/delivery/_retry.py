"""Retry policy: exponential backoff with full jitter (the per-destination circuit breaker
is ``persona_sdk._breaker``'s, shared with the profile source).

It takes its randomness as an argument, so tests drive it without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .._retry_after import bounded_delay

__all__ = ["OS_JITTER", "Backoff"]

#: backoff jitter from the OS, never the global ``random`` state (an application may seed it,
#: and a forked worker must not repeat its parent's draws)
OS_JITTER = random.SystemRandom().random


class Backoff:
    """Full-jitter exponential backoff: attempt ``n`` waits ``uniform(0, min(cap, base*2**n))``.

    Full jitter spreads the retries of many clients over the whole window, which keeps a
    recovering server from being hit by synchronized waves (the AWS architecture blog's
    "Exponential Backoff And Jitter" compares the variants).
    """

    __slots__ = ("base", "cap", "rng")

    def __init__(self, base: float, cap: float, rng: Callable[[], float]) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based).

        A server's ``Retry-After`` wins over the computed delay (bounded by ``cap`` so a hostile
        header cannot park a destination for a day).
        """
        wait = bounded_delay(retry_after, self.cap)
        if wait is not None:
            return wait
        window = min(self.cap, self.base * (2 ** min(attempt - 1, 62)))
        return float(self.rng() * window)

