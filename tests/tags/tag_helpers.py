"""Helpers for router tests: messages with consent."""

from __future__ import annotations

from typing import Any

from persona_sdk.events import Message


def message(
    event: str = "Order Completed",
    *,
    consent: dict[str, Any] | None = None,
    gpc: Any = None,
    properties: dict[str, Any] | None = None,
    type_: str = "track",
    **fields: Any,
) -> Message:
    """A track message; ``consent`` becomes ``context.consent.categoryPreferences``."""
    ctx: dict[str, Any] = {}
    if consent is not None:
        ctx["consent"] = {"categoryPreferences": consent}
    if gpc is not None:
        ctx["gpc"] = gpc
    return Message(
        type=type_,
        message_id=fields.pop("message_id", "m-1"),
        anonymous_id=fields.pop("anonymous_id", "a-1"),
        event=event if type_ == "track" else None,
        properties=properties if properties is not None else {"revenue": 42.0},
        context=ctx,
        timestamp=fields.pop("timestamp", 1_700_000_000.0),
        **fields,
    )
