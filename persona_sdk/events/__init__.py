"""Events: the Segment-shaped message model, validation and payload decoding."""

from ._ingest import IngestResult
from ._model import (
    MAX_EVENT_BYTES,
    EventType,
    Message,
    format_ts,
    message_id_problem,
    new_message_id,
    to_segment,
)

# isort: split
# For the facade, delivery, profiles and the tag layer only: not public (not in __all__).
from ._ingest import WIRE_GROWTH as WIRE_GROWTH
from ._ingest import check_message as check_message
from ._ingest import decode_messages as decode_messages
from ._model import UnencodableEvent as UnencodableEvent
from ._model import consent_of as consent_of
from ._model import to_segment_json as to_segment_json

__all__ = [
    "MAX_EVENT_BYTES",
    "EventType",
    "IngestResult",
    "Message",
    "format_ts",
    "message_id_problem",
    "new_message_id",
    "to_segment",
]
