"""Live GrowthBook flag definitions: fetch the SDK payload, keep it fresh, keep the last good.

``FlagFeed`` owns one daemon thread. It fetches ``{api_host}/api/features/{client_key}`` with
``If-None-Match``; when the answer says the host streams (``x-sse-support: enabled``) and
streaming is on, it follows ``{api_host}/sub/{client_key}`` (server-sent events: ``features``
carries a payload, ``features-updated`` asks for a fetch); otherwise, and whenever the stream
drops, it polls, backing off exponentially with full jitter after failures. Every payload is
handed to ``apply``; a payload that does not apply, a 5xx, a stall or bad JSON keeps the last
good flags, is counted, and is logged once per kind. An optional file cache (written
atomically, mode 0600) serves a cold start while the API is down.

The decisions about what to do next are made by plain methods on :class:`FeedPolicy` (no
I/O), so they are tested without a server; the thread only performs them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import msgspec

from .. import _lifecycle
from .._errors import ConfigError
from .._stats import FlagFeedStats

__all__ = ["FeedPolicy", "FlagFeed", "SseParser"]

log = logging.getLogger("persona_sdk.flags")

#: the largest payload accepted from the API or the stream (a hostile or broken host)
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
#: the longest wait before following a stream again after it ended
RECONNECT_DELAY = 5.0

#: jitter from the OS, never the application's global ``random`` state
_JITTER = random.SystemRandom().random



class SseParser:
    """Server-sent events from a stream of lines (the W3C EventSource rules that matter
    here: ``event:``, multi-line ``data:``, a blank line ends an event, ``:`` comments)."""

    def __init__(self, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self._type = ""
        self._data: list[str] = []
        self._size = 0
        self._max = max_bytes

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line (without its newline); return ``(event, data)`` when one ends."""
        if not line:
            if not self._type and not self._data:
                return None
            event = (self._type or "message", "\n".join(self._data))
            self._type, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._type = value
        elif name == "data":
            self._size += len(value)
            if self._size > self._max:
                raise ValueError("server-sent event larger than the payload cap")
            self._data.append(value)
        return None


