"""Content sources: JSON and CSV feeds over HTTP and from files, and the poller.

A feed is polled on the poller's thread, never in a request. HTTP feeds send the last
``ETag`` as ``If-None-Match`` (a ``304`` costs nothing); file feeds compare the file's size
and modification time. A fetch that fails (timeout, bad status, garbage, a partial CSV, a
body over ``max_bytes``) keeps the source's last good items and is counted.

A JSON feed is an array of item objects or ``{"items": [...]}``. A CSV feed has a header
row naming item fields; ``tags`` and ``categories`` cells are ``|``-separated, ``condition``
and ``metadata`` cells hold JSON, and ``payload.<key>`` columns build the payload object.

In a forked child (gunicorn ``--preload``) the poller's thread did not survive: a poller that
was running starts its own, and an HTTP feed opens its own connections.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec

from .. import _lifecycle
from .._errors import ConfigError, PluginError
from .._stats import ContentSourceStats
from ..config import SourceConfig
from ..plugins import ContentSource, FeedResult, check_plugin, load_plugin
from ._catalog import ContentItem, parse_items

__all__ = ["FeedError", "FeedPoller", "FileFeed", "HttpFeed", "build_source", "parse_feed"]

log = logging.getLogger("persona_sdk.content")


class FeedError(Exception):
    """A feed could not be read; the catalog keeps the source's last good items."""


def _format_of(fmt: str | None, where: str) -> str:
    name = (fmt or "").lower()
    if name in ("json", "csv"):
        return name
    return "csv" if where.lower().split("?")[0].endswith(".csv") else "json"


def parse_feed(body: bytes, fmt: str) -> list[Any]:
    """The raw items of a feed body; ``FeedError`` when the body as a whole is unreadable."""
    if fmt == "csv":
        return _parse_csv(body)
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise FeedError(f"not valid JSON: {exc}") from None
    if isinstance(doc, Mapping):
        doc = doc.get("items")
    if not isinstance(doc, list):
        raise FeedError('expected an array of items or {"items": [...]}')
    return doc


def _parse_csv(body: bytes) -> list[Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"not UTF-8: {exc}") from None
    if text and not text.endswith(("\n", "\r")):
        # an export cut short: its last row may be silently missing fields
        raise FeedError("partial CSV: the body does not end with a line break")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FeedError(f"unreadable CSV: {exc}") from None
    if not rows:
        raise FeedError("empty CSV: no header row")
    header = [h.strip() for h in rows[0]]
    if "id" not in header:
        raise FeedError('CSV header has no "id" column')
    items: list[Any] = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise FeedError(f"partial CSV: line {n} has {len(row)} fields, header {len(header)}")
        item: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=True):
            if name.startswith("payload."):
                if cell != "":
                    payload[name[len("payload."):]] = cell
            elif name in ("metadata", "payload") and cell:
                try:
                    item[name] = msgspec.json.decode(cell)
                except msgspec.DecodeError:
                    item[name] = cell  # refused by the item check, naming the field
            elif cell != "":
                item[name] = cell
        if payload:
            item["payload"] = {**payload, **(item.get("payload") or {})}
        items.append(item)
    return items


