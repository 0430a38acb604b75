"""What ``Delivery`` reports: counters per destination, and what ``close`` left behind."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._stats import DestinationStats
from ..events import MAX_EVENT_BYTES
from ._outbox import Outbox
from ._state import DeliveryState

if TYPE_CHECKING:
    from ..events import Message

__all__ = ["closed_counts", "rejection", "report_left", "snapshot"]

log = logging.getLogger("persona_sdk.delivery")


def snapshot(
    outboxes: Mapping[str, Outbox], unknown: Mapping[str, int], sync: bool
) -> dict[str, DestinationStats]:
    """Counters per destination (each set taken at one instant), with events sent to
    destinations that never existed counted as dropped ``unknown_destination``."""
    out = {name: box.snapshot(sync) for name, box in list(outboxes.items())}
    for name, n in list(unknown.items()):
        out.setdefault(name, _unknown_stats(n))
    return out


def closed_counts(outboxes: Mapping[str, Outbox]) -> dict[str, int]:
    """Events each destination dropped as ``closed`` so far."""
    return {name: box.dropped.get("closed", 0) for name, box in list(outboxes.items())}


def rejection(reason: str, msg: Message, exc: BaseException | None, size: int) -> str:
    """Why a destination refused ``msg``, as its ``last_error`` in ``stats()``."""
    if exc is not None:
        what = f"{reason}: {type(exc).__name__}: {exc}"
    elif reason == "too_large":
        what = f"too_large: {size} bytes is over the {MAX_EVENT_BYTES}-byte limit"
    else:
        what = reason
    return f"{what} (messageId {msg.message_id})"


def report_left(state: DeliveryState, closed_before: Mapping[str, int], *, stopped: bool) -> None:
    """Log what ``close`` could not deliver, per destination: lost (no spool), or kept in
    the spool for the next start."""
    lost: list[str] = []
    kept: list[str] = []
    for name, box in list(state.outboxes.items()):
        snap = box.snapshot(state.sync)
        gone = (snap["dropped"].get("closed", 0) - closed_before.get(name, 0)
                + snap["queued"] + snap["in_flight"])
        why = f", last error: {snap['last_error']}" if snap["last_error"] else ""
        if gone:
            lost.append(f"{name}: {gone}{why}")
        if snap["spooled"]:
            kept.append(f"{name}: {snap['spooled']}{why}")
    if lost:
        log.error(
            "persona-sdk: closed with events not delivered, %s (%s). To keep them "
            "across restarts, turn the spool on (delivery.spool = \"group\" or \"sync\"; "
            "see docs/delivery.md)",
            "now lost" if stopped else "lost unless the delivery thread, still stopping, "
            "spools them", "; ".join(lost),
        )
    if kept:
        log.warning(
            "persona-sdk: closed with events not delivered, kept in the spool %s for the "
            "next start (%s)", state.spool.path if state.spool else "", "; ".join(kept),
        )


def _unknown_stats(n: int) -> DestinationStats:
    return {
        "tracked": n, "delivered": 0, "queued": 0, "spooled": 0, "in_flight": 0,
        "retried": 0, "dead_lettered": 0, "dropped": {"unknown_destination": n},
        "dropped_total": n, "rejected": {}, "rejected_total": 0, "restored": 0,
        "breaker": "closed", "last_error": "",
    }
