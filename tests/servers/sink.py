"""A recording HTTP sink on loopback that fails on demand.

Use it through the fixtures of ``tests/conftest.py``::

    def test_something(sink):                     # a fresh Sink per test
        sink.url                                  # "http://127.0.0.1:PORT", no trailing slash
        ...  # point a destination at f"{sink.url}/v1/batch"
        assert sink.wait_for(lambda s: len(s.events()) >= 3, timeout=5)
        req = sink.requests[0]
        req.method, req.path, req.query           # "POST", "/v1/batch", ""
        req.headers["content-type"]               # header names are lower-case
        req.raw_body                              # bytes as received
        req.body                                  # bytes, gunzipped when Content-Encoding: gzip
        req.json                                  # parsed body (None when not JSON)
        req.items                                 # a JSON array, or {"batch": [...]}, or [req.json]
        req.status                                # the status it was answered with (None: reset)

    def test_many(sink_factory):                  # several sinks in one test
        healthy, hung = sink_factory(), sink_factory()

The API (stable; other test folders rely on it):

``Sink.requests`` (a snapshot list of ``Request``), ``Sink.events(include_failed=False)`` (the
``items`` of every request answered 2xx, in arrival order), ``Sink.message_ids()`` (the
``messageId`` of those events), ``Sink.wait_for(predicate, timeout=5.0) -> bool`` (waits on a
condition variable, re-checked after each request; ``predicate`` gets the sink),
``Sink.clear()`` (forget recorded requests and scripted replies).

Failing on demand, with ``Reply(status=200, body=b'{"success":true}', headers={},
retry_after=None, delay=0.0, reset=False, drip=None, hang=False)``:

- ``sink.reply_with(*replies, path=None)``: the next requests (to ``path`` only, when given) get
  these replies, in order; then the default reply again.
- ``sink.set_default(reply, path=None)``: the reply used when nothing is scripted (an outage:
  ``set_default(Reply(status=503))``; recovery: ``set_default(Reply())``).
- ``sink.responder = fn``: ``fn(request) -> Reply | None`` decides per request (None falls
  through to the scripts and the default).
- ``Reply(retry_after=2)`` sends ``Retry-After: 2``; ``delay`` waits before answering;
  ``reset=True`` aborts the connection with a TCP RST after reading the request;
  ``drip=(chunk_bytes, seconds)`` sends the body slowly; ``hang=True`` holds the request until
  ``sink.release()`` (``sink.hold()`` makes later hangs hold again).

A request is recorded as soon as its body has been read, with the status it is (or will be)
answered with, so a test can wait for a hung request to arrive. The server is threaded, sets
``TCP_NODELAY`` and sends headers and body in one write (no 40 ms delayed-ACK stalls), and
keeps connections alive.

``SinkProcess`` runs the same server in a child process (for benchmarks, so the sink does not
share the GIL with the code under measurement); it only counts: ``stats()`` returns
``{"requests", "accepted", "events", "bytes"}`` and ``reset()`` zeroes them. Run
``python tests/servers/sink.py`` to get one on the command line (it prints its port).
"""

from __future__ import annotations

import collections
import gzip
import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any

__all__ = ["Reply", "Request", "Sink", "SinkProcess"]

_MAX_LINE = 65_536
#: A hung request gives up after this long even if nobody releases it (no leaked threads).
_HANG_LIMIT = 60.0


@dataclass(frozen=True)
class Reply:
    """How the sink answers one request."""

    status: int = 200
    body: bytes = b'{"success":true}'
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | str | None = None
    delay: float = 0.0
    reset: bool = False
    drip: tuple[int, float] | None = None
    hang: bool = False


