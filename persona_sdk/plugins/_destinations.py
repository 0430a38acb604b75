"""The destination contract: ``Destination``, its factory, its batching and what a send returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import frozen

from .._strenum import StrEnum
from ._privacy import PiiConfig

if TYPE_CHECKING:
    import httpx

__all__ = ["BatchConfig", "Destination", "DestinationFactory", "SendOutcome", "SendResult"]


@frozen(kw_only=True)
class BatchConfig:
    """Batching per destination: by count, bytes and interval (seconds)."""

    max_events: int = 100
    max_bytes: int = 500_000
    interval: float = 1.0
    gzip: bool = True




class SendOutcome(StrEnum):
    """What became of one batch sent to a destination."""

    DELIVERED = "delivered"
    RETRY = "retry"  #: transient (5xx, 408, 429, network): try again with backoff
    DEAD = "dead"  #: permanent (other 4xx, invalid payload): dead-letter the batch


@frozen(kw_only=True)
class SendResult:
    """The outcome of ``Destination.send``; ``retry_after`` honours a server's Retry-After."""

    outcome: SendOutcome
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""

    @classmethod
    def ok(cls, status: int | None = None) -> SendResult:
        """The batch was accepted."""
        return cls(outcome=SendOutcome.DELIVERED, status=status)

    @classmethod
    def retry(
        cls, detail: str, *, status: int | None = None, retry_after: float | None = None
    ) -> SendResult:
        """A transient failure: the batch is retried with backoff."""
        return cls(outcome=SendOutcome.RETRY, status=status, retry_after=retry_after, detail=detail)

    @classmethod
    def dead(cls, detail: str, *, status: int | None = None) -> SendResult:
        """A permanent failure: the batch is dead-lettered (counted, kept with the spool on)."""
        return cls(outcome=SendOutcome.DEAD, status=status, detail=detail)


@runtime_checkable
class Destination(Protocol):
    """Where events go. One instance per configured destination.

    ``transform`` must not mutate its input (the same dict is shared by every tag routing the
    event). A destination that applies PII rules itself sets ``handles_pii = True``; for any
    other, the router applies the container's PII policy before ``transform``.

    ``transform`` runs once per routed event (on the caller's thread in ``sync`` spool mode,
    otherwise on the delivery thread); its output is JSON-encoded once and what ``send``
    receives are those encoded items, ready to be joined into a request body. ``send`` runs on
    the single delivery thread's event loop and must not block it.

    A destination whose ``transform`` returns its input unchanged may say so with a true
    ``passthrough`` attribute: when no tag mapping or router-side PII rule changes the event
    either, ``transform`` is skipped and the event's Segment JSON is encoded once and shared
    by every such destination.

    A destination holding asyncio clients may add ``async aclose()``: it is awaited on the
    delivery loop after ``close()``, when the destination is retired or at shutdown.
    """

    name: str
    batch: BatchConfig

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Shape one Segment-spec event dict for this destination (``None`` skips it)."""
        ...

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Deliver one batch of encoded items."""
        ...

    def close(self) -> None:
        """Release files or connections; called once at shutdown."""
        ...


class DestinationFactory(Protocol):
    """Builds a destination from its container entry. Raise ``ConfigError`` with paths
    relative to ``options`` (``url: required field is missing``); the loader prefixes them
    with ``destinations.<name>.options``."""

    def __call__(
        self, *, name: str, options: Mapping[str, Any], pii: PiiConfig
    ) -> Destination: ...
