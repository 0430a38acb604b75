"""Retry policy: exponential backoff with full jitter, and a per-destination circuit breaker.

Both take their randomness and their clock as arguments, so tests drive them without waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from .._strenum import StrEnum

__all__ = ["Backoff", "BreakerState", "CircuitBreaker"]


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
        if retry_after is not None and retry_after >= 0:
            return float(min(retry_after, self.cap))
        window = min(self.cap, self.base * (2 ** min(attempt - 1, 62)))
        return float(self.rng() * window)


class BreakerState(StrEnum):
    """Where a destination's circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown`` seconds one probe
    goes through (half-open): success closes it, failure opens it again.

    Used only from the delivery thread's event loop, so it needs no lock.
    """

    __slots__ = ("clock", "cooldown", "failures", "opened_at", "probing", "threshold")

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (computed from the clock: an open breaker turns half-open)."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.probing or self.clock() >= self.opened_at + self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def admit(self) -> float | None:
        """``None`` when a send may start now (taking the probe slot when half-open);
        otherwise how long to wait before asking again (``0.0``: a probe is under way)."""
        if self.opened_at is None:
            return None
        left = self.opened_at + self.cooldown - self.clock()
        if left > 0:
            return left
        if self.probing:
            return 0.0
        self.probing = True
        return None

    def success(self) -> None:
        """A send was answered (delivered, or refused for good): close the breaker."""
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> bool:
        """A send failed transiently; returns True when this opened the breaker."""
        self.failures += 1
        was_open = self.opened_at is not None
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self.clock()
            self.probing = False
            return not was_open
        return False

    def release_probe(self) -> None:
        """A probe ended without an answer (cancelled): let another one try."""
        self.probing = False
