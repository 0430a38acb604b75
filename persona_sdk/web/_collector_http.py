"""The collector's sans-I/O request and response values, JSON errors, and the CORS policy."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import msgspec

__all__ = [
    "Begin", "CollectorResponse", "CorsPolicy", "Pending", "Reject", "RequestHead",
    "basic_auth_user",
]

_encode = msgspec.json.encode


class RequestHead:
    """What the collector needs from a request before its body: the sans-I/O input.

    ``headers`` has lower-case names (repeated headers joined with ``", "``, cookies with
    ``"; "``); ``query`` is the raw, still percent-encoded query string; ``client`` is the
    peer address as the server saw it.
    """

    __slots__ = ("client", "headers", "method", "path", "query", "scheme")

    def __init__(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        client: str | None = None,
        scheme: str = "http",
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.query = query
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.client = client
        self.scheme = scheme

    @staticmethod
    def join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Fold ``(name, value)`` pairs into a dict with lower-case names."""
        out: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key in out:
                out[key] = f"{out[key]}{'; ' if key == 'cookie' else ', '}{value}"
            else:
                out[key] = value
        return out

    def __repr__(self) -> str:
        return f"RequestHead({self.method} {self.path})"


class CollectorResponse:
    """The collector's answer: status, headers and the complete body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None

    def json(self) -> Any:
        """The body decoded as JSON (for tests and callers embedding the collector)."""
        return msgspec.json.decode(self.body)

    def __repr__(self) -> str:
        return f"CollectorResponse({self.status}, {self.body[:80]!r})"


class Pending(Protocol):
    """A routed request waiting for its body (``PendingBody``)."""

    #: the most body bytes worth reading (more means 413)
    limit: int

    def finish(self, body: bytes) -> CollectorResponse:
        """Answer the request given its body."""


#: ``Collector.begin``: route a request head; answer now, or return what takes the body.
#: What the ASGI and WSGI adapters are built on (never the whole collector).
Begin = Callable[[RequestHead], "CollectorResponse | Pending"]


class Reject(Exception):
    """Raised inside the collector to answer with a 4xx JSON error."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None,
        code: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code
        self.headers = headers or []
        self.extra = extra

    def body(self) -> bytes:
        """``{"error", "field", "code", "message"}``; ``code``/``message`` are what Segment's
        libraries read, so they log the reason and do not retry a 4xx."""
        doc: dict[str, Any] = {
            "error": self.message,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }
        if self.extra:
            doc.update(self.extra)
        return _encode(doc)


def basic_auth_user(header: str | None) -> str | None:
    """The user part of an ``Authorization: Basic`` header (Segment sends ``writeKey:``)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, _, _ = decoded.partition(":")
    return user or None


class CorsPolicy:
    """Which origins may call the collector cross-origin, with credentials.

    Entries are exact origins (``https://shop.example``), subdomain wildcards
    (``https://*.shop.example``, which does not match the bare domain) or ``*``. The request's
    own origin (its ``Host``) is always allowed; ``null`` origins only when listed.
    """

    ALLOW_HEADERS = frozenset({"content-type", "authorization", "content-encoding"})
    MAX_AGE = "600"

    def __init__(self, origins: Iterable[str]) -> None:
        self._any = False
        self._exact: set[str] = set()
        self._suffixes: list[tuple[str, str]] = []
        for entry in origins:
            origin = entry.strip().rstrip("/")
            if origin == "*":
                self._any = True
            elif "://*." in origin:
                scheme, _, rest = origin.partition("://*")
                self._suffixes.append((scheme.lower() + "://", rest.lower()))
            elif origin:
                self._exact.add(origin.lower())

    def allowed(self, origin: str, host: str | None) -> bool:
        """Whether a request from ``origin`` to ``host`` may proceed."""
        if not origin.isprintable() or " " in origin:
            return False  # never echo something that is not a plain origin into a header
        low = origin.lower()
        if host and low.partition("://")[2] == host.lower():
            return True
        if low in self._exact:
            return True
        if low == "null":
            return False
        if self._any:
            return True
        for scheme, suffix in self._suffixes:
            if low.startswith(scheme) and low.endswith(suffix) and len(low) > len(scheme) + len(
                suffix
            ):
                label = low[len(scheme) : -len(suffix)]
                if "/" not in label and "@" not in label:
                    return True
        return False

    @staticmethod
    def response_headers(origin: str) -> list[tuple[str, str]]:
        """Headers that let the browser hand ``origin`` the response, cookies included."""
        return [
            ("access-control-allow-origin", origin),
            ("access-control-allow-credentials", "true"),
            ("vary", "Origin"),
        ]

    def preflight_headers(self, origin: str, requested: str | None) -> list[tuple[str, str]]:
        """Headers answering an ``OPTIONS`` preflight from an allowed ``origin``."""
        asked = [h.strip().lower() for h in (requested or "").split(",") if h.strip()]
        allow = [h for h in asked if h in self.ALLOW_HEADERS] or ["content-type"]
        return [
            *self.response_headers(origin),
            ("access-control-allow-methods", "GET, POST, OPTIONS"),
            ("access-control-allow-headers", ", ".join(allow)),
            ("access-control-max-age", self.MAX_AGE),
        ]
