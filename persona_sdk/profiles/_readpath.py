"""The resolver's read path: L1 cache → L2 store → source, within a deadline, never raising.

The hot path (an L1 hit) is a dict membership test for the alias map, one locked cache index,
and a ``Profile`` built once per cache entry. A miss starts (or joins) the key's single flight
on the I/O thread and waits for it with a timeout, so neither a thread nor an event loop ever
blocks past the deadline; what the flight brings lands in L1 for the next request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from .. import _lifecycle
from .._speed import Counter
from ..config import ProfilesConfig
from ..events import Message
from ._computed import VisitorState
from ._flight import KIND_INDEX, Entry, Outcome, drive_async, drive_store_sync, drive_sync, plan
from ._identity import IdentityMap
from ._io import IoLoop
from ._settings import Settings, build_profile, build_settings
from ._store import encode_entry
from ._types import EMPTY, Profile, ProfileReason, ProfileSource, ProfileSourceKind, ProfileStore

if TYPE_CHECKING:
    from ..config import Container
    from ._audience import Membership

__all__ = ["ReadPath"]

_L1 = ProfileSourceKind.L1
_STALE = ProfileSourceKind.STALE
_FALLBACK = ProfileSourceKind.FALLBACK
_LOCAL = ProfileSourceKind.LOCAL
_NO_SOURCE = (ProfileReason.NO_SOURCE,)
_CACHEABLE = (ProfileSourceKind.REMOTE, ProfileSourceKind.L2, ProfileSourceKind.STALE)
_Future = concurrent.futures.Future

# L1 reads take no lock: under the GIL each step of a cachetools read is one atomic dict or
# OrderedDict operation, and a racing writer can only turn a read into a miss (KeyError).
# Free-threaded builds take the lock.
_LOCK_FREE_READS = getattr(sys, "_is_gil_enabled", lambda: True)()
assert KIND_INDEX[ProfileSourceKind.L1] == 0  # entry.views[granted] is the L1 view


class ReadPath:
    """The lookup half of ``ProfileResolver``: its state, configuration and ``resolve``."""

    def __init__(
        self,
        container: Container,
        source: ProfileSource | None = None,
        store: ProfileStore | None = None,
        emit: Callable[[Message], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source_arg = source
        self._store_arg = store
        self._emit = emit
        self._clock = clock
        self._io = IoLoop()
        self._init_state(container.profiles)
        self.configure(container)
        _lifecycle.register("profile resolver", after_in_child=self._after_fork)

    def _init_state(self, cfg: ProfilesConfig) -> None:
        self._lock = threading.Lock()
        self._l1: LRUCache[str, Entry] = self._new_l1(cfg.max_entries)
        self._ids = IdentityMap(cfg.alias_max_entries)
        self._local: LRUCache[str, VisitorState] = LRUCache(maxsize=cfg.visitor_max_entries)
        self._members: LRUCache[str, Membership] = LRUCache(maxsize=cfg.segment_memory)
        self._forgotten: LRUCache[str, int] = LRUCache(maxsize=10_000)
        self._flights: dict[str, _Future[Outcome]] = {}
        self._tasks: set[concurrent.futures.Future[Any]] = set()
        self._dirty: set[str] = set()
        self._flush_scheduled = False
        self._generation = 0
        self._slot = f"{socket.gethostname()}:{os.getpid()}:{secrets.randbits(32):08x}"
        self._closed = False
        self._hits = Counter()
        self._misses = Counter()
        self._n: dict[str, int] = dict.fromkeys(
            (
                "stale",
                "l2",
                "remote",
                "flights",
                "joined",
                "refreshes",
                "timeouts",
                "segment_events",
                "store_errors",
                "erase_errors",
            ),
            0,
        )
        self._fallbacks: dict[str, int] = {}
        #: whether a source or store was ever configured (only their lookups fill L1)
        self._remote_seen = False

    def _new_l1(self, max_entries: int) -> LRUCache[str, Entry]:
        # A plain LRU: each entry's expiry is checked when it is read (_begin), which costs a
        # comparison, where TLRUCache's read (its timer, its expiry order) was about 40% of
        # an L1 hit. Entries past expiry are dropped when read, or by size like any other.
        return LRUCache(maxsize=max_entries)

    def _after_fork(self) -> None:
        # The parent's flights and I/O thread do not exist here; the caches are still valid.
        # Locks may have been held by a parent thread at fork time: replace them.
        self._lock = threading.Lock()
        self._ids._lock = threading.Lock()
        self._flights = {}
        self._tasks = set()
        self._dirty = set()
        self._flush_scheduled = False
        self._slot = f"{socket.gethostname()}:{os.getpid()}:{secrets.randbits(32):08x}"

    # -- configuration --------------------------------------------------------------------

    def configure(self, container: Container) -> None:
        """Apply a (new) container; keeps the source, store and caches when they stay the same.

        Raises ``ConfigError`` (paths under ``profiles.``) before changing anything.
        """
        old: Settings | None = getattr(self, "_s", None)
        new = build_settings(
            container, old, source=self._source_arg, store=self._store_arg, clock=self._clock
        )
        cfg = new.cfg
        with self._lock:
            if old is not None and (
                old.source is not new.source or old.cfg.max_entries != cfg.max_entries
            ):
                self._l1 = self._new_l1(cfg.max_entries)
            self._s: Settings = new
            if new.source is not None or new.store is not None:
                self._remote_seen = True
        if old is not None:
            for obj in old.owned:
                if obj is not new.source and obj is not new.store:
                    self._close_one(obj)

    def _close_one(self, obj: Any) -> None:
        aclose = getattr(obj, "aclose", None)
        if aclose is not None and self._io.running:
            try:
                self._io.submit(aclose())
            except Exception:
                pass
        try:
            obj.close()
        except Exception:
            pass

    # -- the read path --------------------------------------------------------------------

    def resolve(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Profile:
        """The visitor's profile, within the deadline; never raises for remote failures.

        Pass the arguments by keyword (they are not keyword-only because CPython 3.11 looks
        each omitted keyword-only default up in a dict, on every call)."""
        step = self._begin(anonymous_id, user_id, consent)
        if isinstance(step, Profile):
            return step
        s, key, fut, deadline = step
        if not fut.done():
            concurrent.futures.wait((fut,), timeout=max(0.0, deadline - time.monotonic()))
        return self._finish(s, key, fut, consent)

    def bare(self, anonymous_id: str | None, user_id: str | None) -> tuple[Any, str] | None:
        """``(build, key)`` when ``resolve`` would give a profile holding nothing but its id
        ``key`` (no source or store, nothing cached, no local traits, no linked id): then
        ``build(key)`` makes that profile, and ``persona.visitor`` builds it only if it is
        read. None otherwise (``resolve`` it)."""
        if self._remote_seen:  # a source or store answers, or L1 may hold their answers
            return None
        key = user_id or anonymous_id
        if not key or key.__class__ is not str or key in self._local or key in self._ids:
            return None
        return self._bare_profile, key

    def _bare_profile(self, key: str) -> Profile:
        return build_profile(self._s, key, _LOCAL, None, _NO_SOURCE, granted=True)

    async def aresolve(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Profile:
        """The asyncio form of ``resolve``; never blocks the event loop."""
        step = self._begin(anonymous_id, user_id, consent)
        if isinstance(step, Profile):
            return step
        s, key, fut, deadline = step
        if not fut.done():
            await asyncio.wait(
                (asyncio.wrap_future(fut),), timeout=max(0.0, deadline - time.monotonic())
            )
        return self._finish(s, key, fut, consent)

    def _begin(
        self, anonymous_id: str | None, user_id: str | None, consent: Mapping[str, bool] | None
    ) -> Profile | tuple[Settings, str, _Future[Outcome], float]:
        # Shared by resolve and aresolve: a Profile when no waiting is needed, else the flight.
        s = self._s
        key, id_type = self._ids.canonical(anonymous_id, user_id)
        if not key:
            return self._profile(s, "", _FALLBACK, None, (ProfileReason.NO_ID,), consent=consent)
        if s.source is None and s.store is None and not self._l1:
            # no source and nothing cached (only a source fills L1): local traits only, the
            # same answer as an L1 miss below, without the miss's KeyError
            return self._profile(s, key, _LOCAL, None, _NO_SOURCE, consent=consent)
        try:
            entry = self._l1[key] if _LOCK_FREE_READS else self._locked_read(key)
        except KeyError:
            entry = None
        if entry is not None and (now := self._clock()) >= entry.expires_at:
            # past its keep-until: a miss (L1 is a plain LRU; expiry is checked here)
            with self._lock:
                if self._l1.get(key) is entry:  # not one a flight has just stored
                    del self._l1[key]
            entry = None
        if entry is not None:
            self._hits.bump()
            if now < entry.fresh_until:
                if key not in self._local:
                    # the hot path: the Profile built for this entry the first time
                    view = entry.views[
                        not s.personal or (consent is not None and consent.get(s.purpose) is True)
                    ]
                    if view is not None:
                        return view
                return self._profile(s, key, _L1, entry, (), consent=consent)
            with self._lock:
                self._n["stale"] += 1
            self._revalidate(s, key, id_type, entry, now)
            return self._profile(s, key, _STALE, entry, (), consent=consent)
        if s.source is None and s.store is None:
            # no source: local traits only, nothing to look up
            return self._profile(s, key, _LOCAL, None, _NO_SOURCE, consent=consent)
        self._misses.bump()
        start = time.monotonic()
        if s.inline:
            end = start + s.cfg.deadline
            outcome = drive_sync(plan(s.ctx, key, id_type, wait_until=end, give_up_at=end), s.ctx)
            self._complete(s, key, outcome, None, self._generation)
            return self._profile(
                s, key, outcome.kind, outcome.entry, outcome.reasons, consent=consent
            )
        if s.store_inline and key not in self._flights:
            end = start + s.cfg.deadline
            found = drive_store_sync(
                plan(s.ctx, key, id_type, wait_until=end, give_up_at=end), s.ctx
            )
            if found is not None:  # answered by the store: no source call needed
                self._complete(s, key, found, None, self._generation)
                if found.canonical:
                    key = found.canonical
                if found.kind is _FALLBACK:
                    with self._lock:
                        for r in found.reasons:
                            self._fallbacks[r.value] = self._fallbacks.get(r.value, 0) + 1
                return self._profile(
                    s, key, found.kind, found.entry, found.reasons, consent=consent
                )
        return s, key, self._flight(s, key, id_type, s.cfg.deadline), start + s.cfg.deadline

    def _locked_read(self, key: str) -> Entry:
        with self._lock:
            return self._l1[key]

    def _finish(
        self, s: Settings, key: str, fut: _Future[Outcome], consent: Mapping[str, bool] | None
    ) -> Profile:
        if not fut.done():
            with self._lock:
                self._n["timeouts"] += 1
            outcome = Outcome.fallback(ProfileReason.TIMEOUT)
        elif fut.cancelled():
            outcome = Outcome.fallback(ProfileReason.CLOSED)
        else:
            outcome = fut.result()
        if outcome.canonical:
            key = outcome.canonical
        if outcome.kind is _FALLBACK:
            with self._lock:
                for r in outcome.reasons:
                    self._fallbacks[r.value] = self._fallbacks.get(r.value, 0) + 1
        return self._profile(s, key, outcome.kind, outcome.entry, outcome.reasons, consent=consent)

    def _profile(
        self,
        s: Settings,
        key: str,
        kind: ProfileSourceKind,
        entry: Entry | None,
        reasons: tuple[ProfileReason, ...],
        *,
        consent: Mapping[str, bool] | None,
    ) -> Profile:
        granted = not s.personal or (consent is not None and consent.get(s.purpose) is True)
        if key not in self._local:
            if entry is None or reasons:
                return build_profile(s, key, kind, entry, reasons, granted=granted)
            i = KIND_INDEX[kind] * 2 + granted
            view = entry.views[i]
            if view is None:
                view = entry.views[i] = build_profile(s, key, kind, entry, (), granted=granted)
            return view
        with self._lock:
            state = self._local.get(key)
            if state is None:
                local_traits: Mapping[str, Any] = EMPTY
                computed: Mapping[str, Any] = EMPTY
            else:
                local_traits = dict(state.traits)
                computed = state.values(s.computed, self._clock())
        return build_profile(
            s, key, kind, entry, reasons, granted=granted, local=local_traits, computed=computed
        )

    # -- flights --------------------------------------------------------------------------

    def _flight(self, s: Settings, key: str, id_type: str, wait: float) -> _Future[Outcome]:
        # Single flight per key, shared by threads and tasks of any event loop. A caller
        # waits ``wait`` seconds at most; the lookup may go on for ``fetch_timeout`` so that
        # a CDP slower than the deadline still fills the cache for the next requests.
        started = time.monotonic()
        with self._lock:
            fut = self._flights.get(key)
            if fut is not None:
                self._n["joined"] += 1
                return fut
            if len(self._flights) >= s.cfg.max_in_flight:
                fut = _Future()
                fut.set_result(Outcome.fallback(ProfileReason.OVERLOADED))
                return fut
            fut = self._flights[key] = _Future()
            self._n["flights"] += 1
            generation = self._generation
        try:
            task = self._io.submit(
                self._run_flight(
                    s,
                    key,
                    id_type,
                    wait_until=started + wait,
                    give_up_at=started + max(wait, s.cfg.fetch_timeout),
                    fut=fut,
                    generation=generation,
                )
            )
        except RuntimeError:
            with self._lock:
                self._flights.pop(key, None)
            fut.set_result(Outcome.fallback(ProfileReason.CLOSED))
            return fut
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return fut

    def _task_done(self, task: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._tasks.discard(task)

    async def _run_flight(
        self,
        s: Settings,
        key: str,
        id_type: str,
        *,
        wait_until: float,
        give_up_at: float,
        fut: _Future[Outcome],
        generation: int,
    ) -> None:
        outcome = Outcome.fallback(ProfileReason.CLOSED)
        try:
            outcome = await drive_async(
                plan(s.ctx, key, id_type, wait_until=wait_until, give_up_at=give_up_at), s.ctx
            )
        except Exception:
            outcome = Outcome.fallback(ProfileReason.INTERNAL)
        finally:
            self._complete(s, key, outcome, fut, generation)
            fut.set_result(outcome)
        if outcome.kind is ProfileSourceKind.REMOTE and s.store is not None and outcome.entry:
            await self._store_back(s, key, outcome.entry)

    def _complete(
        self,
        s: Settings,
        key: str,
        outcome: Outcome,
        fut: _Future[Outcome] | None,
        generation: int,
    ) -> None:
        with self._lock:
            if fut is not None and self._flights.get(key) is fut:
                del self._flights[key]
            if outcome.kind is ProfileSourceKind.REMOTE:
                self._n["remote"] += 1
            elif outcome.kind is ProfileSourceKind.L2:
                self._n["l2"] += 1
            if outcome.store_error:
                self._n["store_errors"] += 1
            if outcome.canonical:
                # another process linked this anonymous id: follow it here from now on
                if self._forgotten.get(outcome.canonical, -1) > generation:
                    return
                self._ids.link(key, outcome.canonical)
                key = outcome.canonical
            if self._forgotten.get(key, -1) > generation:
                return  # forgotten while this lookup ran: keep nothing
            if outcome.entry is not None and outcome.kind in _CACHEABLE and self._s is s:
                if outcome.kind is _STALE:
                    outcome.entry.refresh_at = self._clock() + s.cfg.fetch_timeout
                self._l1[key] = outcome.entry
            if outcome.peers is not None:
                state = self._local.get(key)
                if state is None and outcome.peers:
                    state = self._local[key] = VisitorState()
                if state is not None:
                    state.set_peers(outcome.peers, s.computed, self._slot)

    def _revalidate(self, s: Settings, key: str, id_type: str, entry: Entry, now: float) -> None:
        # Stale-while-revalidate: at most one refresh per entry per refresh_timeout.
        if now < entry.refresh_at or self._closed:
            return
        entry.refresh_at = now + s.cfg.fetch_timeout
        with self._lock:
            self._n["refreshes"] += 1
        self._flight(s, key, id_type, s.cfg.fetch_timeout)

    async def _store_back(self, s: Settings, key: str, entry: Entry) -> None:
        assert s.store is not None
        ttl = entry.expires_at - self._clock()
        try:
            await s.store.aset(s.ctx.entry_key(key), encode_entry(entry.to_wire()), ttl=ttl)
        except Exception:
            with self._lock:
                self._n["store_errors"] += 1

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until no lookup, refresh or store write is under way; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._tasks)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            concurrent.futures.wait(pending, timeout=remaining)
