"""The collector as an ASGI 3 application (uvicorn, hypercorn, or mounted in Starlette)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._collector_http import Begin, CollectorResponse, RequestHead

__all__ = ["ASGIApp", "make_asgi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def head_from_scope(scope: Scope) -> RequestHead:
    """The sans-I/O request head for an ASGI ``http`` scope."""
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    # Servers differ on whether path includes root_path (the mount point); accept both.
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    headers = RequestHead.join_headers(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
    )
    client = scope.get("client")
    return RequestHead(
        scope["method"],
        path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        client=client[0] if client else None,
        scheme=scope.get("scheme", "http"),
    )


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    # Read at most limit+1 bytes (enough to know the body is too large); None on disconnect.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: CollectorResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    # The app that owns the Persona closes it; the collector has nothing to start or stop.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def make_asgi(begin: Begin) -> ASGIApp:
    """Return the ASGI 3 callable that serves the collector whose ``begin`` this is."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        first = begin(head_from_scope(scope))
        if isinstance(first, CollectorResponse):
            await _send(send, first)
            return
        body = await _read_body(receive, first.limit)
        if body is None:
            return
        await _send(send, first.finish(body))

    return app
