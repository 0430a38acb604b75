"""``ProfileResolver``: profiles for the read path, identity and real-time traits from events.

The resolver owns the state of the visitors held in this process (``ProfileState``) and
three parts built on it: the read path (``ReadPath``: caches, single flight, deadline,
breaker), the audience (``Audience``: segment membership kept per visitor) and the store
writer (``StoreWriter``: computed traits and identity links to the L2 store). This module
adds what events feed (``observe``: identity stitching, identify traits, computed traits)
and the lifecycle (``configure``, ``flush``, ``stats``, ``close``); erasure is ``_erasure``'s,
the reads over held visitors ``HeldVisitors``'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .. import _lifecycle
from .._stats import ResolverStats
from ..events import Message
from ._audience import Audience
from ._computed import VisitorState
from ._erasure import forget
from ._held import HeldVisitors
from ._kept_segments import KeptSegments
from ._membership import OWN_EVENTS
from ._readpath import AResolve, ReadPath, Resolve
from ._settings import Settings, build_settings
from ._state import ProfileState, new_l1
from ._types import ProfileSource, ProfileStore
from ._writeback import StoreWriter

_SEEN = frozenset({"track", "page", "screen"})

if TYPE_CHECKING:
    from ..config import Container
    from ._segments import Segments

__all__ = ["ProfileResolver"]

class ProfileResolver:
    """Resolves visitors' profiles; one per ``Persona``, shared by threads and tasks.

    Args:
        container: the container (``profiles``, ``computed_traits``).
        source: a ``ProfileSource`` instance (overrides ``profiles.source``).
        store: a ``ProfileStore`` for the shared L2 cache (overrides ``profiles.store``).
        emit: called with ``Segment Entered``/``Segment Exited`` messages.
        clock: epoch seconds; TTLs, grace windows, trait windows and the breaker use it.

    Usage::

        resolver = ProfileResolver(container, source=FileSource.from_records({...}))
        profile = resolver.resolve(anonymous_id="a-1", user_id="u-1", consent={...})
        profile = await resolver.aresolve(user_id="u-1")
        profile.source, profile.reasons, profile.targeting_traits

    Nothing starts at construction; the I/O thread starts with the first remote lookup.
    """

    #: The message types ``observe`` learns from under the current container; a caller on a
    #: hot path may skip ``observe`` for the others (it would do nothing with them).
    observes: frozenset[str] = frozenset({"identify", "alias"})

    #: ``resolve(anonymous_id=None, user_id=None, consent=None) -> Profile``: the visitor's
    #: profile, within the deadline; never raises for remote failures (``ReadPath.resolve``).
    #: Pass the arguments by keyword.
    resolve: Resolve
    #: ``await aresolve(...)``: the asyncio form of ``resolve``; never blocks the event loop.
    aresolve: AResolve

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
        self._st = ProfileState(container.profiles, emit=emit, clock=clock)
        #: the read path (``reader.resolve``, ``reader.aresolve``): what a caller on a hot
        #: path calls directly (``Persona.visitor`` does)
        self.reader = read = ReadPath(self._st)
        self._audience = Audience(self._st, read)
        self._held = HeldVisitors(self._st, read)
        self._writer = StoreWriter(self._st)
        # The read path's own methods, bound once: ``resolve`` is on every request's path,
        # where a delegating method would add a call (and a method of this class of the same
        # name would make every lookup of the attribute a slow one).
        self.resolve = read.resolve
        self.aresolve = read.aresolve
        self._audience_on = False
        self.configure(container)
        _lifecycle.register("profile resolver", after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # in a forked child (registered with _lifecycle): locks, flights and the I/O
        # thread's work do not survive a fork
        self._st.after_fork()
        self._audience.after_fork()

    # -- configuration --------------------------------------------------------------------

    def configure(self, container: Container) -> None:
        """Apply a (new) container; keeps the source, store and caches when they stay the
        same. Raises ``ConfigError`` (paths under ``profiles.``) before changing anything."""
        st = self._st
        old: Settings | None = getattr(st, "settings", None)
        new = build_settings(
            container, old, source=self._source_arg, store=self._store_arg, clock=st.clock
        )
        cfg = new.cfg
        with st.lock:
            if old is not None and (
                old.source is not new.source or old.cfg.max_entries != cfg.max_entries
            ):
                st.l1 = new_l1(cfg.max_entries)
            st.settings = new
            if new.source is not None or new.store is not None:
                st.remote_seen = True
        if old is not None:
            for obj in old.owned:
                if obj is not new.source and obj is not new.store:
                    self._close_one(obj)
        self._observed()

    def _close_one(self, obj: Any) -> None:
        io = self._st.io
        aclose = getattr(obj, "aclose", None)
        if aclose is not None and io.running:
            try:
                io.submit(aclose())
            except Exception:
                pass
        try:
            obj.close()
        except Exception:
            pass

    def _observed(self) -> None:
        # which message types observe needs; with segments kept per visitor, every event
        # may be a first sighting
        s = self._st.settings
        segs = _SEEN if self._audience.on and s.cfg.segment_events else frozenset()
        self.observes = frozenset({"identify", "alias"}) | s.computed.fed_by | segs

    # -- the read path --------------------------------------------------------------------

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until no lookup, refresh or store write is under way; False on timeout."""
        return self._st.drain(timeout)

    # -- segments -------------------------------------------------------------------------

    def use_segments(self, segments: Segments | None) -> None:
        """Evaluate these segments as events arrive (``Persona`` calls it on (re)load).

        Lifecycle traits are watched too (their transitions are events), with or without
        segments."""
        self._audience.use_segments(segments)
        self._audience_on = self._audience.on
        self._observed()

    @property
    def audience_on(self) -> bool:
        """Whether membership is kept (segments exist and segment memory is wanted)."""
        return self._audience.on

    def visitor_segments(self, segments: Segments) -> KeptSegments:
        """What computes ``visitor.segments`` with ``segments``: the membership kept per
        visitor (``segments_of``); ``Persona`` binds it once per (re)load."""
        return self._audience.visitor_segments(segments)

    def segments_of(
        self,
        segments: Segments,
        attributes: Mapping[str, Any],
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
    ) -> frozenset[str]:
        """The visitor's segments for a read (``visitor.segments``): the kept membership,
        with the segments reading an attribute that differs from the last evaluation (and
        the time-dependent ones, when due) evaluated again. Emits the changes."""
        return self._audience.segments_of(
            segments, attributes, anonymous_id=anonymous_id, user_id=user_id, consent=consent
        )

    def note_segments(
        self,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
        members: frozenset[str],
    ) -> None:
        """Remember the visitor's segments; emit ``Segment Entered``/``Segment Exited`` when a
        known visitor's membership changed (see ``Audience.note_segments``)."""
        self._audience.note_segments(
            anonymous_id=anonymous_id, user_id=user_id, consent=consent, members=members
        )

    def members_of(self, segment: str, limit: int = 1000) -> list[str]:
        """Canonical ids of visitors held in this process who are in ``segment`` (at most
        ``limit``, most recently seen last)."""
        return self._held.members_of(segment, limit)

    def record(
        self, *, anonymous_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any] | None:
        """What is known of a visitor, unfiltered: ``id``, ``traits``, ``computed``,
        ``segments``, ``consent`` (the last seen), ``source``; None when nothing is."""
        return self._held.record(anonymous_id=anonymous_id, user_id=user_id)

    def aliases(self, any_id: str) -> set[str]:
        """The ids of the person ``any_id`` belongs to, as this process's identity links
        know them (``identify``/``alias``): ``any_id``, its user id, and the ids linked to
        it (a bandit credits a conversion under a user id to an exposure under the
        anonymous id used before the login)."""
        return self._st.ids.aliases(any_id)

    def membership(self, key: str) -> frozenset[str] | None:
        """A visitor's kept segments by canonical id (None when not held)."""
        return self._held.membership(key)

    def attribution_report(self, trait: str | None = None) -> dict[str, Any]:
        """Credit per model and channel summed over the visitors held in this process, from
        the ``attribution`` computed trait named ``trait`` (default: the first one)."""
        return self._held.attribution_report(trait)

    def sweep_segments(self) -> int:
        """Re-check the time-dependent segments (and moving traits) of every visitor held in
        this process, and of the store's when it lists its keys, emitting the changes;
        returns how many memberships changed."""
        return self._audience.sweep_segments()

    # -- the write path: events -----------------------------------------------------------

    def observe(self, msg: Message) -> None:
        """Learn from one event: stitch ids (identify/alias), keep identify traits, update
        computed traits, re-evaluate the segments reading what changed. Cheap and I/O-free;
        the next ``resolve`` of the visitor sees it."""
        st = self._st
        s = st.settings
        kind = msg.type
        if kind in {"identify", "alias"}:
            self._stitch(s, msg)
            if kind == "identify" and self._audience_on:
                self._audience.on_event(s, msg, (), msg.traits or {})
            return
        if msg.event in OWN_EVENTS:
            return  # emitted here about the visitor, not activity of theirs
        specs = s.computed.matching(msg)
        if specs:
            self._writer.note_computed(s, msg, specs)
        if self._audience_on:
            self._audience.on_event(s, msg, specs, {})

    def _stitch(self, s: Settings, msg: Message) -> None:
        st = self._st
        previous = msg.previous_id if msg.type == "alias" else msg.anonymous_id
        user = msg.user_id
        if user and previous and st.ids.link(previous, user):
            target, _ = st.ids.canonical(None, user)
            if s.store is not None and not st.closed:
                self._writer.share_link(s, previous, target)
            with st.lock:
                old = st.local.pop(previous, None)
                if old is not None:
                    state = st.local.get(target) or VisitorState()
                    state.absorb(old, s.computed)
                    st.local[target] = state
                members = st.members.pop(previous, None)
                if members is not None and target not in st.members:
                    st.members[target] = members
                st.l1.pop(previous, None)
        if msg.type == "identify" and msg.traits:
            key, _ = st.ids.canonical(msg.anonymous_id, msg.user_id)
            if key:
                with st.lock:
                    known = st.local.get(key)
                    if known is None:
                        known = st.local[key] = VisitorState()
                    known.add_traits(msg.traits)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write pending computed-trait states and identity links to the L2 store now; False
        on timeout."""
        return self._writer.flush(timeout)

    # -- erasure --------------------------------------------------------------------------

    def forget(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> set[str]:
        """Erase a visitor here and upstream: L1, alias links, identify and computed traits,
        segment memory, the L2 store, and the source's ``erase`` hook when it has one.

        Returns every id purged (the given ids and the ids linked to them).
        """
        return forget(self._st, user_id=user_id, anonymous_id=anonymous_id)

    # -- lifecycle ------------------------------------------------------------------------

    def stats(self) -> ResolverStats:
        """Cache hits and misses, flights, fallbacks by reason, breaker state and sizes."""
        st = self._st
        s = st.settings
        with st.lock:
            n = {"l1": st.hits.value, "misses": st.misses.value, **st.n}
            fallbacks = dict(st.fallbacks)
            sizes = {
                "l1_entries": len(st.l1),
                "visitors": len(st.local),
                "segment_memory": len(st.members),
                "in_flight": len(st.flights),
            }
        # the counters are keyed by name in the state's n: a cast, pinned by a test
        return cast("ResolverStats", {
            "source": getattr(s.source, "name", None) if s.source is not None else None,
            "store": type(s.store).__name__ if s.store is not None else None,
            **n,
            "fallbacks": fallbacks,
            "aliases": len(st.ids),
            **sizes,
            "segment_failures": self._audience.failures,
            "breaker": s.breaker.stats(),
        })

    def close(self) -> None:
        """Write pending computed traits, stop the I/O thread, close what was built from the
        container. Idempotent; afterwards cache hits still answer, misses fall back."""
        st = self._st
        if st.closed:
            return
        s = st.settings
        if st.io.running:
            self.flush(timeout=2.0)
        st.closed = True
        closers = [o for o in (*s.owned, self._source_arg, self._store_arg) if o is not None]

        async def aclose_all() -> None:
            for obj in closers:
                aclose = getattr(obj, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        pass

        st.io.close(before_stop=aclose_all)
        for obj in s.owned:
            try:
                obj.close()
            except Exception:
                pass
