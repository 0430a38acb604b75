"""persona-nats: NATS JetStream for persona-sdk.

- ``JetStreamDestination``: publish events in packs (``Persona-Events`` header, or one per
  message with ``pack = 1``) with ``Nats-Msg-Id`` (server-side de-duplication), awaiting
  acknowledgements, retried by the outbox; entry point
  ``persona_sdk.destinations: jetstream``.
- ``NatsWorker``: ``persona worker --from nats://host:4222/STREAM`` consumes the stream with a
  durable consumer and delivers through the container's destinations, acknowledging only
  what was delivered; entry point ``persona_sdk.workers: nats``.
"""

from ._destination import PACK_HEADER, JetStreamDestination
from ._options import StreamOptions
from ._worker import NatsWorker

__all__ = ["PACK_HEADER", "JetStreamDestination", "NatsWorker", "StreamOptions"]
