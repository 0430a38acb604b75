"""Helpers for destination tests: Segment events and the encode step the delivery layer does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from persona_sdk.events import Message, to_segment


def segment_event(
    event: str = "Order Completed",
    *,
    type_: str = "track",
    message_id: str = "m-1",
    timestamp: float = 1_700_000_000.0,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Segment wire dict, as ``to_segment`` makes it."""
    msg = Message(
        type=type_,
        message_id=message_id,
        anonymous_id=fields.pop("anonymous_id", "a-1"),
        event=event if type_ == "track" else None,
        properties=properties if properties is not None else {"revenue": 42.0},
        context=context if context is not None else {},
        timestamp=timestamp,
        **fields,
    )
    return to_segment(msg)


def encode_all(dest: Any, events: Iterable[dict[str, Any]]) -> list[bytes]:
    """What ``send`` receives: each non-None ``transform`` output, JSON-encoded once."""
    out = []
    for e in events:
        t = dest.transform(e)
        if t is not None:
            out.append(msgspec.json.encode(t))
    return out
