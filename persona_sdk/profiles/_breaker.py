"""A circuit breaker for the profile source: error rate, slow calls, half-open probes.

Closed, it counts the outcomes of the last ``window`` calls and opens when failures or slow
calls reach their rate. Open, it rejects calls for ``open_for`` seconds, then turns half-open
and lets ``half_open_probes`` calls through: all succeeding closes it, any failure reopens it.
A server's ``Retry-After`` that does not fit in the deadline *holds* the breaker until then.
Time comes from the injected clock, so tests step through states without sleeping.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from .._stats import BreakerStats
from .._strenum import StrEnum
from ..config import BreakerConfig
from ._log import errors
from ._types import ProfileReason

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    """The breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Per-source breaker; thread-safe, every method O(1)."""

    def __init__(
        self, config: BreakerConfig, clock: Callable[[], float], slow_call: float | None = None
    ) -> None:
        self._cfg = config
        self._slow_call = config.slow_call if config.slow_call is not None else slow_call
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: collections.deque[tuple[bool, bool]] = collections.deque(maxlen=config.window)
        self._failures = 0
        self._slow = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes = 0
        self._probe_ok = 0
        self._held_until = 0.0
        self.opened = 0  # how many times it opened
        self.rejected = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past ``open_for`` reads as half-open)."""
        with self._lock:
            self._advance(self._clock())
            return self._state

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self._cfg.open_for:
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
            self._probe_ok = 0

    def allow(self) -> ProfileReason | None:
        """None when a call may go ahead, else why not (circuit open, or rate limited)."""
        if not self._cfg.enabled:
            return None
        with self._lock:
            now = self._clock()
            if now < self._held_until:
                self.rejected += 1
                return ProfileReason.RATE_LIMITED
            self._advance(now)
            if self._state is BreakerState.CLOSED:
                return None
            if self._state is BreakerState.HALF_OPEN and self._probes < self._cfg.half_open_probes:
                self._probes += 1
                return None
            self.rejected += 1
            return ProfileReason.CIRCUIT_OPEN

    def record(self, *, ok: bool, elapsed: float, timed_out: bool = False) -> None:
        """Count one finished call (``ok``: the source answered, found or not)."""
        cfg = self._cfg
        if not cfg.enabled:
            return
        slow = timed_out or (self._slow_call is not None and elapsed >= self._slow_call)
        failed = not ok
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                if failed or slow:
                    self._open(now)
                else:
                    self._probe_ok += 1
                    if self._probe_ok >= cfg.half_open_probes:
                        self._state = BreakerState.CLOSED
                        self._reset_window()
                return
            if self._state is BreakerState.OPEN:
                return  # a call that started before it opened
            if len(self._calls) == self._calls.maxlen:
                old_failed, old_slow = self._calls[0]
                self._failures -= old_failed
                self._slow -= old_slow
            self._calls.append((failed, slow))
            self._failures += failed
            self._slow += slow
            n = len(self._calls)
            if n >= cfg.min_calls and (
                self._failures >= cfg.failure_rate * n or self._slow >= cfg.slow_rate * n
            ):
                self._open(now)

    def hold(self, until: float) -> None:
        """Reject calls until ``until`` (a Retry-After longer than the deadline)."""
        with self._lock:
            self._held_until = max(self._held_until, until)

    def _open(self, now: float) -> None:
        why = (f"{self._failures} failed and {self._slow} slow of the last {len(self._calls)} "
               "calls" if self._state is BreakerState.CLOSED else "a half-open probe failed")
        self._state = BreakerState.OPEN
        self._opened_at = now
        self.opened += 1
        self._reset_window()
        errors("breaker_open", f"the profile source's circuit breaker opened ({why}); "
               f"fallback profiles for {self._cfg.open_for:g} s", level=logging.WARNING)

    def _reset_window(self) -> None:
        self._calls.clear()
        self._failures = 0
        self._slow = 0

    def stats(self) -> BreakerStats:
        """State and counters."""
        with self._lock:
            self._advance(self._clock())
            return {
                "state": self._state.value,
                "opened": self.opened,
                "rejected": self.rejected,
                "window_calls": len(self._calls),
                "window_failures": self._failures,
                "window_slow": self._slow,
                "held_until": self._held_until or None,
            }
