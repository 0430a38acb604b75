"""The delivery thread's intake router: what callers submitted, routed into the outboxes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._state import Thread

__all__ = ["route_intake"]

_NEVER = 1 << 62
_CHUNK = 512  #: messages routed per step, so that sends in flight are served in between
#: While events flow, the intake is routed this often (seconds) without any wake-up call
#: from the callers; once it stays empty, the next event wakes the thread itself.
_INTAKE_TICK = 0.005


async def route_intake(w: Thread) -> None:
    """Route what callers submitted into the outboxes, until cancelled."""
    # A chunk at a time, so that sends in flight are served in between. Callers never pay
    # a wake-up while events flow:
    # a timer tick picks them up; only the first event after a quiet tick wakes us.
    state = w.state
    intake, arm, route_pending = state.intake, state.arm_intake, state.route_pending
    event = w.intake_event
    assert event is not None
    loop = w.loop
    while True:
        event.clear()
        arm(_NEVER)
        routed = 0
        while intake:
            routed += route_pending(_CHUNK)
            await asyncio.sleep(0)
        if routed:
            state.notify()  # a flush may be waiting on events that no tag routed
            arm(_CHUNK)  # armed for a burst; the tick covers the rest
            timer = loop.call_later(_INTAKE_TICK, event.set)
        else:
            arm(0)
            timer = None
        if intake:  # submitted between the last pop and arming
            if timer is not None:
                timer.cancel()
            continue
        await event.wait()
        if timer is not None:
            timer.cancel()
