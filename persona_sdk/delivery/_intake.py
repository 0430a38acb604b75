"""The delivery thread's intake router: what callers submitted, routed into the outboxes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._outbox import Routed

if TYPE_CHECKING:
    from ._delivery import Delivery
    from ._state import Thread

__all__ = ["route_intake", "route_intake_now"]

_NEVER = 1 << 62
_CHUNK = 512  #: messages routed per step, so that sends in flight are served in between
#: While events flow, the intake is routed this often (seconds) without any wake-up call
#: from the callers; once it stays empty, the next event wakes the thread itself.
_INTAKE_TICK = 0.005
_ROUTE_CHUNK = 256  #: messages routed per hold of the routing lock
_NONE: dict[str, Any] = {}  #: sync mode: no outbox is taken directly


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


def route_intake_now(d: Delivery, limit: int) -> int:
    """``Delivery.route_pending``: route up to ``limit`` messages waiting in ``d``'s intake on
    the calling thread (the delivery thread's, or a caller's in stats/flush/forget)."""
    intake = d._intake
    pop = intake.popleft
    enqueue = d.enqueue
    # sync mode: the writer's enqueue spools each event, so always through it
    fast = not d._state.sync
    done = 0
    while intake and done < limit:
        with d._route_lock:
            # only holders of this lock pop: the n messages are there (callers only append)
            n = min(_ROUTE_CHUNK, limit - done, len(intake))
            done += n
            # read once a chunk: configure swaps the whole map, and a message routed with the
            # previous one races the same way as one routed just before the swap
            boxes = d._boxes if fast else _NONE
            for _ in range(n):
                item = pop()
                msg: Any
                spare: Routed | None
                if isinstance(item, Routed):  # submit's (an exact-type match: cheap for track)
                    msg, fn, spare = item.msg, item.fn, item
                else:  # a tuple that is its own message, routed by item[0] (submit_item)
                    msg, fn, spare = item, item[0], None
                try:  # _route and enqueue, inlined: this loop runs for every event
                    for destination, render in fn(msg):
                        box = boxes.get(destination)
                        if box is not None:
                            # the usual case: room, and no wake-up due; the intake's
                            # Routed (no one else holds it) carries the first render on
                            inbox = box.inbox
                            k = len(inbox)
                            if k < box.limit and k < box.wake_n:
                                if spare is not None:
                                    spare.fn = render
                                    inbox.append(spare)
                                    spare = None
                                else:
                                    inbox.append(Routed(msg, render))
                                continue
                        enqueue(destination, msg, render)
                except Exception as exc:
                    d._route_failed(exc)
    return done
