"""Retries, Retry-After, dead letters, circuit breakers, outages and isolation."""

from __future__ import annotations

import time

import pytest
from delivery_helpers import (
    FakeTime,
    SinkDestination,
    identity_holds,
    make_delivery,
    message,
    render,
    wait_stats,
)
from servers.sink import Reply, Sink

from persona_sdk._breaker import BreakerPolicy, CircuitBreaker
from persona_sdk.config import SpoolMode
from persona_sdk.delivery import BatchConfig, DeliveryConfig
from persona_sdk.delivery._retry import Backoff


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    """Attempt n waits rng()·min(cap, base·2^(n-1)); Retry-After wins, bounded by the cap."""
    b = Backoff(0.5, 10.0, rng=lambda: 1.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert Backoff(0.5, 10.0, rng=lambda: 0.25).delay(3) == 0.5
    assert b.delay(2, retry_after=7) == 7.0
    assert b.delay(2, retry_after=3600) == 10.0


def test_circuit_breaker_opens_probes_and_closes() -> None:
    """A destination's breaker (``breaker_threshold``, ``breaker_cooldown``) opens after N
    consecutive failures, lets one probe through after the cool-down, and closes on success
    (re-opens on a failed probe)."""
    now = [0.0]
    cb = CircuitBreaker(BreakerPolicy.consecutive(2, 30.0), clock=lambda: now[0])
    assert cb.admit() is None
    assert cb.record(ok=False) is False
    assert cb.admit() is None
    assert cb.record(ok=True) is False  # a success: consecutive failures start over
    assert cb.record(ok=False) is False
    assert cb.record(ok=False) is True
    assert cb.state.value == "open"
    assert cb.admit() == (30.0, False)
    now[0] = 30.0
    assert cb.admit() is None
    assert cb.state.value == "half_open"
    assert cb.admit() == (0.0, False)  # one probe at a time
    assert cb.record(ok=False) is True  # the probe failed: open again
    assert cb.state.value == "open"
    assert cb.admit() == (30.0, False)
    now[0] = 60.0
    assert cb.admit() is None
    cb.release()  # the probe was cancelled: another may go
    assert cb.admit() is None
    assert cb.record(ok=True) is False
    assert cb.state.value == "closed"
    assert cb.admit() is None


def test_retry_after_is_honoured(sink: Sink) -> None:
    """A 429 with ``Retry-After: 7`` makes the batch wait exactly 7 s (injected clock) and
    then it is delivered; it counts as retried."""
    fake = FakeTime()
    sink.reply_with(Reply(status=429, retry_after=7))
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest}, fake=fake)
    d.enqueue("s", message(1), render)
    assert d.flush(5)
    assert fake.sleeps == [7.0]
    assert [r.status for r in sink.requests] == [429, 200]
    s = d.stats()["s"]
    assert (s["retried"], s["delivered"]) == (1, 1)
    assert identity_holds(s)
    d.close()


def test_backoff_between_retries_uses_jitter(sink: Sink) -> None:
    """Without Retry-After, retries wait rng()·base·2^(n-1) (rng injected)."""
    fake = FakeTime()
    sink.reply_with(Reply(status=503), Reply(status=500), Reply(status=408))
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest}, DeliveryConfig(backoff_base=0.5), fake=fake,
                      rng=lambda: 0.5)
    d.enqueue("s", message(1), render)
    assert d.flush(5)
    assert fake.sleeps == [0.25, 0.5, 1.0]
    d.close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_permanent_4xx_dead_letters_without_retry(sink: Sink, status: int) -> None:
    """4xx other than 408/429 dead-letters the batch at once; flush reports False."""
    sink.reply_with(Reply(status=status))
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest}, fake=FakeTime())
    for i in range(3):
        d.enqueue("s", message(i), render)
    assert d.flush(5) is False
    s = d.stats()["s"]
    assert (s["dead_lettered"], s["retried"], len(sink.requests)) == (3, 0, 1)
    assert identity_holds(s)
    d.close()


