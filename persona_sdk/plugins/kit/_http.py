"""The one HTTP core every HTTP destination shares (built-in or not), sans-I/O first.

A destination only says which requests a batch becomes (:meth:`HttpDestinationBase.requests`)
and, if its API needs it, how to read an answer (:meth:`HttpDestinationBase.classify`). The
policy lives here, once:

- 2xx: delivered;
- 408, 429 and 5xx: retried, honouring ``Retry-After`` (seconds or an HTTP date);
- any other status: dead (dead-lettered by the delivery layer);
- a network error (refused, reset, timeout, protocol error): retried.

``perform`` drives the requests with an ``httpx.AsyncClient``; everything else is pure and
tested without a network.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence

import httpx
from attrs import Factory, frozen

from ..._retry_after import parse_retry_after
from .. import BatchConfig, SendOutcome, SendResult, redact_http_logs

__all__ = [
    "HttpDestinationBase",
    "HttpRequest",
    "chunk_by_size",
    "classify_error",
    "classify_status",
    "gzip_body",
    "parse_retry_after",
    "perform",
]

_RETRY_STATUSES = frozenset({408, 429})


@frozen(kw_only=True)
class HttpRequest:
    """One request a batch becomes (sans-I/O: nothing is sent by building it)."""

    url: str
    content: bytes
    headers: Mapping[str, str] = Factory(dict)
    method: str = "POST"
    params: Mapping[str, str] | None = None


def _detail(body: bytes, limit: int = 300) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text + ("…" if len(body) > limit else "")


def classify_status(
    status: int, headers: Mapping[str, str], body: bytes = b"", *, now: float | None = None
) -> SendResult:
    """The outcome of one HTTP answer, by the shared policy (see the module docstring)."""
    if 200 <= status < 300:
        return SendResult.ok(status)
    detail = f"HTTP {status}" + (f": {_detail(body)}" if body else "")
    if status in _RETRY_STATUSES or status >= 500:
        retry_after = parse_retry_after(
            headers.get("retry-after"), time.time() if now is None else now
        )
        return SendResult.retry(detail, status=status, retry_after=retry_after)
    return SendResult.dead(detail, status=status)


def classify_error(exc: Exception) -> SendResult:
    """The outcome of a request that got no answer: a bad URL is permanent, the rest (refused,
    reset, timeouts, protocol errors) transient."""
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return SendResult.dead(f"{type(exc).__name__}: {exc}")
    return SendResult.retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


Classifier = Callable[[int, Mapping[str, str], bytes], SendResult]

#: A destination sends to the same few URLs: each parsed once (httpx parses a ``str`` URL
#: in pure Python on every request).
_parsed_url: Callable[[str], httpx.URL] = functools.lru_cache(maxsize=256)(httpx.URL)


async def perform(
    client: httpx.AsyncClient,
    requests: Iterable[HttpRequest],
    *,
    timeout: float,
    classify: Classifier,
) -> SendResult:
    """Send ``requests`` in order; the first that is not delivered decides the result.

    Requests already accepted before a failure are sent again when the batch is retried:
    delivery is at-least-once, and receivers deduplicate by ``messageId``.
    """
    result = SendResult.ok()
    for req in requests:
        try:
            response = await client.request(
                req.method,
                _parsed_url(req.url),
                content=req.content,
                headers=req.headers,
                params=dict(req.params) if req.params else None,
                timeout=timeout,
            )
            body = await response.aread()
        except httpx.HTTPError as exc:
            return classify_error(exc)
        except (OSError, ValueError) as exc:  # a socket error httpx did not wrap
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        result = classify(response.status_code, response.headers, body)
        if result.outcome is not SendOutcome.DELIVERED:
            return result
    return result


class HttpDestinationBase:
    """Base class of the HTTP destinations: subclasses implement :meth:`requests`.

    Attributes:
        handles_pii: always true: built-in destinations apply their own privacy policy (with
            their platform's normalization rules) in ``transform``.
    """

    handles_pii = True

    def __init__(
        self,
        *,
        name: str,
        batch: BatchConfig,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.batch = batch
        self.timeout = timeout
        self.clock = clock
        redact_http_logs()  # GA4's api_secret can only travel in the query string

    def requests(self, items: Sequence[bytes]) -> Iterable[HttpRequest]:
        """The requests one batch of encoded items becomes."""
        raise NotImplementedError

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
        """The outcome of one answer; override to read an API's error bodies."""
        return classify_status(status, headers, body, now=self.clock())

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Deliver one batch: build its requests, send them in order, classify the answers."""
        if not items:
            return SendResult.ok()
        return await perform(
            client, self.requests(items), timeout=self.timeout, classify=self.classify
        )

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the delivery layer."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _zlib_gzip(body: bytes, level: int) -> bytes:
    """``body`` as one gzip member (levels as zlib's, 1-9), by zlib."""
    # a gzip wrapper (wbits 31) in one call, no file object
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush()


def _isal_gzip(body: bytes, level: int) -> bytes:
    """``body`` as one gzip member (levels as zlib's, 1-9), by ISA-L (same output format)."""
    # ISA-L has levels 0-3: 1 stays the fast default, higher zlib levels map upwards
    c = _isal.compressobj(1 if level <= 1 else 2 if level <= 5 else 3, _isal.DEFLATED, 31)
    return c.compress(body) + c.flush()


try:  # optional accelerator (pip install 'persona-sdk-py[speedups]'): same gzip, ~6x less CPU
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - exercised when the extra is absent
    _isal = None  # type: ignore[assignment]

#: ``gzip_body(body, level)``: ``body`` as one gzip member (levels as zlib's, 1-9).
gzip_body: Callable[[bytes, int], bytes] = _zlib_gzip if _isal is None else _isal_gzip


def chunk_by_size(
    items: Sequence[bytes], *, max_bytes: int, max_items: int, overhead: int
) -> list[Sequence[bytes]]:
    """Split ``items`` into runs whose joined size (plus ``overhead`` and one comma per item)
    stays within ``max_bytes`` and whose length stays within ``max_items``. An item too large
    on its own still goes alone: the server decides."""
    if len(items) <= max_items and overhead + sum(map(len, items)) + len(items) <= max_bytes:
        return [items]  # the usual case: the delivery layer already batched within the caps
    chunks: list[Sequence[bytes]] = []
    start = 0
    size = overhead
    for i, item in enumerate(items):
        n = len(item) + 1
        if i > start and (size + n > max_bytes or i - start >= max_items):
            chunks.append(items[start:i])
            start, size = i, overhead
        size += n
    if start < len(items):
        chunks.append(items[start:])
    return chunks
