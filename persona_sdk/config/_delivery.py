"""Delivery configuration: destinations, queues, batching, retries and the spool."""

from __future__ import annotations

from typing import Any

from attrs import Factory, field, frozen

from .._secret import mark_secrets
from .._strenum import StrEnum
from ..plugins import BatchConfig

__all__ = ["BatchConfig", "DeliveryConfig", "DestinationConfig", "Overflow", "SpoolMode"]


class SpoolMode(StrEnum):
    """Durability of queued events: ``off`` (memory), ``group`` (commit every 50 ms), ``sync``."""

    OFF = "off"
    GROUP = "group"
    SYNC = "sync"


class Overflow(StrEnum):
    """What a full queue drops."""

    DROP_NEWEST = "drop_newest"
    DROP_OLDEST = "drop_oldest"


@frozen(kw_only=True)
class DestinationConfig:
    """One destination: its plugin ``type``, the consent purposes it needs and its options.

    Strings of ``options`` under a secret-looking name (``api_secret``, ``access_token``,
    ``write_key``, ``headers`` ...) are made :class:`~persona_sdk.Secret` (redacted repr).
    """

    type: str
    enabled: bool = True
    consent: list[str] = Factory(list)
    options: dict[str, Any] = field(factory=dict, converter=mark_secrets)
    batch: BatchConfig | None = None
    max_queue_events: int | None = None
    max_queue_bytes: int | None = None
    overflow: Overflow | None = None


@frozen(kw_only=True)
class DeliveryConfig:
    """Defaults for every destination's outbox, and the spool.

    Usage::

        DeliveryConfig(spool=SpoolMode.SYNC, spool_path="/var/lib/app/spool.sqlite3",
                       max_queue_events=50_000, overflow=Overflow.DROP_OLDEST)

    ``spool``, ``spool_path`` and ``spool_fsync`` take effect when the ``Delivery`` is built;
    the other fields are applied again on every reload.
    """

    spool: SpoolMode = SpoolMode.OFF
    spool_path: str = "persona-spool.sqlite3"
    max_queue_events: int = 10_000
    max_queue_bytes: int = 16 * 1024 * 1024
    overflow: Overflow = Overflow.DROP_NEWEST
    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    shutdown_timeout: float = 5.0
    #: Batches of one destination sent at the same time (a slow request does not stall it).
    concurrency: int = 2
    #: Consecutive failed sends that open a destination's circuit breaker.
    breaker_threshold: int = 5
    #: Seconds an open breaker waits before letting one probe batch through.
    breaker_cooldown: float = 30.0
    #: Seconds one HTTP request may take (connect, write, read) on the shared client.
    request_timeout: float = 10.0
    #: ``group`` spool mode commits at least this often (seconds): the loss window.
    group_commit_interval: float = 0.05
    #: fsync every spool commit (survives power loss, not only ``kill -9``; slower).
    spool_fsync: bool = False
    #: The spool file's cap (bytes of SQLite pages in use). In ``sync`` mode the spool is the
    #: buffer: at the cap ``track()`` raises ``SpoolFullError`` instead of returning an id.
    spool_max_bytes: int = 1 << 30
