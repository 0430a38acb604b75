"""Helpers for the delivery tests: a small Segment-style destination, fake time, messages.

``SinkDestination`` implements the ``Destination`` protocol the way a plugin author would:
it POSTs ``{"batch": [...]}`` (gzip when ``batch.gzip``) and maps HTTP answers to
``SendResult`` (2xx delivered; 408, 429, 5xx and network errors retried, honouring
``Retry-After``; any other 4xx dead).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from persona_sdk.config import Container, DestinationConfig
from persona_sdk.delivery import BatchConfig, Delivery, DeliveryConfig
from persona_sdk.events import Message, to_segment
from persona_sdk.plugins import SendResult

__all__ = ["FakeTime", "SinkDestination", "make_delivery", "message", "render"]

_ids = itertools.count()


def message(i: int | None = None, *, user: str | None = None, anon: str = "anon-1",
            size: int = 0) -> Message:
    """A track message with a predictable id (``m-<n>``)."""
    n = next(_ids) if i is None else i
    props: dict[str, Any] = {"n": n}
    if size:
        props["pad"] = "x" * size
    return Message(type="track", message_id=f"m-{n}", anonymous_id=anon, user_id=user,
                   event="Order Completed", properties=props, timestamp=1_700_000_000.0)


def render(msg: Message) -> dict[str, Any] | None:
    """The identity mapping: the Segment wire dict."""
    return to_segment(msg)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class SinkDestination:
    """POSTs Segment batches to ``url``."""

    def __init__(self, name: str, url: str, batch: BatchConfig | None = None) -> None:
        self.name = name
        self.url = url
        self.batch = batch or BatchConfig(max_events=100, interval=0.05, gzip=True)
        self.closed = 0
        self.sends = 0

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        return event

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        self.sends += 1
        body = b'{"batch":[' + b",".join(items) + b"]}"
        headers = {"Content-Type": "application/json"}
        if self.batch.gzip:
            c = zlib.compressobj(1, zlib.DEFLATED, 31)
            body = c.compress(body) + c.flush()
            headers["Content-Encoding"] = "gzip"
        try:
            r = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        s = r.status_code
        if 200 <= s < 300:
            return SendResult.ok(s)
        if s in (408, 429) or s >= 500:
            return SendResult.retry(f"HTTP {s}", status=s,
                                    retry_after=_retry_after(r.headers.get("retry-after")))
        return SendResult.dead(f"HTTP {s}", status=s)

    def close(self) -> None:
        self.closed += 1


class FakeTime:
    """A clock that only moves when the delivery layer sleeps (backoff, Retry-After,
    breaker cool-down): retries run at full speed and every wait is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_delivery(
    destinations: Mapping[str, Any],
    config: DeliveryConfig | None = None,
    *,
    per_destination: Mapping[str, DestinationConfig] | None = None,
    fake: FakeTime | None = None,
    rng: Any = None,
) -> Delivery:
    """A configured ``Delivery`` (fake time and a fixed jitter when given)."""
    config = config or DeliveryConfig()
    kwargs: dict[str, Any] = {}
    if fake is not None:
        kwargs = {"clock": fake.clock, "sleep": fake.sleep}
    if rng is not None:
        kwargs["rng"] = rng
    d = Delivery(config, **kwargs)
    container = Container(delivery=config, destinations=dict(per_destination or {}))
    d.configure(dict(destinations), container)
    return d


def identity_holds(s: Mapping[str, Any]) -> bool:
    """The accounting identity for one destination's counters."""
    return bool(s["tracked"] == s["delivered"] + s["queued"] + s["spooled"] + s["in_flight"]
                + s["dropped_total"] + s["rejected_total"] + s["dead_lettered"])


def wall() -> float:
    """Monotonic seconds (for reporting only, never for assertions)."""
    return time.monotonic()


def wait_stats(d: Delivery, predicate: Any, timeout: float = 5.0) -> bool:
    """Wait until ``predicate(d.stats())`` holds, re-checked whenever the delivery thread
    reports progress (a condition variable, no polling)."""
    idle = d._state.idle
    with idle:
        return bool(idle.wait_for(lambda: predicate(d.stats()), timeout))
