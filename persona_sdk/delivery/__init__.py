"""Delivery: per-destination outboxes, batching, retries, circuit breakers and the spool.

``Delivery`` is what ``Persona`` enqueues routed events into; it runs one background thread
for every destination (started on the first event) and keeps exact counters per destination.
See ``docs/delivery.md``.
"""

from ..config import BatchConfig, DeliveryConfig, Overflow, SpoolMode
from ._delivery import Delivery

__all__ = ["BatchConfig", "Delivery", "DeliveryConfig", "Overflow", "SpoolMode"]