class HttpFeed:
    """A JSON or CSV feed over HTTP(S), polled with ``If-None-Match``.

    .. versionadded:: 0.2.0
    """

    def __init__(self, *, name: str, config: SourceConfig) -> None:
        if not config.url or not config.url.startswith(("http://", "https://")):
            raise ConfigError("url: expected an http:// or https:// URL")
        self.name = name
        self.url = config.url
        self.interval = config.interval
        self.format = _format_of(config.format, config.url)
        self.max_bytes = config.max_bytes
        self._headers = dict(config.headers)
        self._timeout = config.timeout
        self._client = httpx.Client(timeout=config.timeout, follow_redirects=True)
        _lifecycle.register(f"content source {name!r}", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # the parent's pooled connections must not be shared: new ones, the old never closed
        _lifecycle.inherit(self._client)
        self._client = httpx.Client(timeout=self._timeout, follow_redirects=True)

    def fetch(self, etag: str | None) -> FeedResult:
        """GET the feed; ``not_modified`` on ``304``; ``FeedError`` on any failure."""
        headers = dict(self._headers)
        if etag:
            headers["If-None-Match"] = etag
        try:
            with self._client.stream("GET", self.url, headers=headers) as resp:
                if resp.status_code == 304:
                    return FeedResult(etag=etag, not_modified=True)
                if resp.status_code != 200:
                    raise FeedError(f"HTTP {resp.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FeedError(f"body over max_bytes ({self.max_bytes})")
                    chunks.append(chunk)
                new_etag = resp.headers.get("etag")
        except httpx.HTTPError as exc:
            raise FeedError(f"{type(exc).__name__}: {exc}") from None
        return FeedResult(items=parse_feed(b"".join(chunks), self.format), etag=new_etag)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class FileFeed:
    """A JSON or CSV feed from a file; unchanged size and modification time is not modified.

    .. versionadded:: 0.2.0
    """

    def __init__(self, *, name: str, config: SourceConfig) -> None:
        if not config.path:
            raise ConfigError("path: required for a file source")
        self.name = name
        self.path = Path(config.path)
        self.interval = config.interval
        self.format = _format_of(config.format, config.path)
        self.max_bytes = config.max_bytes

    def fetch(self, etag: str | None) -> FeedResult:
        """Read the file; ``not_modified`` when its size and mtime are as at ``etag``."""
        try:
            st = os.stat(self.path)
            tag = f"{st.st_mtime_ns}-{st.st_size}"
            if etag == tag:
                return FeedResult(etag=etag, not_modified=True)
            if st.st_size > self.max_bytes:
                raise FeedError(f"file over max_bytes ({self.max_bytes})")
            body = self.path.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return FeedResult(items=parse_feed(body, self.format), etag=tag)

    def close(self) -> None:
        """Nothing to release."""

_SOURCE_GROUP = "persona_sdk.content_sources"


def build_source(
    name: str, config: SourceConfig, factories: Mapping[str, Any] | None = None
) -> Any:
    """The content source of ``[content_sources.<name>]``: ``http``, ``file``, a factory
    passed to ``Persona(content_sources=...)``, or an entry point of
    ``persona_sdk.content_sources`` (called with ``name`` and ``options``)."""
    if config.interval <= 0:
        raise ConfigError("interval: must be positive")
    if config.format is not None and config.format.lower() not in ("json", "csv"):
        raise ConfigError('format: expected "json" or "csv"')
    if config.kind == "http":
        return HttpFeed(name=name, config=config)
    if config.kind == "file":
        return FileFeed(name=name, config=config)
    factory = (factories or {}).get(config.kind)
    if factory is None:
        try:
            factory = load_plugin(_SOURCE_GROUP, config.kind)
        except PluginError as exc:
            raise ConfigError(f"kind: {exc}") from None
    source = factory(name=name, options=dict(config.options))
    try:
        checked: ContentSource = check_plugin(_SOURCE_GROUP, config.kind, source)
    except PluginError as exc:
        raise ConfigError(f"kind: {exc}") from None
    return checked


class _State:
    __slots__ = (
        "etag", "failing", "failures", "items", "last_error", "next_due", "not_modified",
        "polls", "raw", "refused", "updates",
    )

    def __init__(self) -> None:
        self.etag: str | None = None
        self.items: list[ContentItem] = []
        #: the raw items ``items`` were parsed from, carried to the next container
        self.raw: Sequence[Any] = ()
        self.polls = self.updates = self.not_modified = self.failures = self.refused = 0
        self.failing = False
        self.last_error = ""
        self.next_due = 0.0


class FeedPoller:
    """Polls content sources on one daemon thread and hands every source's last good items
    to ``on_update`` (which swaps the catalog). ``poll_all`` polls on the caller's thread.
    """

    def __init__(
        self,
        sources: Sequence[Any],
        on_update: Callable[[list[list[ContentItem]]], list[str]],
        *,
        operators: Any = None,
        saved_groups: Mapping[str, Any] | None = None,
    ) -> None:
        self.sources = list(sources)
        self._on_update = on_update
        self._operators = operators
        self._saved_groups = saved_groups
        self._states = {s.name: _State() for s in self.sources}
        self._lock = threading.Lock()  # one poll at a time (thread and poll_all)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.catalog_conflicts = 0
        _lifecycle.register("content feed poller", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The thread (and a poll it had under way, with this lock) stayed in the parent.
        running = self._thread is not None and not self._stop.is_set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if running:
            self.start()

    def poll(self, source: Any) -> str:
        """Fetch one source; ``updated``, ``not_modified`` or ``failed: <reason>``."""
        with self._lock:
            state = self._states[source.name]
            state.polls += 1
            state.next_due = time.monotonic() + source.interval
            try:
                result = source.fetch(state.etag)
                if result.not_modified:
                    state.not_modified += 1
                    return "not_modified"
                items, errors = parse_items(
                    result.items,
                    f"content_sources.{source.name}.items",
                    source=source.name,
                    operators=self._operators,
                    saved_groups=self._saved_groups,
                )
            except Exception as exc:  # a plugin may raise anything: keep the last good
                state.failures += 1
                state.last_error = str(exc) or type(exc).__name__
                if not state.failing:  # logged once per outage
                    log.warning(
                        "content source %r failed, keeping its last good items: %s",
                        source.name, state.last_error,
                    )
                state.failing = True
                return f"failed: {state.last_error}"
            if errors:
                state.refused += len(errors)
                log.warning(
                    "content source %r: %d item(s) refused, first: %s",
                    source.name, len(errors), errors[0],
                )
            state.failing = False
            state.etag = result.etag
            state.items = items
            state.raw = result.items
            state.updates += 1
            conflicts = self._on_update([s.items for s in self._states.values()])
            self.catalog_conflicts += len(conflicts)
            return "updated"

    def carried(self) -> dict[str, tuple[str | None, Sequence[Any], float]]:
        """Each source's last good ``(etag, raw items, next due)``, for the poller of the
        next container (``adopt``)."""
        with self._lock:
            return {
                name: (s.etag, s.raw, s.next_due)
                for name, s in self._states.items()
                if s.updates
            }

    def adopt(self, name: str, etag: str | None, raw: Sequence[Any], next_due: float) -> None:
        """Start source ``name`` from another poller's last good items (parsed again under
        this container's operators and saved groups) and its ``ETag``, keeping its polling
        rhythm; the items join the catalog at once."""
        with self._lock:
            state = self._states[name]
            items, errors = parse_items(
                raw,
                f"content_sources.{name}.items",
                source=name,
                operators=self._operators,
                saved_groups=self._saved_groups,
            )
            state.refused += len(errors)
            state.etag, state.raw, state.items, state.next_due = etag, raw, items, next_due
            self.catalog_conflicts += len(
                self._on_update([s.items for s in self._states.values()])
            )

    def poll_all(self) -> dict[str, str]:
        """Poll every source now."""
        return {s.name: self.poll(s) for s in self.sources}

    def start(self) -> None:
        """Start the polling thread (idempotent)."""
        if self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(
            target=self._run, name="persona-content-feeds", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for source in self.sources:
                if self._stop.is_set():
                    return
                if self._states[source.name].next_due <= now:
                    self.poll(source)
            wait = min(s.next_due for s in self._states.values()) - time.monotonic()
            self._stop.wait(max(0.05, wait))

    def close(self) -> None:
        """Stop the thread and close every source."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        for source in self.sources:
            try:
                source.close()
            except Exception:
                log.warning("content source %r failed to close", source.name)

    def stats(self) -> dict[str, ContentSourceStats]:
        """Per source: ``polls``, ``updates``, ``not_modified``, ``failures``, ``refused``
        items, ``items`` held, ``failing`` and ``last_error``."""
        return {
            name: {
                "polls": s.polls, "updates": s.updates, "not_modified": s.not_modified,
                "failures": s.failures, "refused": s.refused, "items": len(s.items),
                "failing": s.failing, "last_error": s.last_error,
            }
            for name, s in self._states.items()
        }
