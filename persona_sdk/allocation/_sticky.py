"""Sticky bucketing: remember a visitor's variation so it survives weight and coverage changes.

A store keeps one document per identifier attribute value (``"id||u-1"``) mapping
``"<experiment key>__<bucket version>"`` to the variation key. The shapes are GrowthBook's,
so a browser SDK's cookies (``gbStickyBuckets__id||u-1``) and the server read each other's
assignments.

Stores come in two forms: ``StickyBucketStore`` (sync) and ``AsyncStickyBucketStore``; a
store may implement both (``InMemoryStickyBucketStore`` does). Redis ships as a plugin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

import msgspec

from ..plugins import AsyncStickyBucketStore, StickyAssignments, StickyBucketStore, sticky_key

__all__ = [
    "STICKY_COOKIE_PREFIX",
    "AsyncStickyBucketStore",
    "InMemoryStickyBucketStore",
    "StickyAssignments",
    "StickyBucketStore",
    "decode_sticky_cookies",
    "encode_sticky_cookies",
    "sticky_key",
]

#: The cookie (and localStorage) name prefix GrowthBook's browser SDK uses.
STICKY_COOKIE_PREFIX = "gbStickyBuckets__"


class InMemoryStickyBucketStore:
    """A process-local store (sync and async forms); handy for tests and for a per-request
    store seeded from cookies.

    Usage::

        store = InMemoryStickyBucketStore(decode_sticky_cookies(request.cookies))
        ...  # evaluate features with this store
        for name, value in encode_sticky_cookies(store.changed()).items():
            response.set_cookie(name, value)
    """

    def __init__(self, docs: Mapping[str, StickyAssignments] | Iterable[StickyAssignments] = ()):
        values = docs.values() if isinstance(docs, Mapping) else docs
        self._docs: dict[str, StickyAssignments] = {d.key: d for d in values}
        self._changed: dict[str, StickyAssignments] = {}
        self._lock = threading.Lock()

    def load(self, attributes: Mapping[str, str]) -> dict[str, StickyAssignments]:
        """Documents for ``{attribute name: attribute value}``, keyed ``"name||value"``."""
        docs = self._docs
        out: dict[str, StickyAssignments] = {}
        for name, value in attributes.items():
            key = sticky_key(name, value)
            doc = docs.get(key)
            if doc is not None:
                out[key] = doc
        return out

    def save(self, doc: StickyAssignments) -> None:
        """Insert or replace one document (remembered by ``changed()``)."""
        with self._lock:
            self._docs[doc.key] = doc
            self._changed[doc.key] = doc

    async def aload(self, attributes: Mapping[str, str]) -> dict[str, StickyAssignments]:
        """The asyncio form of ``load`` (no I/O: answers at once)."""
        return self.load(attributes)

    async def asave(self, doc: StickyAssignments) -> None:
        """The asyncio form of ``save``."""
        self.save(doc)

    def docs(self) -> dict[str, StickyAssignments]:
        """A copy of every document, keyed ``"name||value"``."""
        with self._lock:
            return dict(self._docs)

    def changed(self) -> list[StickyAssignments]:
        """The documents saved since this store was created (what to write back)."""
        with self._lock:
            return list(self._changed.values())

    def __len__(self) -> int:
        return len(self._docs)


_decode_doc = msgspec.json.Decoder(StickyAssignments).decode


def encode_sticky_cookies(
    docs: Iterable[StickyAssignments], *, prefix: str = STICKY_COOKIE_PREFIX
) -> dict[str, str]:
    """Cookie names and values for ``docs``, in the GrowthBook browser SDK's format:
    ``<prefix><name>||<value>`` holding the document as percent-encoded JSON.

    Set them with the framework's ``set_cookie`` (they need no further quoting).
    """
    out: dict[str, str] = {}
    for doc in docs:
        name = quote(prefix + doc.key, safe="")
        out[name] = quote(msgspec.json.encode(doc).decode("utf-8"), safe="")
    return out


def decode_sticky_cookies(
    cookies: Mapping[str, str], *, prefix: str = STICKY_COOKIE_PREFIX
) -> dict[str, StickyAssignments]:
    """The sticky documents found in a request's cookies (others are ignored, as are
    malformed values: a bad cookie never breaks a request). Accepts percent-encoded or
    plain names and values."""
    out: dict[str, StickyAssignments] = {}
    for raw_name, raw_value in cookies.items():
        name = unquote(raw_name)
        if not name.startswith(prefix):
            continue
        doc = _doc_from_cookie(raw_value)
        if doc is not None and doc.attribute_name and doc.attribute_value:
            out[doc.key] = doc
    return out


def _doc_from_cookie(value: str) -> StickyAssignments | None:
    text = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    # Frameworks differ on whether they percent-decode cookie values: try both readings.
    for candidate in (text, unquote(text)):
        try:
            return _decode_doc(candidate)
        except (msgspec.DecodeError, ValueError):
            continue
    return None
