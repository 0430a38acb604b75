"""Sending one batch: the retry loop behind the circuit breaker, and its bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..plugins import SendOutcome, SendResult
from ._outbox import DONE, PENDING, Item, Outbox
from ._tracing import finish_span, start_span

if TYPE_CHECKING:
    from ._state import Thread

__all__ = ["abandon", "deliver", "finish", "send_once"]

log = logging.getLogger("persona_sdk.delivery")

_DATA = attrgetter("data")


async def deliver(w: Thread, box: Outbox, items: list[Item], destination: Any) -> None:
    """Send ``items`` until delivered, dead or out of retries (waiting out backoff,
    ``Retry-After`` and an open breaker with ``w.sleep``)."""
    assert w.client is not None
    w.unstarted.pop(id(items), None)
    payload = list(map(_DATA, items))
    breaker = box.breaker
    attempt = 0
    try:
        while True:
            while (refusal := breaker.admit()) is not None:
                if refusal.wait > 0:
                    await w.sleep(refusal.wait)
                else:  # a half-open probe is under way: wait for its verdict
                    await box.breaker_changed.wait()
            with start_span(box.name, len(payload), attempt) as span:
                result = await send_once(w, destination, payload)
                finish_span(span, result.outcome.value, result.detail, result.status)
            # answered (delivered, or refused for good): the destination is up
            answered = result.outcome is not SendOutcome.RETRY
            opened = breaker.record(ok=answered)
            _changed(box)
            if answered:
                dead = None if result.outcome is SendOutcome.DELIVERED else "rejected"
                finish(w, box, items, dead, result)
                return
            if opened:
                log.warning("persona-sdk destination %r: circuit breaker open (%s)",
                            box.name, result.detail)
            box.last_error = result.detail
            if attempt >= box.max_retries:
                finish(w, box, items, "retries_exhausted", result)
                return
            attempt += 1
            with box.lock:
                box.retried += len(items)
            await w.sleep(w.backoff.delay(attempt, result.retry_after))
    except asyncio.CancelledError:
        breaker.release()
        _changed(box)
        abandon(w, box, items)
        raise
    finally:
        box.busy -= 1
        if box.event is not None:
            box.event.set()
        w.state.notify()


async def send_once(w: Thread, destination: Any, payload: Sequence[bytes]) -> SendResult:
    """One ``send`` call; an exception or a wrong return type becomes a ``SendResult``."""
    assert w.client is not None
    try:
        result = await destination.send(payload, w.client)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return SendResult.retry(f"{type(exc).__name__}: {exc}")
    if not isinstance(result, SendResult):
        return SendResult.dead(f"send() returned {type(result).__name__}, not SendResult")
    return result


def finish(
    w: Thread, box: Outbox, items: list[Item], dead: str | None, result: SendResult
) -> None:
    """Count a batch as delivered (``dead`` is None) or dead-lettered; tell the spool."""
    n = len(items)
    with box.lock:
        box.in_flight -= n
        if dead is None:
            box.delivered += n
        else:
            box.dead_lettered += n
            box.last_error = result.detail or dead
    if w.state.spool is not None:
        for it in items:
            it.state = DONE
    if dead is not None:
        log.warning("persona-sdk destination %r: dead-lettered %d events (%s: %s)",
                    box.name, n, dead, result.detail)
    if w.state.spool is not None and w.commit_event is not None:
        w.deletes.extend(it.rowid for it in items if it.rowid is not None)
        if dead is not None:
            w.dead.extend((box.name, it, dead, result.status) for it in items)
        w.commit_event.set()


def abandon(w: Thread, box: Outbox, items: list[Item]) -> None:
    """Put the events of a cancelled send back at the front of the queue."""
    # Shutdown cancelled a send: the events go back to the front of the queue, where the
    # final commit and the shutdown bookkeeping find them.
    with box.lock:
        box.in_flight -= len(items)
        for it in reversed(items):
            it.state = PENDING
            box.pending.appendleft(it)
            box.held += 1
            box.held_bytes += len(it.data)
            if it.rowid is not None:
                box.pending_spooled += 1
        box.room()


def _changed(box: Outbox) -> None:
    # wake the sends waiting for a half-open probe's verdict
    event = box.breaker_changed
    box.breaker_changed = asyncio.Event()
    event.set()
