"""The plugin's tests import it from its folder (installed or not) and serve weather from a
loopback HTTP server."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class WeatherServer(ThreadingHTTPServer):
    """Answers ``/now?city=X`` with ``answers[X]`` (a dict, or an int status to fail)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, Any] = {}
        self.requests: list[str] = []

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WeatherServer

    def do_GET(self) -> None:
        city = parse_qs(urlsplit(self.path).query).get("city", [""])[0]
        self.server.requests.append(city)
        answer = self.server.answers.get(city, 404)
        status, body = (answer, b"{}") if isinstance(answer, int) else (200, json.dumps(
            answer).encode())
        self.wfile.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def weather_server() -> Iterator[WeatherServer]:
    server = WeatherServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
