"""Test doubles for applications that embed persona-sdk.

``CaptureDestination`` records, in memory, what would have been sent::

    from persona_sdk import Persona
    from persona_sdk.testing import CaptureDestination

    capture = CaptureDestination()
    persona = Persona({"tags": [{"name": "all", "destination": "capture"}]},
                      destinations={"capture": capture})
    persona.track("Order Completed", anonymous_id="a-1", properties={"revenue": 42.0})
    assert capture.wait_for(1, timeout=5)
    assert capture.events[0]["event"] == "Order Completed"

It is also registered as the ``capture`` destination type, for containers used in tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import msgspec
from attrs import frozen

from .plugins import BatchConfig, PiiConfig, SendOutcome, SendResult

__all__ = ["CaptureDestination"]


@frozen(kw_only=True)
class CaptureOptions:
    """Options of the ``capture`` destination: its batching (small and quick by default)."""

    max_events: int = 100
    interval: float = 0.05


class CaptureDestination:
    """An in-memory destination: ``events`` holds every delivered event, in order.

    Thread-safe. ``fail_next`` scripts outcomes of the next ``send`` calls, to test retries
    and dead letters. The container's PII policy is applied to what it receives (it does not
    set ``handles_pii``), so tests see what a plugin destination would get.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        name: str = "capture",
        *,
        options: Mapping[str, Any] | None = None,
        pii: PiiConfig | None = None,
    ) -> None:
        from .config import structure

        opts = structure(dict(options or {}), CaptureOptions)
        self.name = name
        self.batch = BatchConfig(max_events=opts.max_events, interval=opts.interval, gzip=False)
        self._cond = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._batches: list[list[dict[str, Any]]] = []
        self._script: deque[SendResult] = deque()
        self.closed = False

    #: ``transform`` returns its input: what is captured is what the router rendered
    passthrough = True

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Events are captured as routed (after the tag's mapping and the PII policy)."""
        return event

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Record one batch (or answer with the next scripted outcome)."""
        with self._cond:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None and scripted.outcome is not SendOutcome.DELIVERED:
            return scripted
        batch = [msgspec.json.decode(item) for item in items]
        with self._cond:
            self._batches.append(batch)
            self._events.extend(batch)
            self._cond.notify_all()
        return scripted or SendResult.ok()

    def fail_next(self, *results: SendResult) -> None:
        """The next ``send`` calls answer these results, in order (then deliver again)::

        capture.fail_next(SendResult.retry("down", status=503), SendResult.dead("bad"))
        """
        with self._cond:
            self._script.extend(results)

    @property
    def events(self) -> list[dict[str, Any]]:
        """A copy of the delivered events, in delivery order."""
        with self._cond:
            return list(self._events)

    @property
    def batches(self) -> list[list[dict[str, Any]]]:
        """A copy of the delivered batches."""
        with self._cond:
            return [list(b) for b in self._batches]

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` events were delivered; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def clear(self) -> None:
        """Forget the delivered events and any scripted outcomes."""
        with self._cond:
            self._events.clear()
            self._batches.clear()
            self._script.clear()

    def close(self) -> None:
        """Mark the destination closed (events stay readable)."""
        self.closed = True

    def __repr__(self) -> str:
        return f"CaptureDestination(name={self.name!r}, events={len(self._events)})"
