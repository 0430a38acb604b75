"""Events: the Segment-shaped message model, validation and payload decoding."""

from ._ingest import WIRE_GROWTH, IngestResult, check_message, decode_messages, decode_one
from ._model import (
    MAX_EVENT_BYTES,
    MAX_MESSAGE_ID_CHARS,
    EventType,
    Message,
    UnencodableEvent,
    consent_of,
    format_ts,
    message_id_problem,
    new_message_id,
    to_segment,
    to_segment_json,
)

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_MESSAGE_ID_CHARS",
    "WIRE_GROWTH",
    "EventType",
    "IngestResult",
    "Message",
    "UnencodableEvent",
    "check_message",
    "consent_of",
    "decode_messages",
    "decode_one",
    "format_ts",
    "message_id_problem",
    "new_message_id",
    "to_segment",
    "to_segment_json",
]
