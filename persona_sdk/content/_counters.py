"""``InMemoryCounterStore``: the ``CounterStore`` of one process (caps, bandit statistics).

One lock guards every operation, held for a few dictionary and tuple operations only, so
``window_hit`` is an exact check-and-add across threads. Memory is bounded twice: every key
expires (a hash ``ttl`` seconds after its last write, a window once its last hit is older
than its window), and at most ``max_keys`` keys are kept, the least recently written going
first. A forgotten key at worst lets a visitor see a capped item once more or forgets some
bandit statistics: it never raises.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

__all__ = ["InMemoryCounterStore"]


class InMemoryCounterStore:
    """A thread-safe, bounded, in-process ``CounterStore``.

    Args:
        max_keys: how many hashes and windows are kept together; past it, the least
            recently written sixteenth is forgotten.
        ttl: seconds a hash is kept after its last write.
        clock: the clock for ``ttl`` (windows use the ``now`` their callers pass).

    Usage::

        store = InMemoryCounterStore()
        store.window_hit("cap:promo:v-1", now=time.time(), window=86400, limit=3)  # True
        persona = Persona(container, counter_store=store)

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        *,
        max_keys: int = 1_000_000,
        ttl: float = 30 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        # Both tables in write order (a write moves its key to the end), so the front holds
        # the first to expire.
        self._hashes: dict[str, _Hash] = {}
        #: ``key: (expires, hit, hit, ...)`` (see ``window_hit``)
        self._windows: dict[str, tuple[float, ...]] = {}
        #: ``add``'s increments, not applied yet (see ``add``)
        self._pending: deque[tuple[str, str, float]] = deque()
        #: the latest ``now`` a window was hit at: windows expire by their callers' clock
        self._latest = float("-inf")
        self._ops = 0
        self._evicted = 0

    # -- hashes ------------------------------------------------------------------------------

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        """Add ``amount`` to ``field`` of hash ``key``; returns the new value."""
        now = self._clock()
        with self._lock:
            if self._pending:
                self._apply()
            entry = self._hashes.pop(key, None)
            if entry is None or entry.expires <= now:
                entry = _Hash()
            entry.expires = now + self.ttl
            self._hashes[key] = entry
            fields = entry.fields
            value = fields[field] = fields.get(field, 0.0) + amount
            self._tick()
            return value

    def get_all(self, key: str) -> dict[str, float]:
        """Every field of hash ``key`` (``{}`` when absent or expired)."""
        now = self._clock()
        with self._lock:
            if self._pending:
                self._apply()
            entry = self._hashes.get(key)
            if entry is None or entry.expires <= now:
                return {}
            return dict(entry.fields)

    def add(self, key: str, field: str, amount: float = 1.0) -> None:
        """``incr`` without the result: queued (one append, no lock) and applied in order
        before the next call that reads or writes a hash, or once 256 wait. For bandit
        statistics, added on every exposure and read in bulk (``get_all``)."""
        pending = self._pending
        pending.append((key, field, amount))
        if len(pending) >= 256:
            with self._lock:
                self._apply()

    def _apply(self) -> None:
        # Under the lock: ``add``'s increments, as ``incr`` would have made them (each write
        # moves its hash to the end; the expiry counts from now).
        pending, hashes = self._pending, self._hashes
        now = self._clock()
        expires = now + self.ttl
        while pending:  # appends racing with this loop are applied too, or by the next
            key, field, amount = pending.popleft()
            found = hashes.pop(key, None)
            fresh = found is None or found.expires <= now
            entry = _Hash() if fresh or found is None else found
            entry.expires = expires
            hashes[key] = entry
            fields = entry.fields
            fields[field] = fields.get(field, 0.0) + amount
            if fresh:  # a new key: the bounds are checked
                self._tick()
            else:
                self._ops += 1

    # -- sliding windows ---------------------------------------------------------------------

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """Record a hit at ``now`` iff fewer than ``limit`` fall in ``(now - window, now]``."""
        # A window is one flat tuple ``(expires, hit, hit, ...)``, hits in ascending order: a
        # tuple of floats is dropped from the garbage collector's tracking at its first
        # collection, so a million visitors' windows cost no collection time (a deque and its
        # holder were two tracked objects each). A hit rebuilds the tuple: O(limit), for caps.
        with self._lock:
            self._latest = max(self._latest, now)
            entry = self._windows.pop(key, None)
            if entry is None:  # a key's first hit: the usual case
                allowed = limit > 0
                if allowed:
                    self._windows[key] = (now + window, now)
            else:
                start = now - window
                first = bisect_right(entry, start, 1)  # the hits still in the window
                # hits later than ``now`` (another thread's clock ran ahead) are not in it
                late = bisect_right(entry, now, first)
                allowed = late - first < limit
                if allowed:
                    expires = entry[0] if entry[0] > now + window else now + window
                    entry = (expires, *entry[first:late], now, *entry[late:])
                elif first > 1:
                    entry = (entry[0], *entry[first:])
                if len(entry) > 1:
                    self._windows[key] = entry  # back at the end: the most recently used
            ops = self._ops = self._ops + 1  # _tick, inlined
            if not ops & 255 or len(self._hashes) + len(self._windows) > self.max_keys:
                self._sweep()
            return allowed

    def window_count(self, key: str, *, now: float, window: float) -> int:
        """How many hits of ``key`` fall in ``(now - window, now]``."""
        start = now - window
        with self._lock:
            entry = self._windows.get(key)
            if entry is None:
                return 0
            return sum(1 for t in entry[1:] if start < t <= now)

    def delete(self, key: str) -> None:
        """Forget hash or window ``key``."""
        with self._lock:
            if self._pending:
                self._apply()
            self._hashes.pop(key, None)
            self._windows.pop(key, None)

    def forget(self, ids: Iterable[str]) -> None:
        """Erase every key naming one of ``ids`` as ``{id}`` (``Persona.forget``; keys of a
        person are built with ``persona_sdk.plugins.person_key``)."""
        tags = [f"{{{i}}}" for i in ids if i]
        with self._lock:
            if self._pending:
                self._apply()
            tables: tuple[dict[str, Any], ...] = (self._hashes, self._windows)
            for table in tables:
                for key in [k for k in table if any(t in k for t in tags)]:
                    del table[key]

    # -- bounds ------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            if self._pending:
                self._apply()
            return len(self._hashes) + len(self._windows)

    def _tick(self) -> None:
        # Under the lock. Every 256 writes, drop expired keys from the front of each table
        # (where the least recently written are); past max_keys, a sixteenth more.
        self._ops += 1
        over = len(self._hashes) + len(self._windows) > self.max_keys
        if over or not self._ops & 255:
            self._sweep()

    def _sweep(self) -> None:
        # Under the lock: expired keys from the front of each table, and past max_keys, a
        # sixteenth more.
        hashes, windows = self._hashes, self._windows
        now = self._clock()
        stale = [k for k, e in islice(hashes.items(), 256) if e.expires <= now]
        now = self._latest
        stale_windows = [k for k, e in islice(windows.items(), 256) if e[0] <= now]
        for k in stale:
            del hashes[k]
        for k in stale_windows:
            del windows[k]
        self._evicted += len(stale) + len(stale_windows)
        drop = len(self._hashes) + len(self._windows) - self.max_keys
        if drop > 0:
            drop = max(drop, self.max_keys // 16)
            tables: tuple[dict[str, Any], ...] = (hashes, windows)
            for table in tables:
                keys = list(islice(table, drop))
                for k in keys:
                    del table[k]
                self._evicted += len(keys)
                drop -= len(keys)
                if drop <= 0:
                    break

    def stats(self) -> dict[str, int]:
        """``hashes``, ``windows`` kept and keys ``evicted`` so far."""
        with self._lock:
            if self._pending:
                self._apply()
            return {
                "hashes": len(self._hashes),
                "windows": len(self._windows),
                "evicted": self._evicted,
            }


class _Hash:
    __slots__ = ("expires", "fields")

    def __init__(self) -> None:
        self.fields: dict[str, float] = {}
        self.expires = 0.0
