"""The one circuit breaker (``persona_sdk._breaker``) that delivery (per destination) and the
profile source share, on an injected clock."""

from __future__ import annotations

import pytest

from persona_sdk._breaker import BreakerPolicy, BreakerState, CircuitBreaker, Refusal


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delivery_and_profiles_share_one_breaker() -> None:
    """A destination's outbox and the profile source build the same class (no second copy
    to drift), each from its own configuration."""
    from persona_sdk.config import BreakerConfig, DeliveryConfig
    from persona_sdk.delivery._outbox import Outbox
    from persona_sdk.profiles._settings import profile_breaker
    from persona_sdk.testing import CaptureDestination

    box = Outbox("d", CaptureDestination(), DeliveryConfig(breaker_threshold=3,
                                                          breaker_cooldown=7.0), None, Clock())
    assert type(box.breaker) is CircuitBreaker
    assert box.breaker.policy == BreakerPolicy.consecutive(3, 7.0)
    source = profile_breaker(BreakerConfig(window=9, min_calls=3), Clock(), slow_call=0.05)
    assert type(source) is CircuitBreaker
    assert (source.policy.window, source.policy.min_calls, source.policy.slow_call) == (9, 3, 0.05)


def test_rates_over_a_window_and_slow_calls() -> None:
    """It opens when the failed (or slow) share of the last ``window`` calls reaches its rate,
    never before ``min_calls``; old outcomes leave the window."""
    clock = Clock()
    opened: list[str] = []
    policy = BreakerPolicy(window=4, min_calls=3, failure_rate=0.5, slow_call=1.0,
                           slow_rate=0.75, open_for=10.0)
    cb = CircuitBreaker(policy, clock, on_open=opened.append)
    assert cb.record(ok=False) is False  # 1 of 1 failed, below min_calls
    assert cb.record(ok=True) is False
    assert cb.record(ok=True) is False  # 1 of 3
    assert cb.record(ok=True) is False  # 1 of 4
    assert cb.record(ok=True) is False  # the failure left the window: 0 of 4
    assert cb.record(ok=False) is False  # 1 of 4
    assert cb.record(ok=False) is True  # 2 of 4
    assert opened == ["2 failed and 0 slow of the last 4 calls"]
    clock.now = 10.0
    assert cb.admit() is None
    assert cb.record(ok=True) is False
    assert cb.state is BreakerState.CLOSED
    for _ in range(2):
        cb.record(ok=True, elapsed=2.0)
    assert cb.record(ok=True, timed_out=True) is True  # 3 slow of 3
    assert opened[-1] == "0 failed and 3 slow of the last 3 calls"
    assert cb.stats()["opened"] == 2


def test_half_open_admits_its_probes_and_ignores_calls_from_before() -> None:
    """Half-open admits ``probes`` calls; all succeeding closes it. Outcomes arriving while
    open (calls started before it opened) change nothing."""
    clock = Clock()
    cb = CircuitBreaker(BreakerPolicy(window=1, min_calls=1, open_for=5.0, probes=2), clock)
    assert cb.record(ok=False) is True
    assert cb.record(ok=True) is False  # a late answer: still open
    assert cb.admit() == Refusal(5.0, held=False)
    clock.now = 5.0
    assert cb.admit() is None
    assert cb.admit() is None
    assert cb.admit() == Refusal(0.0, held=False)
    cb.record(ok=True)
    assert cb.state is BreakerState.HALF_OPEN
    cb.record(ok=True)
    assert cb.state is BreakerState.CLOSED
    assert cb.stats()["rejected"] == 2


def test_hold_refuses_until_then_whatever_the_state() -> None:
    """``hold`` (a Retry-After the caller cannot wait for) refuses calls, as held."""
    clock = Clock()
    cb = CircuitBreaker(BreakerPolicy.consecutive(3, 30.0), clock)
    cb.hold(20.0)
    cb.hold(10.0)  # never shortened
    assert cb.admit() == Refusal(20.0, held=True)
    clock.now = 20.0
    assert cb.admit() is None
    assert cb.stats()["held_until"] == 20.0


def test_configure_keeps_the_state_and_disabled_admits_everything() -> None:
    """A new policy (a reload) keeps the state and what still fits in the window; a disabled
    breaker admits every call and counts nothing."""
    clock = Clock()
    cb = CircuitBreaker(BreakerPolicy.consecutive(3, 30.0), clock)
    cb.record(ok=False)
    cb.record(ok=False)
    cb.configure(BreakerPolicy.consecutive(2, 30.0))
    assert cb.stats()["window_failures"] == 2
    assert cb.record(ok=False) is True
    cb.configure(BreakerPolicy.consecutive(2, 1.0))
    clock.now = 1.0
    assert cb.state is BreakerState.HALF_OPEN
    off = CircuitBreaker(BreakerPolicy(window=1, min_calls=1, enabled=False), clock)
    assert off.record(ok=False) is False
    assert off.admit() is None
    assert off.state is BreakerState.CLOSED


@pytest.mark.parametrize("threshold", [0, 1, 4])
def test_consecutive_policy(threshold: int) -> None:
    """``consecutive(n)`` opens after exactly max(1, n) failures in a row."""
    cb = CircuitBreaker(BreakerPolicy.consecutive(threshold, 1.0), Clock())
    n = max(1, threshold)
    assert [cb.record(ok=False) for _ in range(n)] == [False] * (n - 1) + [True]
