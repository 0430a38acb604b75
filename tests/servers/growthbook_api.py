"""A loopback server speaking GrowthBook's SDK API, with faults on demand.

``GET /api/features/{key}`` answers the current payload with an ``ETag`` (``304`` to a
matching ``If-None-Match``) and ``x-sse-support: enabled`` when streaming is on;
``GET /sub/{key}`` is a server-sent-events stream to which ``push(event, data)`` writes.

Faults: ``fail_next(n, status)`` answers the next ``n`` fetches with ``status``;
``bad_json_next(n)`` with a body that is not JSON; ``stall_next(n)`` holds the next ``n``
fetches until ``release()``; ``drop_streams()`` closes every open stream.
The server is threaded and sets ``TCP_NODELAY``.
"""

from __future__ import annotations

import hashlib
import json
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_DROP = object()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        api: GrowthBookApi = self.server.api
        if self.path == f"/api/features/{api.client_key}":
            self._features(api)
        elif self.path == f"/sub/{api.client_key}":
            self._stream(api)
        else:
            self._send(404, b'{"status":404}', {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}",
                "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self.wfile.flush()

    def _features(self, api: GrowthBookApi) -> None:
        with api.lock:
            api.fetches += 1
            fault = api.faults.pop(0) if api.faults else None
            body = api.body
            etag = api.etag
            sse = api.streaming
        if fault == "stall":
            api.released.wait(30)
            fault = None
        if isinstance(fault, int):
            self._send(fault, b'{"status":"error"}', {})
            return
        if fault == "bad_json":
            self._send(200, b'{"features": {not json', {"ETag": '"bad"'})
            return
        headers = {"ETag": etag}
        if sse:
            headers["x-sse-support"] = "enabled"
        if self.headers.get("If-None-Match") == etag:
            with api.lock:
                api.not_modified += 1
            self._send(304, b"", headers)
            return
        self._send(200, body, headers)

    def _stream(self, api: GrowthBookApi) -> None:
        events: queue.Queue[Any] = queue.Queue()
        with api.lock:
            api.streams.append(events)
            api.stream_opens += 1
            api.stream_opened.notify_all()
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                "Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
        try:
            self.wfile.write(head.encode() + b": hello\n\n")
            self.wfile.flush()
            while True:
                item = events.get()
                if item is _DROP:
                    break
                self.wfile.write(item)
                self.wfile.flush()
        except OSError:
            pass
        finally:
            with api.lock:
                if events in api.streams:
                    api.streams.remove(events)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: GrowthBookApi


class GrowthBookApi:
    """The server; ``url`` is its base (``api_host``), ``client_key`` the key it serves."""

    def __init__(self, payload: dict[str, Any], *, client_key: str = "sdk-test",
                 streaming: bool = False) -> None:
        self.client_key = client_key
        self.streaming = streaming
        self.lock = threading.Lock()
        self.stream_opened = threading.Condition(self.lock)
        self.faults: list[Any] = []
        self.released = threading.Event()
        self.streams: list[queue.Queue[Any]] = []
        self.fetches = self.not_modified = self.stream_opens = 0
        self.set_payload(payload)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set_payload(self, payload: dict[str, Any]) -> None:
        """Serve ``payload`` from now on (a new ETag)."""
        body = json.dumps(payload).encode()
        with self.lock:
            self.body = body
            self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` fetches with ``status``."""
        with self.lock:
            self.faults += [status] * n

    def bad_json_next(self, n: int) -> None:
        """Answer the next ``n`` fetches with a 200 whose body is not JSON."""
        with self.lock:
            self.faults += ["bad_json"] * n

    def stall_next(self, n: int) -> None:
        """Hold the next ``n`` fetches until ``release()``."""
        self.released.clear()
        with self.lock:
            self.faults += ["stall"] * n

    def release(self) -> None:
        """Let stalled fetches answer."""
        self.released.set()

    def wait_for_stream(self, opens: int = 1, timeout: float = 10.0) -> bool:
        """Wait until streams have been opened ``opens`` times in all."""
        with self.lock:
            return self.stream_opened.wait_for(lambda: self.stream_opens >= opens, timeout)

    def push(self, event: str, data: str | None = None) -> None:
        """Send one server-sent event to every open stream."""
        frame = f"event: {event}\n"
        if data is not None:
            frame += "".join(f"data: {line}\n" for line in data.split("\n"))
        with self.lock:
            for stream in self.streams:
                stream.put((frame + "\n").encode())

    def drop_streams(self) -> None:
        """Close every open stream (the client should reconnect)."""
        with self.lock:
            for stream in self.streams:
                stream.put(_DROP)

    def close(self) -> None:
        """Stop the server."""
        self.release()
        self.drop_streams()
        self._server.shutdown()
        self._server.server_close()
