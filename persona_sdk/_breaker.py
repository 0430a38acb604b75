"""The circuit breaker: one for delivery (per destination) and the profile source.

Closed, it remembers the outcomes of the last ``window`` calls and opens when, with at least
``min_calls`` of them, the failed share reaches ``failure_rate`` or the slow share reaches
``slow_rate`` ("N consecutive failures" is ``window = min_calls = N``, ``failure_rate = 1``).
Open, it refuses calls for ``open_for`` seconds, then turns half-open and admits ``probes``
calls: all of them succeeding closes it, any failure opens it again. Outcomes of calls that
started before it opened are ignored. ``hold(until)`` refuses calls until then whatever the
state (a server's ``Retry-After`` that the caller cannot wait for).

Time comes from the injected clock, so tests step through the states without sleeping.
Thread-safe; every method is O(1) and does no I/O.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import NamedTuple

from attrs import frozen

from . import _lifecycle
from ._stats import BreakerStats
from ._strenum import StrEnum

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "Refusal"]


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@frozen(kw_only=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers (see the module doc)."""

    window: int
    min_calls: int
    failure_rate: float = 1.0
    #: seconds from which a call counts as slow; ``None``: no call is slow
    slow_call: float | None = None
    slow_rate: float = 1.0
    open_for: float = 30.0
    probes: int = 1
    enabled: bool = True

    @classmethod
    def consecutive(cls, threshold: int, cooldown: float) -> BreakerPolicy:
        """Open after ``threshold`` consecutive failures; one probe after ``cooldown`` s."""
        n = max(1, threshold)
        return cls(window=n, min_calls=n, open_for=cooldown)


class Refusal(NamedTuple):
    """Why a call may not start now, and for how long."""

    #: seconds until the breaker may admit a call; ``0.0``: the probes are under way, ask
    #: again when one of them ends
    wait: float
    #: refused by ``hold`` (rate limited) rather than by the open circuit
    held: bool


class CircuitBreaker:
    """A circuit breaker on an injected clock; ``on_open(why)`` is told each time it opens."""

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Callable[[], float],
        *,
        on_open: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._on_open = on_open
        self._lock = threading.Lock()
        self._calls: collections.deque[tuple[bool, bool]] = collections.deque(
            maxlen=policy.window
        )
        self._failures = 0
        self._slow = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes = 0  # admitted in this half-open period, not yet ended
        self._probe_ok = 0
        self._held_until = 0.0
        self.opened = 0  #: how many times it opened
        self.rejected = 0  #: calls refused
        # another thread may hold the lock at a fork
        _lifecycle.register("circuit breaker", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def configure(self, policy: BreakerPolicy) -> None:
        """Apply a new policy; the state is kept, the remembered outcomes when they fit."""
        with self._lock:
            if policy.window != self.policy.window:
                self._calls = collections.deque(self._calls, maxlen=policy.window)
                self._failures = sum(f for f, _ in self._calls)
                self._slow = sum(s for _, s in self._calls)
            self.policy = policy

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past ``open_for`` reads as half-open)."""
        with self._lock:
            self._advance(self._clock())
            return self._state

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self.policy.open_for:
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
            self._probe_ok = 0

    def admit(self) -> Refusal | None:
        """``None`` when a call may start now (taking a probe slot when half-open), else a
        ``Refusal`` saying how long to wait."""
        if not self.policy.enabled:
            return None
        with self._lock:
            now = self._clock()
            if now < self._held_until:
                self.rejected += 1
                return Refusal(self._held_until - now, held=True)
            self._advance(now)
            if self._state is BreakerState.CLOSED:
                return None
            if self._state is BreakerState.OPEN:
                self.rejected += 1
                return Refusal(self._opened_at + self.policy.open_for - now, held=False)
            if self._probes < self.policy.probes:
                self._probes += 1
                return None
            self.rejected += 1
            return Refusal(0.0, held=False)

    def release(self) -> None:
        """An admitted call ended without an outcome (cancelled): free its probe slot."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN and self._probes > self._probe_ok:
                self._probes -= 1

    def record(self, *, ok: bool, elapsed: float = 0.0, timed_out: bool = False) -> bool:
        """Count one finished call (``ok``: answered); returns whether this opened it."""
        policy = self.policy
        if not policy.enabled:
            return False
        slow = timed_out or (policy.slow_call is not None and elapsed >= policy.slow_call)
        failed = not ok
        why = None
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._state is BreakerState.HALF_OPEN:
                if failed or slow:
                    why = "a half-open probe failed"
                    self._open(now)
                else:
                    self._probe_ok += 1
                    if self._probe_ok >= policy.probes:
                        self._state = BreakerState.CLOSED
                        self._reset_window()
            elif self._state is BreakerState.CLOSED:
                if len(self._calls) == self._calls.maxlen:
                    old_failed, old_slow = self._calls[0]
                    self._failures -= old_failed
                    self._slow -= old_slow
                self._calls.append((failed, slow))
                self._failures += failed
                self._slow += slow
                n = len(self._calls)
                if n >= policy.min_calls and (
                    self._failures >= policy.failure_rate * n
                    or self._slow >= policy.slow_rate * n
                ):
                    why = (f"{self._failures} failed and {self._slow} slow of the last {n} "
                           "calls")
                    self._open(now)
            # OPEN: a call that started before it opened says nothing new
        if why is not None and self._on_open is not None:
            self._on_open(why)
        return why is not None

    def hold(self, until: float) -> None:
        """Refuse calls until ``until`` (clock time), whatever the state."""
        with self._lock:
            self._held_until = max(self._held_until, until)

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self.opened += 1
        self._reset_window()

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
