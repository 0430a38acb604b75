"""persona-weather: a cached weather enricher for persona-sdk (an example ``Enricher``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["WeatherEnricher"]


class WeatherEnricher:
    """The visitor's weather (``weather``, ``temperature_c``) by an attribute (``city``).

    ``enrich`` answers from the cache and queues a background fetch on a miss or an expired
    entry; it never waits. See the README.

    Args:
        url: the source, with ``{value}`` or ``{city}`` replaced by the URL-quoted attribute.
        attribute: the visitor attribute naming the place.
        ttl: seconds an answer is fresh.
        retry: seconds before a failed place is fetched again.
        timeout: the HTTP timeout.
        max_entries: places cached (least recently fetched forgotten first).
        max_pending: fetches that may wait; more are dropped (counted).
        clock: monotonic seconds, for expiry.
    """

    def __init__(
        self,
        *,
        url: str,
        attribute: str = "city",
        ttl: float = 600.0,
        retry: float = 60.0,
        timeout: float = 2.0,
        max_entries: int = 10_000,
        max_pending: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url: expected an http:// or https:// URL")
        self.url = url
        self.attribute = attribute
        self.ttl = ttl
        self.retry = retry
        self.max_entries = max_entries
        self.max_pending = max_pending
        self._clock = clock
        self._timeout = timeout
        self._cache: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._pending: deque[str] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.counts = {"hits": 0, "misses": 0, "fetches": 0, "failures": 0, "dropped": 0}

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> WeatherEnricher:
        """The entry point: build from ``[context.options.weather]``."""
        return cls(**dict(options))

    # -- the hot path ----------------------------------------------------------------------

    def enrich(self, attributes: Mapping[str, Any], now: float) -> Mapping[str, Any] | None:
        """The cached weather of the visitor's place (queues a refresh when missing or old)."""
        place = attributes.get(self.attribute)
        if not isinstance(place, str) or not place or len(place) > 100:
            return None
        entry = self._cache.get(place)
        if entry is not None and entry[1] > self._clock():
            self.counts["hits"] += 1
            return entry[0]
        self.counts["misses"] += 1
        self._schedule(place)
        return entry[0] if entry is not None else None

    def _schedule(self, place: str) -> None:
        with self._cond:
            if self._closed or place in self._queued:
                return
            if len(self._pending) >= self.max_pending:
                self.counts["dropped"] += 1
                return
            self._queued.add(place)
            self._pending.append(place)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="persona-weather", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                with self._cond:
                    while not self._pending and not self._closed:
                        self._busy = False
                        self._cond.notify_all()
                        self._cond.wait()
                    if self._closed:
                        self._busy = False
                        self._cond.notify_all()
                        return
                    place = self._pending.popleft()
                    self._busy = True
                value, fresh_for = self._fetch(client, place)
                with self._cond:
                    self._queued.discard(place)
                    old = self._cache.pop(place, None)
                    if value is None and old is not None:
                        value = old[0]  # keep the last good answer
                    if value is not None:
                        self._cache[place] = (value, self._clock() + fresh_for)
                    else:  # nothing to serve: remember the failure so it is not refetched
                        self._cache[place] = ({}, self._clock() + fresh_for)
                    while len(self._cache) > self.max_entries:
                        self._cache.popitem(last=False)

    def _fetch(self, client: httpx.Client, place: str) -> tuple[dict[str, Any] | None, float]:
        self.counts["fetches"] += 1
        url = self.url.replace("{city}", quote(place)).replace("{value}", quote(place))
        try:
            resp = client.get(url)
            resp.raise_for_status()
            doc = resp.json()
            condition = doc["condition"]
            temperature = doc.get("temperature_c")
            if not isinstance(condition, str) or not (
                temperature is None or isinstance(temperature, (int, float))
            ):
                raise ValueError("unexpected shape")
        except Exception:
            self.counts["failures"] += 1
            return None, self.retry
        out: dict[str, Any] = {"weather": condition}
        if temperature is not None:
            out["temperature_c"] = float(temperature)
        return out, self.ttl

    # -- lifecycle -------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no fetch is queued or running (for tests and warm-up)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stats(self) -> dict[str, int]:
        """``hits``, ``misses``, ``fetches``, ``failures``, ``dropped`` and ``cached``."""
        return {**self.counts, "cached": len(self._cache)}

    def close(self) -> None:
        """Stop the background thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
