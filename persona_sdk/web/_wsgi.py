"""The collector as a WSGI application (gunicorn, waitress, wsgiref, or inside a WSGI app)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from ._collector_http import Begin, CollectorResponse, RequestHead

__all__ = ["WSGIApp", "make_wsgi"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_CHUNK = 65_536
_REASONS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def head_from_environ(environ: dict[str, Any]) -> RequestHead:
    """The sans-I/O request head for a WSGI ``environ``."""
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            pairs.append((key[5:].replace("_", "-"), value))
    if environ.get("CONTENT_TYPE"):
        pairs.append(("content-type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        pairs.append(("content-length", environ["CONTENT_LENGTH"]))
    return RequestHead(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO", "") or "/",
        query=environ.get("QUERY_STRING", ""),
        headers=RequestHead.join_headers(pairs),
        client=environ.get("REMOTE_ADDR") or None,
        scheme=environ.get("wsgi.url_scheme", "http"),
    )


def _read_body(environ: dict[str, Any], limit: int, length: str | None) -> bytes:
    stream = environ["wsgi.input"]
    if length:
        # the core has already refused anything but plain digits
        declared = int(length) if length.isascii() and length.isdigit() else 0
        return bytes(stream.read(min(declared, limit + 1))) if declared else b""
    if not environ.get("wsgi.input_terminated"):
        # PEP 3333: without Content-Length there is no body unless the server says the
        # stream ends (gunicorn does, for chunked requests).
        return b""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _respond(start_response: StartResponse, response: CollectorResponse) -> list[bytes]:
    headers = list(response.headers)
    if not any(k == "content-length" for k, _ in headers):
        headers.append(("content-length", str(len(response.body))))
    start_response(_REASONS.get(response.status, str(response.status)), headers)
    return [response.body]


def make_wsgi(begin: Begin) -> WSGIApp:
    """Return the WSGI callable that serves the collector whose ``begin`` this is."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        first = begin(head_from_environ(environ))
        if isinstance(first, CollectorResponse):
            return _respond(start_response, first)
        body = _read_body(environ, first.limit, environ.get("CONTENT_LENGTH"))
        return _respond(start_response, first.finish(body))

    return app
