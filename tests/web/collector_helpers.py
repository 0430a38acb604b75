"""Helpers for the collector tests: a Persona that captures, and real servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from persona_sdk import Persona
from persona_sdk.testing import CaptureDestination
from persona_sdk.web._collector_http import CollectorResponse, RequestHead

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def make_persona(collector: Mapping[str, Any] | None = None) -> tuple[Persona, CaptureDestination]:
    """A Persona routing every event to a fresh ``CaptureDestination``."""
    capture = CaptureDestination()
    container: dict[str, Any] = {"tags": [{"name": "all", "destination": "capture"}]}
    if collector is not None:
        container["collector"] = dict(collector)
    return Persona(container, destinations={"capture": capture}), capture


def head(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    client: str = "203.0.113.77",
    json_body: bool = True,
) -> RequestHead:
    """A request head with a browser's usual headers (overridable)."""
    h = {"host": "shop.example", "user-agent": BROWSER_UA}
    if json_body:
        h["content-type"] = "application/json"
    h.update({k.lower(): v for k, v in (headers or {}).items()})
    return RequestHead(method, path, query=query, headers=h, client=client, scheme="https")


def connection(url: str, timeout: float = 10.0) -> http.client.HTTPConnection:
    """A keep-alive HTTP connection to ``url`` with ``TCP_NODELAY`` set (http.client writes
    headers and body separately; without it each request stalls on a delayed ACK)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _listening_socket() -> socket.socket:
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP; with proto 0 every response that is written in two parts stalls 40 ms on Nagle
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # listening before the server thread starts: clients queue in the backlog, nobody waits
    sock.listen(128)
    return sock


@contextlib.contextmanager
def uvicorn_server(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yields its base URL."""
    import uvicorn

    sock = _listening_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextlib.contextmanager
def wsgi_server(app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app with the stdlib's threaded wsgiref server; yields its base URL."""
    server = _ThreadingWSGIServer(("127.0.0.1", 0), _Handler)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def call_asgi(
    app: Any,
    req: RequestHead,
    body: bytes = b"",
    *,
    chunk: int | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> CollectorResponse:
    """Drive an ASGI app with one request (body split in ``chunk``-byte messages)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": req.scheme,
        "path": req.path,
        "raw_path": req.path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        # on the wire everything is bytes; any text a test gives becomes its UTF-8 bytes
        "query_string": req.query.encode("utf-8", "surrogatepass"),
        "headers": [(k.encode("latin-1"), v.encode("utf-8", "surrogatepass"))
                    for k, v in req.headers.items()],
        "client": (req.client, 50000) if req.client else None,
        "server": ("127.0.0.1", 80),
    }
    size = chunk or max(len(body), 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    runner = loop.run_until_complete if loop is not None else asyncio.run
    runner(app(scope, receive, send))
    start = sent[0]
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
    return CollectorResponse(
        start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])
    )


#: Debian's Chromium, which the browser tests drive
CHROMIUM = "/usr/bin/chromium"


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
