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
from ._ids import check_integrations as check_integrations
from ._ids import coerce_id as coerce_id
from ._ids import integration_enabled as integration_enabled
from ._ingest import WIRE_GROWTH as WIRE_GROWTH
from ._ingest import check_message as check_message
from ._ingest import decode_checked as decode_checked
from ._ingest import decode_messages as decode_messages
from ._model import MESSAGE_IDS as MESSAGE_IDS
from ._model import UnencodableEvent as UnencodableEvent
from ._model import consent_of as consent_of
from ._model import to_segment_json as to_segment_json
from ._plan import TrackingPlan as TrackingPlan
from ._values import check_finite as check_finite
from ._values import has_nonfinite as has_nonfinite
from ._values import to_epoch as to_epoch

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
