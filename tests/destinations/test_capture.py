"""``persona_sdk.testing.CaptureDestination``: in memory, thread-safe, scriptable."""

from __future__ import annotations

import threading

import httpx
import msgspec

from persona_sdk.plugins import SendOutcome, SendResult
from persona_sdk.testing import CaptureDestination


async def test_records_batches_and_scripted_failures() -> None:
    """Delivered batches are recorded in order; scripted outcomes answer first (failed
    batches are not recorded); ``clear`` forgets everything."""
    cap = CaptureDestination()
    items = [msgspec.json.encode({"n": i}) for i in range(3)]
    cap.fail_next(SendResult.retry("down", status=503))
    async with httpx.AsyncClient() as client:
        first = await cap.send(items, client)
        second = await cap.send(items, client)
    assert first.outcome is SendOutcome.RETRY
    assert second.outcome is SendOutcome.DELIVERED
    assert cap.events == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert cap.batches == [[{"n": 0}, {"n": 1}, {"n": 2}]]
    cap.clear()
    assert cap.events == []


async def test_wait_for_wakes_when_events_arrive() -> None:
    """``wait_for`` blocks until enough events were delivered (or times out)."""
    cap = CaptureDestination()
    assert cap.wait_for(1, timeout=0.01) is False
    done = threading.Event()
    result: list[bool] = []

    def waiter() -> None:
        result.append(cap.wait_for(2, timeout=10))
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    async with httpx.AsyncClient() as client:
        await cap.send([b'{"a":1}', b'{"a":2}'], client)
    assert done.wait(10)
    t.join()
    assert result == [True]
