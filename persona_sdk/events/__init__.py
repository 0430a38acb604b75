"""Events: the Segment-shaped message model, validation and payload decoding."""

# for the facade and the collector (not part of the public surface)
from ._ids import check_integrations as check_integrations
from ._ids import coerce_id as coerce_id
from ._ids import integration_enabled as integration_enabled
from ._ingest import WIRE_GROWTH as WIRE_GROWTH
from ._ingest import IngestResult, check_message, decode_messages, decode_one
from ._ingest import decode_checked as decode_checked
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
from ._plan import TrackingPlan as TrackingPlan
from ._values import check_finite as check_finite
from ._values import has_nonfinite as has_nonfinite
from ._values import to_epoch as to_epoch

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_MESSAGE_ID_CHARS",
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
