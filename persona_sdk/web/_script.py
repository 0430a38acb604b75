"""Serving the JS tag (``persona.js``) with caching headers, gzip and conditional requests."""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

from ._collector_http import CollectorResponse, RequestHead

__all__ = ["Script", "script_source"]


def script_source() -> bytes:
    """The JS tag's source, as shipped in the package (``persona_sdk/web/static/persona.js``)."""
    return resources.files("persona_sdk.web").joinpath("static/persona.js").read_bytes()


class Script:
    """The tag's bytes, compressed and hashed once, on the first request for it."""

    def __init__(self) -> None:
        self._loaded: tuple[bytes, bytes, str] | None = None

    def _load(self) -> tuple[bytes, bytes, str]:
        if self._loaded is None:
            raw = script_source()
            # mtime=0: the same bytes on every server, so caches and ETags agree
            packed = gzip.compress(raw, compresslevel=9, mtime=0)
            etag = '"' + hashlib.sha256(raw).hexdigest()[:20] + '"'
            self._loaded = (raw, packed, etag)
        return self._loaded

    def respond(self, head: RequestHead, max_age: int) -> CollectorResponse:
        """Answer ``GET``/``HEAD /persona.js`` (304 when the browser's copy is current)."""
        raw, packed, etag = self._load()
        headers = [
            ("cache-control", f"public, max-age={max_age}"),
            ("etag", etag),
            ("vary", "Accept-Encoding"),
            ("x-content-type-options", "nosniff"),
        ]
        match = head.headers.get("if-none-match")
        if match is not None and (match.strip() == "*" or etag in match):
            return CollectorResponse(304, headers)
        headers.append(("content-type", "text/javascript; charset=utf-8"))
        body = raw
        if "gzip" in head.headers.get("accept-encoding", ""):
            headers.append(("content-encoding", "gzip"))
            body = packed
        headers.append(("content-length", str(len(body))))
        return CollectorResponse(200, headers, b"" if head.method == "HEAD" else body)