@dataclass
class Request:
    """One request as the sink received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_body: bytes
    body: bytes
    status: int | None = None
    received_at: float = 0.0

    @cached_property
    def json(self) -> Any:
        """The parsed body, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @cached_property
    def items(self) -> list[Any]:
        """The events carried: a JSON array, a Segment ``{"batch": [...]}``, or ``[json]``."""
        doc = self.json
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
            return list(doc["batch"])
        return [] if doc is None else [doc]

    @property
    def ok(self) -> bool:
        """Whether it was answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def _read_body(rfile: Any, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int(rfile.readline(_MAX_LINE).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline(_MAX_LINE)
    length = int(headers.get("content-length", "0") or 0)
    return rfile.read(length) if length else b""


def _response_head(reply: Reply, body_len: int, close: bool) -> bytes:
    try:
        reason = HTTPStatus(reply.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Length: {body_len}"]
    names = {k.lower() for k in reply.headers}
    if "content-type" not in names:
        lines.append("Content-Type: application/json")
    if reply.retry_after is not None:
        ra = reply.retry_after
        lines.append(f"Retry-After: {ra if isinstance(ra, str) else format(ra, 'g')}")
    lines.extend(f"{k}: {v}" for k, v in reply.headers.items())
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.request.makefile("rb", buffering=65_536)

    def finish(self) -> None:
        try:
            self.rfile.close()
        except OSError:
            pass

    def handle(self) -> None:
        sink = self.server.sink
        sock: socket.socket = self.request
        while True:
            try:
                line = self.rfile.readline(_MAX_LINE)
            except OSError:
                return
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            try:
                method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            except ValueError:
                return
            headers: dict[str, str] = {}
            while True:
                h = self.rfile.readline(_MAX_LINE)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                key = k.strip().lower()
                headers[key] = f"{headers[key]}, {v.strip()}" if key in headers else v.strip()
            try:
                raw = _read_body(self.rfile, headers)
            except (OSError, ValueError):
                return
            close = version == "HTTP/1.0" or headers.get("connection", "").lower() == "close"
            path, _, query = target.partition("?")
            if path.startswith("/_sink/"):
                body = sink._control(method, path, raw)
                sock.sendall(_response_head(Reply(), len(body), close) + body)
            else:
                reply = sink._receive(method, path, query, headers, raw)
                if not self._answer(sock, reply, close):
                    return
            if close:
                return

    def _answer(self, sock: socket.socket, reply: Reply, close: bool) -> bool:
        sink = self.server.sink
        if reply.hang:
            sink._released.wait(_HANG_LIMIT)
        if reply.delay:
            sink._stopping.wait(reply.delay)
        if reply.reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        head = _response_head(reply, len(reply.body), close)
        try:
            if reply.drip is None:
                sock.sendall(head + reply.body)
            else:
                size, pause = reply.drip
                sock.sendall(head)
                for i in range(0, len(reply.body), max(1, size)):
                    if sink._stopping.wait(pause):
                        return False
                    sock.sendall(reply.body[i : i + size])
        except OSError:
            return False
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _Handler)


class Sink:
    """A threaded recording HTTP server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, record: bool = True) -> None:
        self._record = record
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._scripts: dict[str | None, collections.deque[Reply]] = {}
        self._defaults: dict[str | None, Reply] = {None: Reply()}
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._counts = {"requests": 0, "accepted": 0, "events": 0, "bytes": 0}
        self.responder: Callable[[Request], Reply | None] | None = None
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"sink-{self.port}", daemon=True,
        )
        self._thread.start()

    # -- scripting ---------------------------------------------------------------------

    def reply_with(self, *replies: Reply, path: str | None = None) -> None:
        """Answer the next requests (to ``path`` when given) with ``replies``, in order."""
        with self._cond:
            self._scripts.setdefault(path, collections.deque()).extend(replies)

    def set_default(self, reply: Reply, path: str | None = None) -> None:
        """Use ``reply`` whenever nothing is scripted (for ``path`` only, when given)."""
        with self._cond:
            self._defaults[path] = reply

    def release(self) -> None:
        """Let every hung request (and every later ``hang`` reply) answer."""
        self._released.set()

    def hold(self) -> None:
        """Make later ``hang`` replies hold again until the next ``release()``."""
        self._released.clear()

    def clear(self) -> None:
        """Forget recorded requests, scripted replies, defaults and the responder."""
        with self._cond:
            self._requests.clear()
            self._scripts.clear()
            self._defaults = {None: Reply()}
            self.responder = None
            for key in self._counts:
                self._counts[key] = 0

    # -- reading -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received, in arrival order."""
        with self._cond:
            return list(self._requests)

    def events(self, *, include_failed: bool = False) -> list[Any]:
        """The ``items`` of every request answered 2xx (or of all, with ``include_failed``)."""
        return [i for r in self.requests if include_failed or r.ok for i in r.items]

    def message_ids(self, *, include_failed: bool = False) -> list[str]:
        """The ``messageId`` of each event of ``events()`` (duplicates kept)."""
        return [
            e["messageId"] for e in self.events(include_failed=include_failed)
            if isinstance(e, dict) and "messageId" in e
        ]

    def stats(self) -> dict[str, int]:
        """Counters: requests, accepted (2xx), events (in accepted requests), bytes."""
        with self._cond:
            return dict(self._counts)

    def wait_for(self, predicate: Callable[[Sink], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(sink)`` holds, re-checking after each request; return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(self):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving; hung requests are released."""
        self._stopping.set()
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server side -------------------------------------------------------------------

    def _receive(
        self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes
    ) -> Reply:
        body = raw
        if "gzip" in headers.get("content-encoding", "").lower() and raw:
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError):
                body = raw
        req = Request(method, path, query, headers, raw, body, received_at=time.monotonic())
        reply: Reply | None = None
        responder = self.responder
        if responder is not None:
            reply = responder(req)
        with self._cond:
            if reply is None:
                for key in (path, None):
                    queue = self._scripts.get(key)
                    if queue:
                        reply = queue.popleft()
                        break
            if reply is None:
                reply = self._defaults.get(path) or self._defaults[None]
        req.status = None if reply.reset else reply.status
        # parse outside the lock: the sink must not serialize concurrent requests
        n_items = len(req.items) if req.ok else 0
        with self._cond:
            self._counts["requests"] += 1
            self._counts["bytes"] += len(raw)
            if req.ok:
                self._counts["accepted"] += 1
                self._counts["events"] += n_items
            if self._record:
                self._requests.append(req)
            self._cond.notify_all()
        return reply

    def _control(self, method: str, path: str, raw: bytes) -> bytes:
        if path == "/_sink/reset" and method == "POST":
            self.clear()
        return json.dumps(self.stats()).encode()


class SinkProcess:
    """The sink in a child process (counting only), for benchmarks."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str) -> dict[str, int]:
        req = urllib.request.Request(f"{self.url}{path}", method=method, data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def stats(self) -> dict[str, int]:
        """Counters: requests, accepted, events, bytes."""
        return self._call("GET", "/_sink/stats")

    def reset(self) -> None:
        """Zero the counters."""
        self._call("POST", "/_sink/reset")

    def close(self) -> None:
        """Stop the child process."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    # Child-process mode: print the port, serve (counting only) until stdin closes.
    server = Sink(record=False)
    print(server.port, flush=True)
    sys.stdin.read()
    server.close()
