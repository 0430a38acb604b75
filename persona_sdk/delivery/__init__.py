"""Delivery: per-destination outboxes, batching, retries, circuit breakers and the spool.

``Delivery`` is what ``Persona`` enqueues routed events into; it runs one background thread
for every destination (started on the first event) and keeps exact counters per destination.
See ``docs/delivery.md``.
"""

from ..config import BatchConfig, DeliveryConfig, DestinationConfig, Overflow, SpoolMode
from ._delivery import Delivery
from ._retry import Backoff, BreakerState, CircuitBreaker

__all__ = [
    "Backoff",
    "BatchConfig",
    "BreakerState",
    "CircuitBreaker",
    "Delivery",
    "DeliveryConfig",
    "DestinationConfig",
    "Overflow",
    "SpoolMode",
]
