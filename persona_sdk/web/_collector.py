"""The first-party collector: Segment-compatible endpoints, beacons, the pixel and the JS tag.

One sans-I/O core. ``Collector.begin(head)`` routes a request from its method, path and
headers and either answers at once (preflight, 404, 413 by ``Content-Length``, 429, the
script, the pixel) or returns a ``PendingBody`` saying how many body bytes to read at most;
``PendingBody.finish(body)`` answers the rest. The ASGI and WSGI adapters only move bytes.

Bad input never raises out of the core: it becomes a 4xx JSON error
``{"error", "field", "code", "message"}``.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..config import CollectorConfig
from ._asgi import ASGIApp, Receive, Send, make_asgi
from ._collector_body import check_content_encoding, check_content_type, pixel_message
from ._collector_http import CollectorResponse, Reject, RequestHead, basic_auth_user
from ._collector_pending import (
    JSON_HEADER,
    NO_STORE,
    PIXEL_GIF,
    Intake,
    PendingBody,
    Settings,
    check_write_key,
)
from ._collector_stamp import client_address, rate_key
from ._profile_api import API_PREFIXES, ProfileApi
from ._script import Script
from ._wsgi import WSGIApp, make_wsgi

if TYPE_CHECKING:
    from ..client import Persona
    from ._ratelimit import TokenBucketLimiter

__all__ = ["PIXEL_GIF", "Collector", "PendingBody"]

# route -> (kind, message type for the single-message endpoints)
_ROUTES: dict[str, tuple[str, str | None]] = {
    "/v1/batch": ("batch", None),
    "/v1/import": ("batch", None),
    "/v1/track": ("single", "track"),
    "/v1/identify": ("single", "identify"),
    "/v1/page": ("single", "page"),
    "/v1/screen": ("single", "screen"),
    "/v1/group": ("single", "group"),
    "/v1/alias": ("single", "alias"),
    # analytics.js (analytics-next) posts to the one-letter forms, text/plain, key in the body
    "/v1/b": ("batch", None),
    "/v1/t": ("single", "track"),
    "/v1/i": ("single", "identify"),
    "/v1/p": ("single", "page"),
    "/v1/s": ("single", "screen"),
    "/v1/g": ("single", "group"),
    "/v1/a": ("single", "alias"),
    "/collect": ("beacon", None),
    "/p.gif": ("pixel", None),
    "/persona.js": ("script", None),
    "/metrics": ("metrics", None),
}
_METHODS = {"script": ("GET", "HEAD"), "pixel": ("GET",), "metrics": ("GET",)}

# A transparent 1x1 GIF (43 bytes).
class Collector:
    """The first-party collector for one ``Persona``: an ASGI app (``collector.asgi``), a WSGI
    app (``collector.wsgi``) and the sans-I/O core they share (``collector.handle``).

    Usage::

        persona = Persona.from_file("persona.toml")
        collector = Collector(persona)
        # ASGI: uvicorn.run(collector) or Mount("/t", app=collector)
        # WSGI: gunicorn "module:collector.wsgi"

    Args:
        persona: where accepted events go, through ``persona.ingest``.
        config: the collector settings; by default the container's ``[collector]`` table,
            followed across ``persona.reload``.
        clock: seconds since the epoch; stamps ``receivedAt`` and drives the rate limiter.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        persona: Persona,
        config: CollectorConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._persona = persona
        self._fixed = config
        self._clock = clock
        self._settings = Settings(config or persona.container.collector, clock)
        self._script = Script()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._profile_api: ProfileApi | None = None
        ports = persona.ports
        self._intake = Intake(ports.ingest, ports.ingest_batch, clock, self._count, self._reject)
        #: The ASGI 3 application (``uvicorn.run(collector.asgi)``).
        self.asgi: ASGIApp = make_asgi(self.begin)
        #: The WSGI application (``gunicorn 'app:collector.wsgi'``).
        self.wsgi: WSGIApp = make_wsgi(self.begin)

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: Receive, send: Send
    ) -> None:
        """The collector is itself an ASGI app (``Mount("/t", app=collector)``); the same as
        ``collector.asgi``."""
        await self.asgi(scope, receive, send)

    # -- settings and stats ---------------------------------------------------------------

    @property
    def config(self) -> CollectorConfig:
        """The settings in force."""
        return self._current().config

    def _current(self) -> Settings:
        settings = self._settings
        if self._fixed is None:
            cfg = self._persona.container.collector
            if cfg is not settings.config:
                settings = self._settings = Settings(cfg, self._clock)
        return settings

    def _count(self, **deltas: int) -> None:
        with self._lock:
            counts = self._counts
            for key, n in deltas.items():
                counts[key] = counts.get(key, 0) + n

    def stats(self) -> dict[str, int]:
        """Counters: ``requests``, ``accepted`` and ``rejected`` events, ``bots`` dropped,
        and one ``status_<code>`` per answer given."""
        with self._lock:
            return dict(self._counts)

    # -- the sans-I/O core ----------------------------------------------------------------

    def handle(self, head: RequestHead, body: bytes = b"") -> CollectorResponse:
        """Answer one complete request (both phases); what the adapters do, in one call."""
        first = self.begin(head)
        if isinstance(first, CollectorResponse):
            return first
        return first.finish(body)

    def begin(self, head: RequestHead) -> CollectorResponse | PendingBody:
        """Route ``head``; answer now, or return the ``PendingBody`` to feed the body to."""
        settings = self._current()
        cors: list[tuple[str, str]] = []
        try:
            return self._begin(settings, head, cors)
        except Reject as exc:
            return self._reject(exc, cors)

    def _begin(
        self, s: Settings, head: RequestHead, cors: list[tuple[str, str]]
    ) -> CollectorResponse | PendingBody:
        cfg = s.config
        path = head.path if not cfg.path_prefix else _unprefixed(head.path, cfg.path_prefix)
        route = _ROUTES.get(path)
        if route is None:
            return self._off_route(s, head, path)
        if route[0] == "metrics" and not cfg.metrics:
            raise Reject(404, "no such endpoint", "path", "not_found")
        kind, msg_type = route
        allowed = _METHODS.get(kind, ("POST",))
        origin = head.headers.get("origin")
        if head.method == "OPTIONS":
            return self._preflight(s, head, origin)
        if head.method not in allowed:
            raise Reject(405, f"use {' or '.join(allowed)}", "method", "method_not_allowed",
                         headers=[("allow", ", ".join((*allowed, "OPTIONS")))])
        if kind == "script":
            return self._script.respond(head, cfg.script_max_age)
        if kind == "metrics":
            return self._metrics(cfg, head)
        if origin is not None:
            if not s.cors.allowed(origin, head.headers.get("host")):
                raise Reject(403, "origin not allowed", "Origin", "forbidden_origin")
            cors.extend(s.cors.response_headers(origin))
        self._count(requests=1)
        client = client_address(head, cfg.client_ip_header)
        if s.limiter is not None:
            _throttle(s.limiter, client)
        auth_key = basic_auth_user(head.headers.get("authorization"))
        if kind == "pixel":
            return self._pixel(s, head, client, cors, auth_key)
        limit = cfg.max_batch_bytes if kind == "batch" else (
            cfg.max_beacon_bytes if kind == "beacon" else cfg.max_message_bytes
        )
        length = head.headers.get("content-length")
        if length is not None:
            length = length.strip()
            # digits only: int() would also take "-1", "+5" and "1_000"
            if not (length.isascii() and length.isdigit()):
                raise Reject(400, "invalid Content-Length", "Content-Length", "invalid_request")
            if int(length) > limit:
                raise Reject(413, f"the body is over the {limit}-byte limit", "body", "too_large")
        check_content_type(head.headers.get("content-type"))
        pending = PendingBody(
            self._intake, s, head=head, kind=kind, msg_type=msg_type, limit=limit, client=client,
            cors=cors,
        )
        pending.gzip = check_content_encoding(head.headers.get("content-encoding"))
        pending.write_key = auth_key
        if kind == "beacon" and pending.write_key is None:
            pending.write_key = _query_write_key(head.query)
        if pending.write_key is not None:
            # a wrong key is refused before the body is read; a missing one may be in it
            check_write_key(s, pending.write_key)
        return pending

    def _off_route(self, s: Settings, head: RequestHead, path: str) -> CollectorResponse:
        # not an event endpoint: the profile API, or nothing
        if not path.startswith(API_PREFIXES):
            raise Reject(404, "no such endpoint", "path", "not_found")
        if s.limiter is not None:  # per client, before any token is checked
            _throttle(s.limiter, client_address(head, s.config.client_ip_header))
        return self._api(s).handle(self._persona, head, path, self._count)

    def _pixel(
        self, s: Settings, head: RequestHead, client: str | None, cors: list[tuple[str, str]],
        auth_key: str | None,
    ) -> CollectorResponse:
        # a GET pixel: the event is in the query, ingested now (there is no body to wait for)
        cfg = s.config
        if len(head.query) > cfg.max_beacon_bytes:
            raise Reject(413, f"the query is over the {cfg.max_beacon_bytes}-byte limit",
                         "query", "too_large")
        message, query_key = pixel_message(head.query, cfg.max_depth)
        pending = PendingBody(
            self._intake, s, head=head, kind="pixel", msg_type=None, limit=0, client=client,
            cors=cors,
        )
        pending.write_key = auth_key or query_key
        return pending.guard(lambda: pending.ingest(message))

    def _api(self, s: Settings) -> ProfileApi:
        # built on first use and again when the config changes (a reload)
        api = self._profile_api
        if api is None or api.config is not s.config.profile_api:
            api = self._profile_api = ProfileApi(s.config.profile_api, self._clock)
        return api

    def _metrics(self, cfg: CollectorConfig, head: RequestHead) -> CollectorResponse:
        if cfg.metrics_token is not None:
            given = head.headers.get("authorization", "")
            expected = f"Bearer {cfg.metrics_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise Reject(401, "a bearer token is required", "Authorization",
                             "unauthorized", headers=[("www-authenticate", "Bearer")])
        from ._metrics import CONTENT_TYPE, metrics_text

        body = metrics_text(self._persona, self)
        self._count(status_200=1)
        return CollectorResponse(200, [("content-type", CONTENT_TYPE), NO_STORE], body)

    def _preflight(self, s: Settings, head: RequestHead, origin: str | None) -> CollectorResponse:
        if origin is None or not s.cors.allowed(origin, head.headers.get("host")):
            raise Reject(403, "origin not allowed", "Origin", "forbidden_origin")
        headers = s.cors.preflight_headers(
            origin, head.headers.get("access-control-request-headers")
        )
        self._count(status_204=1)
        return CollectorResponse(204, headers)

    def _reject(self, exc: Reject, cors: list[tuple[str, str]]) -> CollectorResponse:
        self._count(**{f"status_{exc.status}": 1})
        headers = [JSON_HEADER, NO_STORE, *cors, *exc.headers]
        return CollectorResponse(exc.status, headers, exc.body())


def _query_write_key(query: str) -> str | None:
    # Only the write key is read from a beacon's query; a cheap scan, not a full parse.
    for part in query.split("&"):
        if part.startswith("writeKey="):
            return unquote(part[9:]) or None
    return None


def _throttle(limiter: TokenBucketLimiter, client: str | None) -> None:
    """Refuse (429, with ``Retry-After``) a client over its request rate."""
    wait = limiter.acquire(rate_key(client))
    if wait:
        raise Reject(429, "too many requests", None, "rate_limited",
                     headers=[("retry-after", str(max(1, math.ceil(wait))))])


def _unprefixed(path: str, prefix: str) -> str:
    """``path`` under the collector's ``path_prefix`` (404 when it is not under it)."""
    if not path.startswith(prefix + "/"):
        raise Reject(404, "no such endpoint", "path", "not_found")
    return path[len(prefix) :]