def test_exhausted_retries_dead_letter(sink: Sink) -> None:
    """After ``max_retries`` retries the batch is dead-lettered (1 + max_retries attempts)."""
    sink.set_default(Reply(status=503))
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest}, DeliveryConfig(max_retries=3, breaker_threshold=100),
                      fake=FakeTime())
    d.enqueue("s", message(1), render)
    assert d.flush(5) is False
    s = d.stats()["s"]
    assert (s["dead_lettered"], s["retried"], len(sink.requests)) == (1, 3, 4)
    assert "503" in s["last_error"]
    d.close()


def test_breaker_waits_for_the_cooldown_then_probes(sink: Sink) -> None:
    """After ``breaker_threshold`` failures the next attempt waits the cool-down; the probe
    succeeds and the breaker closes."""
    fake = FakeTime()
    sink.reply_with(Reply(status=503), Reply(status=503))
    dest = SinkDestination("s", f"{sink.url}/b")
    d = make_delivery({"s": dest}, DeliveryConfig(breaker_threshold=2, breaker_cooldown=30.0),
                      fake=fake, rng=lambda: 0.0)
    d.enqueue("s", message(1), render)
    assert d.flush(5)
    assert fake.sleeps == [0.0, 0.0, 30.0]
    assert d.stats()["s"]["breaker"] == "closed"
    d.close()


@pytest.mark.parametrize("spool", ["off", "group", "sync"])
def test_outage_then_recovery_delivers_everything(
    sink: Sink, tmp_path: object, spool: str
) -> None:
    """The sink answers 503 (and drops connections) for a while, then recovers: every event
    is delivered, at least once, and the identity holds throughout."""
    sink.set_default(Reply(status=503))
    sink.reply_with(Reply(reset=True))
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=20, interval=0.01))
    cfg = DeliveryConfig(max_retries=1_000, spool=SpoolMode(spool),
                         spool_path=f"{tmp_path}/spool.db")
    d = make_delivery({"s": dest}, cfg, fake=FakeTime())
    for i in range(300):
        d.enqueue("s", message(i), render)
        if i % 50 == 0:
            assert identity_holds(d.stats()["s"])
    assert sink.wait_for(lambda s: len(s.requests) >= 20)
    assert identity_holds(d.stats()["s"])
    sink.set_default(Reply())
    assert d.flush(10)
    assert set(sink.message_ids()) == {f"m-{i}" for i in range(300)}
    s = d.stats()["s"]
    assert s["delivered"] == 300
    assert s["retried"] > 0
    assert identity_holds(s)
    assert d.close()


def test_hung_destination_does_not_delay_a_healthy_one(sink_factory: object) -> None:
    """While one destination's requests hang, the other receives all of its events and
    enqueue keeps returning at once."""
    hung, healthy = sink_factory(), sink_factory()  # type: ignore[operator]
    hung.set_default(Reply(hang=True))
    d = make_delivery({
        "hung": SinkDestination("hung", f"{hung.url}/b", BatchConfig(max_events=10)),
        "ok": SinkDestination("ok", f"{healthy.url}/b", BatchConfig(max_events=10)),
    })
    for i in range(200):
        d.enqueue("hung", message(i), render)
        d.enqueue("ok", message(i), render)
    assert wait_stats(d, lambda st: st["ok"]["delivered"] == 200, timeout=10)
    assert sorted(healthy.message_ids()) == sorted(f"m-{i}" for i in range(200))
    assert hung.wait_for(lambda s: len(s.requests) >= 1)
    assert d.stats()["hung"]["delivered"] == 0
    hung.release()
    assert d.flush(10)
    d.close()


def test_enqueue_never_waits_for_the_network(sink: Sink) -> None:
    """Against a hung destination, 10,000 enqueues finish in far less time than one request
    would take to time out (they only append)."""
    sink.set_default(Reply(hang=True))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                      DeliveryConfig(request_timeout=30))
    d.enqueue("s", message(0), render)
    assert sink.wait_for(lambda s: len(s.requests) >= 1)
    t = time.perf_counter()
    for i in range(10_000):
        d.enqueue("s", message(i), render)
    assert time.perf_counter() - t < 5.0
    assert wait_stats(d, lambda st: identity_holds(st["s"]))
    sink.release()
    d.close()
