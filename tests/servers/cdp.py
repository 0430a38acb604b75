"""A fake CDP on loopback that speaks the Segment Profile API and Apache Unomi, and fails on
demand.

Routes:

- ``GET /v1/spaces/{space}/collections/users/profiles/{id_type}:{id}/traits`` (Segment;
  Basic auth with the token as user name; ``limit``, ``include`` and ``next`` paging; 404 with
  Segment's error body for unknown profiles);
- ``GET /cxs/profiles/{id}`` and ``DELETE /cxs/profiles/{id}`` (Unomi, Basic auth; 204 for an
  unknown profile), ``POST /cxs/context.json`` (Unomi's context request; an unknown profile
  gets a newly minted profile id, as Unomi does);
- ``GET /profiles/{id}`` (a generic CDP answering ``{"data": {...}}``).

Faults, per request (``fail_next(*faults)``) or for all (``set_default(fault)``):
``Fault(status=500)``, ``Fault(status=429, retry_after="0")``, ``Fault(bad_json=True)``,
``Fault(reset=True)`` (TCP RST after reading the request), ``Fault(stall=True)`` (answer only
after ``release()``), ``Fault(drip=True)`` (headers and half the body, the rest after
``release()``), ``Fault(delay=2.0)`` (latency, waited on the release event so a test can cut
it short). ``stall()`` makes every later request stall until ``release()``.

The server is threaded, sets ``TCP_NODELAY``, writes headers and body at once, keeps
connections alive, and records every request (``requests``, ``count()``, ``wait_for()``).
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["CdpServer", "Fault", "Seen"]

_HOLD_LIMIT = 30.0  # a stalled request gives up after this, even if nobody releases it


@dataclass(frozen=True)
class Fault:
    """How to misbehave for one request."""

    status: int | None = None
    body: bytes | None = None
    retry_after: str | None = None
    bad_json: bool = False
    reset: bool = False
    stall: bool = False
    drip: bool = False
    delay: float = 0.0


@dataclass
class Seen:
    """One request as received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int | None = None

    @property
    def json(self) -> Any:
        """The parsed body (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class CdpServer:
    """The fake CDP; use as a context manager or call ``close()``."""

    def __init__(
        self,
        *,
        space: str = "spa_test",
        token: str = "tok_test",
        unomi_user: str = "karaf",
        unomi_password: str = "karaf",
    ) -> None:
        self.space = space
        self.token = token
        self._unomi_auth = (
            "Basic " + base64.b64encode(f"{unomi_user}:{unomi_password}".encode()).decode()
        )
        self._segment_auth = "Basic " + base64.b64encode(f"{token}:".encode()).decode()
        self.profiles: dict[str, dict[str, Any]] = {}
        self.segments: dict[str, list[str]] = {}
        self.deleted: list[str] = []
        self.lookups: list[tuple[str, str]] = []  # Segment (id_type, id) pairs asked for
        self.requests: list[Seen] = []
        self._faults: list[Fault] = []
        self._default: Fault | None = None
        self._cond = threading.Condition()
        self._gate = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.cdp = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.005,), daemon=True
        )
        self._thread.start()

    # -- test API -------------------------------------------------------------------------

    def add(
        self, profile_id: str, traits: dict[str, Any], segments: list[str] | None = None
    ) -> None:
        """Know a profile (the same id answers on every route)."""
        self.profiles[profile_id] = dict(traits)
        self.segments[profile_id] = list(segments or [])

    def fail_next(self, *faults: Fault) -> None:
        """The next requests misbehave like this, in order."""
        with self._cond:
            self._faults.extend(faults)

    def set_default(self, fault: Fault | None) -> None:
        """Misbehave like this whenever nothing is scripted (None: behave)."""
        with self._cond:
            self._default = fault

    def stall(self) -> None:
        """Every later request waits for ``release()``."""
        self._gate.clear()
        self.set_default(Fault(stall=True))

    def release(self) -> None:
        """Let stalled, dripping and delayed requests finish."""
        self._gate.set()

    def count(self, prefix: str = "") -> int:
        """How many requests arrived (whose path starts with ``prefix``)."""
        with self._cond:
            return sum(1 for r in self.requests if r.path.startswith(prefix))

    def wait_for(self, predicate: Callable[[CdpServer], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked after each request)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        """Release held requests, stop serving, close every connection."""
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            socks = list(self._sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self) -> CdpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving --------------------------------------------------------------------------

    def _record(self, seen: Seen) -> Fault | None:
        with self._cond:
            fault = self._faults.pop(0) if self._faults else self._default
            self.requests.append(seen)
            self._cond.notify_all()
            return fault

    def _route(self, seen: Seen) -> _Reply:
        path, method = seen.path, seen.method
        prefix = f"/v1/spaces/{self.space}/collections/users/profiles/"
        if path.startswith(prefix) and path.endswith("/traits") and method == "GET":
            if seen.headers.get("authorization") != self._segment_auth:
                return _json(401, {"error": {"code": "unauthorized"}})
            external = unquote(path[len(prefix) : -len("/traits")])
            id_type, _, pid = external.partition(":")
            self.lookups.append((id_type, pid))
            return self._segment(pid, seen.query)
        if path.startswith("/cxs/profiles/"):
            if seen.headers.get("authorization") != self._unomi_auth:
                return _Reply(401)
            pid = unquote(path[len("/cxs/profiles/") :])
            if method == "DELETE":
                self.deleted.append(pid)
                self.profiles.pop(pid, None)
                return _Reply(204)
            if pid not in self.profiles:
                return _Reply(204)
            return _json(
                200,
                {
                    "itemId": pid,
                    "itemType": "profile",
                    "version": 3,
                    "properties": self.profiles[pid],
                    "segments": self.segments.get(pid, []),
                    "scores": {},
                    "systemProperties": {},
                    "consents": {},
                },
            )
        if path == "/cxs/context.json" and method == "POST":
            return self._context(seen.json or {})
        if path.startswith("/profiles/") and method == "GET":
            pid = unquote(path[len("/profiles/") :])
            if pid not in self.profiles:
                return _json(404, {"error": "not found"})
            return _json(200, {"data": self.profiles[pid]})
        return _json(404, {"error": f"no route {method} {path}"})

    def _segment(self, pid: str, query: dict[str, list[str]]) -> _Reply:
        if pid not in self.profiles:
            return _json(404, {"error": {"code": "not_found", "message": "Resource not found"}})
        traits = self.profiles[pid]
        include = query.get("include", [""])[0]
        if include:
            wanted = include.split(",")
            traits = {k: v for k, v in traits.items() if k in wanted}
        limit = int(query.get("limit", ["10"])[0])
        offset = int(query.get("next", ["0"])[0] or 0)
        names = sorted(traits)
        page = names[offset : offset + limit]
        more = offset + limit < len(names)
        return _json(
            200,
            {
                "traits": {k: traits[k] for k in page},
                "cursor": {
                    "url": "",
                    "has_more": more,
                    "next": str(offset + limit) if more else "",
                },
            },
        )

    def _context(self, body: dict[str, Any]) -> _Reply:
        pid = body.get("profileId")
        if pid not in self.profiles:
            return _json(
                200,
                {
                    "profileId": str(uuid.uuid4()),
                    "sessionId": None,
                    "profileProperties": {},
                    "profileSegments": [],
                },
            )
        required = body.get("requiredProfileProperties") or []
        props = self.profiles[pid]
        if "*" not in required:
            props = {k: v for k, v in props.items() if k in required}
        out: dict[str, Any] = {"profileId": pid, "sessionId": None, "profileProperties": props}
        if body.get("requireSegments"):
            out["profileSegments"] = self.segments.get(pid, [])
        return _json(200, out)


def _json(status: int, doc: Any) -> _Reply:
    return _Reply(status, json.dumps(doc).encode(), {"content-type": "application/json"})


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    cdp: CdpServer


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.cdp._cond:
            self.server.cdp._sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.cdp._cond:
            self.server.cdp._sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        cdp = self.server.cdp
        while True:
            try:
                seen = self._read()
            except (OSError, ValueError):
                return
            if seen is None:
                return
            fault = cdp._record(seen)
            if fault is not None and fault.reset:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                return
            if fault is not None and (fault.stall or fault.delay):
                cdp._gate.wait(fault.delay or _HOLD_LIMIT)
            reply = cdp._route(seen)
            if fault is not None and fault.status is not None:
                reply = _Reply(
                    fault.status, fault.body if fault.body is not None else b'{"error":"fault"}'
                )
            if fault is not None and fault.bad_json:
                reply = _Reply(200, b'{"traits": {"plan": "pro"')
            if fault is not None and fault.retry_after is not None:
                reply.headers["retry-after"] = fault.retry_after
            seen.status = reply.status
            if not self._write(reply, drip=fault is not None and fault.drip):
                return

    def _read(self) -> Seen | None:
        line = self.rfile.readline(65_536)
        while line in (b"\r\n", b"\n"):
            line = self.rfile.readline(65_536)
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = self.rfile.readline(65_536)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(target)
        return Seen(method, parts.path, parse_qs(parts.query), headers, body)

    def _write(self, reply: _Reply, *, drip: bool) -> bool:
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Status"
        lines = [f"HTTP/1.1 {reply.status} {phrase}"]
        if reply.status not in (204, 304):
            lines.append(f"Content-Length: {len(reply.body)}")
        lines.extend(f"{k}: {v}" for k, v in reply.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if reply.status in (204, 304) else reply.body
        try:
            if drip and len(body) > 1:
                half = len(body) // 2
                self.connection.sendall(head + body[:half])
                self.server.cdp._gate.wait(_HOLD_LIMIT)
                self.connection.sendall(body[half:])
            else:
                self.connection.sendall(head + body)
        except OSError:
            return False
        return True
