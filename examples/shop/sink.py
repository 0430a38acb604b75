"""The local sink: an HTTP endpoint in the shop that records what ``http`` destinations send.

It stands in for the vendors (an analytics tool, an ad platform's conversion API) so the demo
needs no external service; the dashboard, the simulator and the browser tests read it.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["Sink"]


def _items(body: bytes) -> list[dict[str, Any]]:
    # Destinations may post a JSON array, a {"batch": [...]} envelope, one object, or NDJSON.
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return [
            item
            for line in body.splitlines()
            if line.strip()
            for item in [msgspec.json.decode(line)]
            if isinstance(item, dict)
        ]
    if isinstance(doc, dict):
        batch = doc.get("batch")
        return [i for i in batch if isinstance(i, dict)] if isinstance(batch, list) else [doc]
    if isinstance(doc, list):
        return [i for i in doc if isinstance(i, dict)]
    return []


class Sink:
    """Events received per destination, in arrival order. Thread-safe."""

    def __init__(self) -> None:
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._cond = threading.Condition()

    async def receive(self, request: Request) -> Response:
        """``POST /_sink/{destination}``: record a batch."""
        name = request.path_params["destination"]
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            items = _items(body)
        except msgspec.DecodeError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        with self._cond:
            self._events.setdefault(name, []).extend(items)
            self._cond.notify_all()
        return JSONResponse({"received": len(items)})

    async def show(self, request: Request) -> Response:
        """``GET /_sink``: everything received, per destination."""
        return JSONResponse(self.snapshot())

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """A copy of the events per destination."""
        with self._cond:
            return {name: list(events) for name, events in self._events.items()}

    def events(self, destination: str) -> list[dict[str, Any]]:
        """A copy of one destination's events."""
        with self._cond:
            return list(self._events.get(destination, ()))

    def counts(self) -> dict[str, Counter[str]]:
        """Event names per destination (``Experiment Viewed``: 3, ...)."""
        with self._cond:
            return {
                name: Counter(str(e.get("event") or e.get("type")) for e in events)
                for name, events in self._events.items()
            }

    def wait_for(
        self, predicate: Callable[[dict[str, list[dict[str, Any]]]], bool], timeout: float
    ) -> bool:
        """Block until ``predicate(events per destination)`` holds; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._events), timeout=timeout)
