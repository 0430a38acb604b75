"""Delivery configuration: destinations, queues, batching, retries and the spool."""

from __future__ import annotations

import enum
from typing import Any

from attrs import Factory, frozen

__all__ = ["BatchConfig", "DeliveryConfig", "DestinationConfig", "Overflow", "SpoolMode"]


class SpoolMode(str, enum.Enum):
    """Durability of queued events: ``off`` (memory), ``group`` (commit every 50 ms), ``sync``."""

    OFF = "off"
    GROUP = "group"
    SYNC = "sync"


class Overflow(str, enum.Enum):
    """What a full queue drops."""

    DROP_NEWEST = "drop_newest"
    DROP_OLDEST = "drop_oldest"


@frozen(kw_only=True)
class BatchConfig:
    """Batching per destination: by count, bytes and interval (seconds)."""

    max_events: int = 100
    max_bytes: int = 500_000
    interval: float = 1.0
    gzip: bool = True


@frozen(kw_only=True)
class DestinationConfig:
    """One destination: its plugin ``type``, the consent purposes it needs and its options."""

    type: str
    enabled: bool = True
    consent: list[str] = Factory(list)
    options: dict[str, Any] = Factory(dict)
    batch: BatchConfig | None = None
    max_queue_events: int | None = None
    max_queue_bytes: int | None = None
    overflow: Overflow | None = None


@frozen(kw_only=True)
class DeliveryConfig:
    """Defaults for every destination's outbox, and the spool."""

    spool: SpoolMode = SpoolMode.OFF
    spool_path: str = "persona-spool.sqlite3"
    max_queue_events: int = 10_000
    max_queue_bytes: int = 16 * 1024 * 1024
    overflow: Overflow = Overflow.DROP_NEWEST
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    shutdown_timeout: float = 5.0
