"""The delivery thread's per-event loop: a chunk of routed events rendered and encoded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..events import MAX_EVENT_BYTES, UnencodableEvent
from ._outbox import Item, Outbox

if TYPE_CHECKING:
    from ._state import NoteRejected

__all__ = ["encode_chunk"]


def encode_chunk(
    encode: Callable[[Any], bytes], note_rejected: NoteRejected, raw: list[Any], box: Outbox
) -> tuple[list[Item], int, dict[str, int]]:
    """Render and encode a chunk of ``box``'s routed events: the encoded items, their bytes,
    and the events refused by reason (each noted with ``note_rejected``)."""
    # the per-event loop of the delivery thread: keep it lean (locals, no attribute hops)
    limit = MAX_EVENT_BYTES
    items: list[Item] = []
    append = items.append
    size = 0
    rejects: dict[str, int] = {}
    for routed in raw:
        msg = routed.msg
        try:
            doc = routed.fn(msg)
        except Exception as exc:
            reason = "encode_error" if isinstance(exc, UnencodableEvent) else "render_error"
            rejects[reason] = rejects.get(reason, 0) + 1
            note_rejected(box, reason, msg, exc, 0)
            continue
        if doc is None:
            rejects["skipped"] = rejects.get("skipped", 0) + 1
            continue
        if doc.__class__ is bytes:  # already encoded (and shared between destinations)
            data: bytes = doc
        else:
            try:
                data = encode(doc)
            except (TypeError, ValueError, OverflowError) as exc:
                rejects["encode_error"] = rejects.get("encode_error", 0) + 1
                note_rejected(box, "encode_error", msg, exc, 0)
                continue
        n = len(data)
        if n > limit:
            rejects["too_large"] = rejects.get("too_large", 0) + 1
            note_rejected(box, "too_large", msg, None, n)
            continue
        size += n
        append(Item(data, msg.message_id, msg.user_id, msg.anonymous_id))
    return items, size, rejects
