"""The delivery thread's endings: closing the destinations a reload replaced, and shutdown
(unsent batches put back, the spool committed and closed, what is lost counted)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from ._outbox import DONE, Outbox, bump
from ._send import abandon
from ._spool_thread import commit

if TYPE_CHECKING:
    from ._state import Thread

__all__ = ["close_retired", "shutdown"]

log = logging.getLogger("persona_sdk.delivery")

_NEVER = 1 << 62


def close_retired(w: Thread, box: Outbox, everything: bool = False) -> None:
    """Close the destinations a reload replaced (and ``box``'s own once it is retired, or
    ``everything``) when no batch can still be using them."""
    olds = list(box.old_destinations)
    box.old_destinations.clear()
    if everything or box.retired:
        olds.append(box.destination)
    for dest in olds:
        if id(dest) not in w.closed:
            w.closed.add(id(dest))
            _close_destination(box.name, dest)
            aclose = getattr(dest, "aclose", None)
            if callable(aclose):
                # an optional ``async aclose()``: asyncio clients bound to this loop
                w.loop.create_task(_aclose_destination(box.name, aclose))


async def shutdown(w: Thread, writer: asyncio.Task[None] | None) -> None:
    """End the delivery thread: cancel the tasks, put back what was never sent, commit the
    spool, count what is lost, close destinations, the client and the spool."""
    w.stopping = True
    tasks = [t for t in asyncio.all_tasks(w.loop) if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for box, items in w.unstarted.values():
        abandon(w, box, items)
        box.busy -= 1
    w.unstarted.clear()
    state = w.state
    state.route_pending(_NEVER)
    boxes = state.boxes()
    for box in boxes:
        w.drain(box)
    try:
        commit(w)
    except Exception:  # pragma: no cover - logged, the rest of shutdown must run
        log.exception("persona-sdk final spool commit failed")
    keep = state.spool is not None
    for box in boxes:
        with box.lock:
            for it in box.pending:
                if keep and it.rowid is not None:
                    box.backlog += 1
                else:
                    bump(box.dropped, "closed")
                it.state = DONE
            box.pending.clear()
            box.held = box.held_bytes = box.pending_spooled = box.front_restored = 0
            box.room()
        close_retired(w, box, everything=True)
    closing = [t for t in asyncio.all_tasks(w.loop) if t is not asyncio.current_task()]
    await asyncio.gather(*closing, return_exceptions=True)
    if w.client is not None:
        await w.client.aclose()
    if state.spool is not None:
        try:
            state.spool.close()
        except sqlite3.Error:  # pragma: no cover
            log.exception("persona-sdk spool close failed")
    state.notify()


async def _aclose_destination(name: str, aclose: Any) -> None:
    try:
        await aclose()
    except Exception:
        log.exception("persona-sdk destination %r failed to close", name)


def _close_destination(name: str, destination: Any) -> None:
    try:
        destination.close()
    except Exception:
        log.exception("persona-sdk destination %r failed to close", name)