class FeedPolicy:
    """When to fetch next, and what an answer means (no I/O)."""

    def __init__(
        self,
        *,
        poll_interval: float,
        max_backoff: float,
        rand: Callable[[], float] = _JITTER,
    ) -> None:
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.failures = 0
        self.etag: str | None = None
        self._rand = rand

    def headers(self) -> dict[str, str]:
        """The request headers of the next fetch (``If-None-Match`` after a good one)."""
        headers = {"Accept": "application/json"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        return headers

    def answer(self, status: int, etag: str | None, body: bytes) -> dict[str, Any] | None:
        """The payload of a fetch answer, or None when unchanged (304).

        Raises ``ValueError`` naming what was wrong (status, size, JSON shape).
        """
        if status == 304:
            self.failures = 0
            return None
        if status != 200:
            raise ValueError(f"HTTP {status}")
        if len(body) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload over {MAX_PAYLOAD_BYTES} bytes")
        payload = decode_payload(body)
        self.etag = etag
        self.failures = 0
        return payload

    def failed(self) -> None:
        """Record a failed fetch (network error, 5xx, bad payload)."""
        self.failures += 1

    def next_delay(self) -> float:
        """Seconds until the next fetch: the poll interval, or after failures a backoff that
        doubles from it up to ``max_backoff``, with equal jitter (never a tight loop)."""
        if not self.failures:
            return self.poll_interval
        ceiling = min(self.max_backoff, self.poll_interval * 2.0 ** min(self.failures, 30))
        return ceiling / 2 + ceiling / 2 * self._rand()


def decode_payload(body: bytes | str) -> dict[str, Any]:
    """A GrowthBook SDK payload from JSON (an object), or ``ValueError``."""
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload


class FlagFeed:
    """Fetches and follows a GrowthBook SDK payload on one daemon thread.

    ``apply(payload)`` swaps the flags in (raising ``ConfigError`` to refuse a payload);
    it runs on the feed's thread.
    """

    def __init__(
        self,
        *,
        api_host: str,
        client_key: str,
        apply: Callable[[dict[str, Any]], None],
        poll_interval: float = 60.0,
        streaming: bool = True,
        cache_path: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        max_backoff: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not client_key or any(c in client_key for c in "/?#\r\n"):
            raise ConfigError("client_key: expected a GrowthBook SDK client key")
        host = api_host.rstrip("/")
        if not host.startswith(("http://", "https://")):
            raise ConfigError("api_host: expected an http(s) URL")
        self.features_url = f"{host}/api/features/{client_key}"
        self.stream_url = f"{host}/sub/{client_key}"
        self._apply = apply
        self._streaming = streaming
        self._cache = Path(cache_path) if cache_path is not None else None
        self._timeout = timeout
        self._transport = transport
        if not poll_interval > 0:
            raise ConfigError("poll_interval: expected a positive number of seconds")
        self.policy = FeedPolicy(
            poll_interval=poll_interval, max_backoff=max(max_backoff, poll_interval)
        )
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._thread: threading.Thread | None = None
        self.counts: dict[str, int] = {
            "fetches": 0, "not_modified": 0, "applied": 0, "stream_events": 0,
            "errors": 0, "refused": 0, "cache_loads": 0,
        }
        self.last_error = ""
        self._logged: set[str] = set()
        # a forked child (gunicorn --preload) has no feed thread: start its own
        _lifecycle.register("flag feed", after_in_child=self.after_fork)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Serve the cache (if any), then start the thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if not self.ready.is_set():
                self._load_cache()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="persona-flags", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the connection (idempotent)."""
        self._stop.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()  # interrupts a stream that is waiting for data
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def after_fork(self) -> None:
        """In a forked child: the thread did not survive; start a new one if it ran."""
        running = self._thread is not None and not self._stop.is_set()
        self._thread = None
        if self._client is not None:
            _lifecycle.inherit(self._client)  # the parent's connections: never closed here
        self._client = None
        # the thread may have held these events' locks at the fork: new ones, same state
        ready, self.ready = self.ready, threading.Event()
        if ready.is_set():
            self.ready.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        if running:
            self.start()

    def stats(self) -> FlagFeedStats:
        """Counters, readiness and the last error."""
        # counts is keyed by name (bumped as counts[key]): a cast, pinned by a test
        return cast(
            "FlagFeedStats",
            {**self.counts, "ready": self.ready.is_set(), "last_error": self.last_error},
        )

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        self._client = httpx.Client(timeout=self._timeout, transport=self._transport)
        try:
            while not self._stop.is_set():
                if self._fetch() and self._streaming:
                    self._follow()  # returns when the stream ends
                    # reconnect soon (a fetch comes first, so nothing is missed meanwhile),
                    # backing off like a fetch once failures pile up
                    delay = min(self.policy.next_delay(), RECONNECT_DELAY)
                else:
                    delay = self.policy.next_delay()
                self._stop.wait(delay)
        finally:
            with contextlib.suppress(Exception):
                self._client.close()

    def _fetch(self) -> bool:
        """One fetch; returns whether the host says it streams."""
        self.counts["fetches"] += 1
        try:
            assert self._client is not None
            reply = self._client.get(self.features_url, headers=self.policy.headers())
            body = reply.read()
            payload = self.policy.answer(reply.status_code, reply.headers.get("etag"), body)
        except (httpx.HTTPError, ValueError, RuntimeError) as exc:
            self._error("fetch", exc)
            return False
        if payload is None:
            self.counts["not_modified"] += 1
        else:
            self._take(payload, raw=body)
        support: str = reply.headers.get("x-sse-support", "")
        return support.lower() == "enabled"

    def _follow(self) -> None:
        parser = SseParser()
        try:
            assert self._client is not None
            with self._client.stream(
                "GET", self.stream_url, headers={"Accept": "text/event-stream"},
                timeout=httpx.Timeout(self._timeout, read=None),
            ) as reply:
                if reply.status_code != 200:
                    raise ValueError(f"stream HTTP {reply.status_code}")
                for event in _events(reply.iter_lines(), parser, self._stop):
                    self._on_event(*event)
        except (httpx.HTTPError, ValueError, RuntimeError) as exc:
            if not self._stop.is_set():
                self._error("stream", exc)

    def _on_event(self, kind: str, data: str) -> None:
        self.counts["stream_events"] += 1
        if kind == "features":
            try:
                payload = decode_payload(data)
            except ValueError as exc:
                self._error("stream", exc)
                return
            self._take(payload, raw=data.encode())
        elif kind == "features-updated":
            self._fetch()

    def _take(self, payload: dict[str, Any], *, raw: bytes) -> None:
        try:
            self._apply(payload)
        except ConfigError as exc:
            self.counts["refused"] += 1
            self._error("refused", exc)
            return
        self.counts["applied"] += 1
        self.ready.set()
        self._save_cache(raw)

    def _error(self, kind: str, exc: BaseException) -> None:
        self.counts["errors"] += 1
        self.policy.failed()
        self.last_error = f"{kind}: {exc}"
        if kind not in self._logged:  # once per kind: a dead API must not flood the log
            self._logged.add(kind)
            log.warning("flag feed %s failed (last good flags kept): %s", kind, exc)

    # -- the file cache ---------------------------------------------------------------------

    def _load_cache(self) -> None:
        if self._cache is None or not self._cache.exists():
            return
        try:
            body = self._cache.read_bytes()
            self._apply(decode_payload(body))
        except (OSError, ValueError, ConfigError) as exc:
            self._error("cache", exc)
            return
        self.counts["cache_loads"] += 1
        self.ready.set()

    def _save_cache(self, raw: bytes) -> None:
        if self._cache is None:
            return
        try:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._cache.parent, prefix=".flags-")
            with os.fdopen(fd, "wb") as fh:  # mkstemp creates it 0600
                fh.write(raw)
            os.replace(tmp, self._cache)
        except OSError as exc:
            self._error("cache", exc)


def _events(
    lines: Iterator[str], parser: SseParser, stop: threading.Event
) -> Iterator[tuple[str, str]]:
    for line in lines:
        if stop.is_set():
            return
        event = parser.feed(line.rstrip("\r"))
        if event is not None:
            yield event

