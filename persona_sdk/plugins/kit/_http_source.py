"""The sans-I/O core of HTTP profile sources (the built-in ``http``, ``segment`` and ``unomi``
sources, and yours).

Each source writes its protocol once, as a generator (a *flow*) that yields ``HttpCall``s,
receives ``HttpReply``s and returns a ``FetchResult``. Two small drivers (in ``_flow``) run a
flow: one with ``httpx.Client`` for ``get``, one with ``httpx.AsyncClient`` for ``aget``.
Neither knows any CDP; no source has a sync and an async copy of its logic.

The deadline is the caller's whole budget. httpx timeouts bound each phase (connect, each
read), not the total, so the drivers also stop reading a body that drips in past the deadline,
and ``aget`` wraps the whole exchange in ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from typing import Any, Generic, Protocol, TypeVar

import httpx
import msgspec

from ... import _lifecycle
from ..._retry_after import parse_retry_after
from .. import ConfigError, FetchErrorKind, FetchResult, redact_http_logs
from ._flow import Flow, HttpReply, run_async, run_sync

__all__ = [
    "MISSING",
    "HttpSourceBase",
    "OptionsHttpSource",
    "check_status",
    "compile_pointer",
    "decode_json",
    "reply_document",
    "resolve_pointer",
]

#: A sentinel for "no value" (a JSON pointer that found nothing), distinct from ``None``.
MISSING: Any = object()

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every source client: loading the CA bundle costs tens
    of milliseconds (holding the GIL), so it is paid once per process, on first use."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


_decoder = msgspec.json.Decoder()

def check_status(
    reply: HttpReply, not_found: frozenset[int] = frozenset({404})
) -> FetchResult | None:
    """Normalize the statuses every CDP shares; None when the body should be parsed."""
    status = reply.status
    if status in not_found:
        return FetchResult.not_found(f"HTTP {status}")
    if status == 429:
        return FetchResult.failed(
            FetchErrorKind.RATE_LIMITED,
            "HTTP 429",
            http_status=429,
            retry_after=parse_retry_after(reply.headers.get("retry-after")),
        )
    if not 200 <= status < 300:
        return FetchResult.failed(FetchErrorKind.HTTP_STATUS, f"HTTP {status}", http_status=status)
    return None


def reply_document(reply: HttpReply, not_found: frozenset[int] = frozenset({404})) -> Any:
    """The parsed JSON body of a profile answer, or the ``FetchResult`` it already settles:
    a shared status (``check_status``), an empty body or a JSON ``null`` (both not found), or
    bad JSON."""
    early = check_status(reply, not_found)
    if early is not None:
        return early
    if not reply.body.strip():
        return FetchResult.not_found("empty body")
    doc = decode_json(reply.body)
    if doc is None:
        return FetchResult.not_found("null body")
    return doc


def decode_json(body: bytes) -> Any:
    """The parsed body, or a ``BAD_JSON`` ``FetchResult``."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        return FetchResult.failed(FetchErrorKind.BAD_JSON, f"invalid JSON: {exc}")


def compile_pointer(pointer: str, path: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer (``/a/b~1c``) into tokens; ``""`` is the document."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ConfigError(f"{path}: a JSON pointer starts with '/' (got {pointer!r})")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve_pointer(doc: Any, tokens: tuple[str, ...]) -> Any:
    """The value at ``tokens`` in ``doc``, or ``MISSING``."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return MISSING
            node = node[int(token)]
        else:
            return MISSING
    return node



class HttpSourceBase:
    """Clients and drivers for a profile source whose protocol is a ``Flow``.

    Subclasses implement ``_flow(profile_id, id_type)`` (and optionally ``_erase_flow``).
    ``transport`` / ``async_transport`` let tests route requests (``httpx.MockTransport``).
    One ``httpx.AsyncClient`` is kept per event loop, since a client belongs to the loop it
    first ran on.
    """

    name: str = "http"
    in_process = False

    def __init__(
        self,
        *,
        max_body_bytes: int = 1_048_576,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._max_body = max_body_bytes
        self._transport = transport
        self._async_transport = async_transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        redact_http_logs()  # a source may carry a key in its query string
        _lifecycle.register("profile source HTTP client", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The parent's connections must not be shared: start over (without closing them).
        self._lock = threading.Lock()
        self._client = None
        self._aclients = weakref.WeakKeyDictionary()

    # -- protocol, per source -------------------------------------------------------------

    def _flow(self, profile_id: str, id_type: str) -> Flow:
        raise NotImplementedError

    def _erase_flow(self, profile_id: str, id_type: str) -> Flow | None:
        return None

    # -- clients --------------------------------------------------------------------------

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    transport=self._transport,
                    follow_redirects=False,
                    verify=shared_ssl_context(),
                )
            return self._client

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                client = httpx.AsyncClient(
                    transport=self._async_transport,
                    follow_redirects=False,
                    verify=shared_ssl_context(),
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                )
                self._aclients[loop] = client
            return client

    # -- ProfileSource --------------------------------------------------------------------

    def get(self, profile_id: str, *, id_type: str = "user_id", timeout: float) -> FetchResult:
        """Look one profile up with a blocking client, within about ``timeout`` seconds."""
        return run_sync(
            self._flow(profile_id, id_type), self._sync_client(), timeout, self._max_body
        )

    async def aget(
        self, profile_id: str, *, id_type: str = "user_id", timeout: float
    ) -> FetchResult:
        """Look one profile up on the running loop, within ``timeout`` seconds."""
        return await run_async(
            self._flow(profile_id, id_type), self._async_client(), timeout, self._max_body
        )

    def erase(self, profile_id: str, *, id_type: str = "user_id", timeout: float = 5.0) -> bool:
        """Delete the profile upstream where the CDP allows it; False when it cannot."""
        flow = self._erase_flow(profile_id, id_type)
        if flow is None:
            return False
        return run_sync(flow, self._sync_client(), timeout, self._max_body).ok

    async def aclose(self) -> None:
        """Close the async client of the running loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.pop(loop, None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the blocking client (async clients close with ``aclose`` on their loop)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class _SourceOptions(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def max_body_bytes(self) -> int: ...


_OptionsT = TypeVar("_OptionsT", bound=_SourceOptions)


class OptionsHttpSource(HttpSourceBase, Generic[_OptionsT]):
    """An ``HttpSourceBase`` built from one options object (``name``, ``max_body_bytes``).

    Keeps it as ``self.options``; a subclass sets up the rest in ``_configure``.
    """

    def __init__(
        self,
        options: _OptionsT,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            max_body_bytes=options.max_body_bytes,
            transport=transport,
            async_transport=async_transport,
        )
        self.options = options
        self.name = options.name
        self._configure(options)

    def _configure(self, options: _OptionsT) -> None:
        """Derive the source's own state from ``options`` (called once, by ``__init__``)."""
