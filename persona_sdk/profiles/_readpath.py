"""The resolver's read path: L1 cache → L2 store → source, within a deadline, never raising.

The hot path (an L1 hit) is a dict membership test for the alias map, one locked cache index,
and a ``Profile`` built once per cache entry. A miss starts (or joins) the key's single flight
on the I/O thread and waits for it with a timeout, so neither a thread nor an event loop ever
blocks past the deadline; what the flight brings lands in L1 for the next request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._speed import membership
from ._computed import VisitorState
from ._lookup import KIND_INDEX, Entry, Outcome, plan
from ._lookup_drive import drive_async, drive_store_sync, drive_sync
from ._settings import Settings, build_profile
from ._state import ProfileState
from ._store import encode_entry
from ._types import EMPTY, Profile, ProfileReason, ProfileSourceKind

__all__ = ["AResolve", "ReadPath", "Resolve"]

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


class Resolve(Protocol):
    """``ReadPath.resolve``."""

    def __call__(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Profile: ...


class AResolve(Protocol):
    """``ReadPath.aresolve``."""

    async def __call__(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> Profile: ...


class ReadPath:
    """The lookup part of ``ProfileResolver``: ``resolve`` over the shared ``ProfileState``.

    Args:
        state: the resolver's state (caches, flights, counters, settings, I/O thread).
    """

    def __init__(self, state: ProfileState) -> None:
        self._st = state
        # bare(), on every visitor: the two membership tests as C calls, the builder bound
        self._has_local = membership(state.local)
        self._has_link = state.ids.has
        self._build_bare = self._bare_profile
        #: what ``bare`` reads (``ProfileReader.bare_parts``): ``persona.visitor`` makes the
        #: same test inline, on every request
        self.bare_parts: tuple[
            Any, Callable[[object], bool], Callable[[object], bool], Callable[[str], Any]
        ] = (state, self._has_local, self._has_link, self._build_bare)

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

    def bare(self, anonymous_id: str | None, user_id: str | None) -> Callable[[str], Any] | None:
        """``build`` when ``resolve`` would give a profile holding nothing but its id ``key``
        (``user_id or anonymous_id``; no source or store, nothing cached, no local traits,
        no linked id): ``build(key)`` makes that profile, and ``persona.visitor`` builds it
        only if it is read. None otherwise (``resolve`` it)."""
        st = self._st
        if st.remote_seen:  # a source or store answers, or L1 may hold their answers
            return None
        key = user_id or anonymous_id
        if not key or key.__class__ is not str or self._has_local(key) or self._has_link(key):
            return None
        return self._build_bare

    def _bare_profile(self, key: str) -> Profile:
        return build_profile(self._st.settings, key, _LOCAL, None, _NO_SOURCE, granted=True)

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
        st = self._st
        s = st.settings
        key, id_type = st.ids.canonical(anonymous_id, user_id)
        if not key:
            return self.profile(s, "", _FALLBACK, None, (ProfileReason.NO_ID,), consent=consent)
        if s.source is None and s.store is None and not st.l1:
            # no source and nothing cached (only a source fills L1): local traits only, the
            # same answer as an L1 miss below, without the miss's KeyError
            return self.profile(s, key, _LOCAL, None, _NO_SOURCE, consent=consent)
        try:
            entry = st.l1[key] if _LOCK_FREE_READS else self._locked_read(key)
        except KeyError:
            entry = None
        if entry is not None and (now := st.clock()) >= entry.expires_at:
            # past its keep-until: a miss (L1 is a plain LRU; expiry is checked here)
            with st.lock:
                if st.l1.get(key) is entry:  # not one a flight has just stored
                    del st.l1[key]
            entry = None
        if entry is not None:
            st.hits.bump()
            if now < entry.fresh_until:
                if key not in st.local:
                    # the hot path: the Profile built for this entry the first time
                    view = entry.views[
                        not s.personal or (consent is not None and consent.get(s.purpose) is True)
                    ]
                    if view is not None:
                        return view
                return self.profile(s, key, _L1, entry, (), consent=consent)
            with st.lock:
                st.n["stale"] += 1
            self._revalidate(s, key, id_type, entry, now)
            return self.profile(s, key, _STALE, entry, (), consent=consent)
        if s.source is None and s.store is None:
            # no source: local traits only, nothing to look up
            return self.profile(s, key, _LOCAL, None, _NO_SOURCE, consent=consent)
        return self._miss(s, key, id_type, consent)

    def _miss(
        self, s: Settings, key: str, id_type: str, consent: Mapping[str, bool] | None
    ) -> Profile | tuple[Settings, str, _Future[Outcome], float]:
        # an L1 miss (a lookup follows; the hit path above stays inline): answered inline
        # by an in-process source or the store when it can be, else a flight to wait on
        st = self._st
        st.misses.bump()
        start = time.monotonic()
        if s.inline:
            end = start + s.cfg.deadline
            outcome = drive_sync(plan(s.ctx, key, id_type, wait_until=end, give_up_at=end), s.ctx)
            self._complete(s, key, outcome, None, st.generation)
            return self.profile(
                s, key, outcome.kind, outcome.entry, outcome.reasons, consent=consent
            )
        if s.store_inline and key not in st.flights:
            end = start + s.cfg.deadline
            found = drive_store_sync(
                plan(s.ctx, key, id_type, wait_until=end, give_up_at=end), s.ctx
            )
            if found is not None:  # answered by the store: no source call needed
                self._complete(s, key, found, None, st.generation)
                if found.canonical:
                    key = found.canonical
                if found.kind is _FALLBACK:
                    with st.lock:
                        for r in found.reasons:
                            st.fallbacks[r.value] = st.fallbacks.get(r.value, 0) + 1
                return self.profile(
                    s, key, found.kind, found.entry, found.reasons, consent=consent
                )
        return s, key, self._flight(s, key, id_type, s.cfg.deadline), start + s.cfg.deadline

    def _locked_read(self, key: str) -> Entry:
        st = self._st
        with st.lock:
            return st.l1[key]

    def _finish(
        self, s: Settings, key: str, fut: _Future[Outcome], consent: Mapping[str, bool] | None
    ) -> Profile:
        st = self._st
        if not fut.done():
            with st.lock:
                st.n["timeouts"] += 1
            outcome = Outcome.fallback(ProfileReason.TIMEOUT)
        elif fut.cancelled():
            outcome = Outcome.fallback(ProfileReason.CLOSED)
        else:
            outcome = fut.result()
        if outcome.canonical:
            key = outcome.canonical
        if outcome.kind is _FALLBACK:
            with st.lock:
                for r in outcome.reasons:
                    st.fallbacks[r.value] = st.fallbacks.get(r.value, 0) + 1
        return self.profile(s, key, outcome.kind, outcome.entry, outcome.reasons, consent=consent)

    def profile(
        self,
        s: Settings,
        key: str,
        kind: ProfileSourceKind,
        entry: Entry | None,
        reasons: tuple[ProfileReason, ...],
        *,
        consent: Mapping[str, bool] | None,
    ) -> Profile:
        st = self._st
        granted = not s.personal or (consent is not None and consent.get(s.purpose) is True)
        if key not in st.local:
            if entry is None or reasons:
                return build_profile(s, key, kind, entry, reasons, granted=granted)
            i = KIND_INDEX[kind] * 2 + granted
            view = entry.views[i]
            if view is None:
                view = entry.views[i] = build_profile(s, key, kind, entry, (), granted=granted)
            return view
        with st.lock:
            state = st.local.get(key)
            if state is None:
                local_traits: Mapping[str, Any] = EMPTY
                computed: Mapping[str, Any] = EMPTY
            else:
                local_traits = dict(state.traits)
                computed = state.values(s.computed, st.clock())
        return build_profile(
            s, key, kind, entry, reasons, granted=granted, local=local_traits, computed=computed
        )

    # -- flights --------------------------------------------------------------------------

    def _flight(self, s: Settings, key: str, id_type: str, wait: float) -> _Future[Outcome]:
        # Single flight per key, shared by threads and tasks of any event loop. A caller
        # waits ``wait`` seconds at most; the lookup may go on for ``fetch_timeout`` so that
        # a CDP slower than the deadline still fills the cache for the next requests.
        st = self._st
        started = time.monotonic()
        with st.lock:
            fut = st.flights.get(key)
            if fut is not None:
                st.n["joined"] += 1
                return fut
            if len(st.flights) >= s.cfg.max_in_flight:
                fut = _Future()
                fut.set_result(Outcome.fallback(ProfileReason.OVERLOADED))
                return fut
            fut = st.flights[key] = _Future()
            st.n["flights"] += 1
            generation = st.generation
        try:
            task = st.io.submit(
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
            with st.lock:
                st.flights.pop(key, None)
            fut.set_result(Outcome.fallback(ProfileReason.CLOSED))
            return fut
        st.track_task(task)
        return fut

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
        st = self._st
        with st.lock:
            if fut is not None and st.flights.get(key) is fut:
                del st.flights[key]
            if outcome.kind is ProfileSourceKind.REMOTE:
                st.n["remote"] += 1
            elif outcome.kind is ProfileSourceKind.L2:
                st.n["l2"] += 1
            if outcome.store_error:
                st.n["store_errors"] += 1
            if outcome.canonical:
                # another process linked this anonymous id: follow it here from now on
                if st.forgotten.get(outcome.canonical, -1) > generation:
                    return
                st.ids.link(key, outcome.canonical)
                key = outcome.canonical
            if st.forgotten.get(key, -1) > generation:
                return  # forgotten while this lookup ran: keep nothing
            if outcome.entry is not None and outcome.kind in _CACHEABLE and st.settings is s:
                if outcome.kind is _STALE:
                    outcome.entry.refresh_at = st.clock() + s.cfg.fetch_timeout
                st.l1[key] = outcome.entry
            if outcome.peers is not None:
                state = st.local.get(key)
                if state is None and outcome.peers:
                    state = st.local[key] = VisitorState()
                if state is not None:
                    state.set_peers(outcome.peers, s.computed, st.slot)

    def _revalidate(self, s: Settings, key: str, id_type: str, entry: Entry, now: float) -> None:
        # Stale-while-revalidate: at most one refresh per entry per refresh_timeout.
        st = self._st
        if now < entry.refresh_at or st.closed:
            return
        entry.refresh_at = now + s.cfg.fetch_timeout
        with st.lock:
            st.n["refreshes"] += 1
        self._flight(s, key, id_type, s.cfg.fetch_timeout)

    async def _store_back(self, s: Settings, key: str, entry: Entry) -> None:
        st = self._st
        assert s.store is not None
        ttl = entry.expires_at - st.clock()
        try:
            await s.store.aset(s.ctx.entry_key(key), encode_entry(entry.to_wire()), ttl=ttl)
        except Exception:
            with st.lock:
                st.n["store_errors"] += 1
