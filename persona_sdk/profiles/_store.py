"""The shared (L2) store: an in-memory implementation, and the codec of what the resolver keeps.

``InMemoryProfileStore`` implements ``ProfileStore`` within one process; it is what tests and
single-process deployments use, and the reference a Redis plugin is checked against. Entries
are opaque bytes to a store; the resolver encodes them with msgspec.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
from cachetools import TLRUCache

from .. import _lifecycle

__all__ = ["InMemoryProfileStore", "WireEntry", "decode_entry", "encode_entry"]


class WireEntry(msgspec.Struct, array_like=True, frozen=True):
    """A cached lookup as the L2 store holds it."""

    found: bool
    traits: dict[str, Any]
    fresh_until: float
    expires_at: float


_entry_decoder = msgspec.json.Decoder(WireEntry)


def encode_entry(entry: WireEntry) -> bytes:
    """Encode a cached lookup for the store."""
    return msgspec.json.encode(entry)


def decode_entry(raw: bytes | None) -> WireEntry | None:
    """Decode a cached lookup; None when missing or unreadable (another version wrote it)."""
    if raw is None:
        return None
    try:
        return _entry_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class InMemoryProfileStore:
    """A ``ProfileStore`` in this process' memory, TTL-bounded and LRU-bounded.

    Usage::

        store = InMemoryProfileStore(max_entries=50_000)
        resolver = ProfileResolver(container, store=store)

    ``clock`` is injectable so tests control expiry.
    """

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._data: TLRUCache[str, tuple[Any, float]] = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, v, _now: v[1], timer=clock
        )
        self._clock = clock
        self.gets = 0
        self.sets = 0
        _lifecycle.register("profile store", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> InMemoryProfileStore:
        """The ``persona_sdk.stores`` factory (``type = "memory"``; option ``max_entries``)."""
        from .._errors import ConfigError

        unknown = set(options) - {"max_entries"}
        if unknown:
            raise ConfigError([f"{k}: unknown field" for k in sorted(unknown)])
        max_entries = options.get("max_entries", 100_000)
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigError("max_entries: must be a positive integer")
        return cls(max_entries)

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None."""
        with self._lock:
            self.gets += 1
            try:
                value = self._data[key][0]
            except KeyError:
                return None
            return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds."""
        with self._lock:
            self.sets += 1
            if ttl > 0:
                self._data[key] = (value, self._clock() + ttl)
            else:
                self._data.pop(key, None)

    def delete(self, keys: Sequence[str]) -> None:
        """Remove these keys."""
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def set_field(self, key: str, field: str, value: bytes, *, ttl: float) -> None:
        """Set one field of the hash under ``key`` (atomically) and its expiry."""
        with self._lock:
            self.sets += 1
            try:
                old = self._data[key][0]
            except KeyError:
                old = None
            fields = dict(old) if isinstance(old, dict) else {}
            fields[field] = value
            self._data[key] = (fields, self._clock() + ttl)

    def get_fields(self, key: str) -> dict[str, bytes]:
        """Every field of the hash under ``key`` (empty when missing)."""
        with self._lock:
            self.gets += 1
            try:
                value = self._data[key][0]
            except KeyError:
                return {}
            return dict(value) if isinstance(value, dict) else {}

    async def aset_field(self, key: str, field: str, value: bytes, *, ttl: float) -> None:
        """The same as ``set_field``."""
        self.set_field(key, field, value, ttl=ttl)

    async def aget_fields(self, key: str) -> dict[str, bytes]:
        """The same as ``get_fields``."""
        return self.get_fields(key)

    async def aget(self, key: str) -> bytes | None:
        """The same as ``get`` (memory never blocks)."""
        return self.get(key)

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """The same as ``set``."""
        self.set(key, value, ttl=ttl)

    async def adelete(self, keys: Sequence[str]) -> None:
        """The same as ``delete``."""
        self.delete(keys)

    def scan_keys(self, prefix: str, *, batch: int = 500) -> Iterator[list[str]]:
        """The live keys starting with ``prefix``, in pages of up to ``batch``
        (``ListableProfileStore``); the lock is held for one page's copy at a time."""
        step = max(1, batch)
        with self._lock:
            self._data.expire()
            names = [k for k in self._data if k.startswith(prefix)]
        for i in range(0, len(names), step):
            page = names[i : i + step]
            with self._lock:
                live = [k for k in page if k in self._data]
            if live:
                yield live

    def keys(self) -> list[str]:
        """The live keys (for tests and debugging)."""
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def close(self) -> None:
        """Nothing to release."""
