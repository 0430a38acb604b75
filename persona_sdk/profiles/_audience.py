"""Event-driven segment membership: each visitor's segments kept current as events arrive.

Every event that reaches the profile (``track``, the collector, ``ingest``) re-evaluates the
segments reading what it changed (``Segments.affected``) and emits ``Segment Entered`` /
``Segment Exited`` through the tag layer at once. A visitor seen for the first time (by an
event or a read) is evaluated against every segment and gets ``Segment Entered`` for each one
they are in. ``visitor.segments`` reads the kept membership: the request's attributes are
compared with the ones last evaluated and only the segments reading a changed attribute run.

Segments that change with time alone (relative-time operators, windowed or decaying traits)
are re-checked when the visitor is next seen (at most every ``profiles.segment_recheck``
seconds) and by a periodic sweep (``profiles.segment_sweep_interval``) over the visitors held
in this process.

Memory per visitor: one ``Membership`` (the member names, a copy of the attributes last
evaluated, capped at ``MAX_ATTRS`` keys, the ids and consent to emit with), in an LRU of
``profiles.segment_memory`` visitors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import Message, consent_of
from ._computed import TraitSpec, VisitorState
from ._kept_segments import KeptSegments
from ._membership import MAX_ATTRS, OWN_EVENTS, Membership, capped, trait_value
from ._readpath import ReadPath
from ._segment_events import send_segment_events, transitions
from ._state import ProfileState
from ._store_sweep import listable, sweep_store

if TYPE_CHECKING:
    from ._segments import Segments
    from ._settings import Settings

__all__ = ["Audience"]


class Audience:
    """The segment part of ``ProfileResolver``: membership kept per visitor, events out.

    Args:
        state: the resolver's state (membership memory, settings, clock, emit, I/O thread).
        read: the resolver's read path (a first sighting reads the visitor's profile).
    """

    def __init__(self, state: ProfileState, read: ReadPath) -> None:
        self._st = state
        self._read = read
        self._segs: Segments | None = None
        self._moving: tuple[TraitSpec, ...] = ()
        self._stages: tuple[str, ...] = ()
        self._generation_segs = 0
        self._sweeping = False

    def after_fork(self) -> None:
        """In a forked child: the sweep was armed on the parent's I/O thread; the child's
        next visitor re-arms it."""
        self._sweeping = False

    def use_segments(self, segments: Segments | None) -> None:
        """Evaluate these segments as events arrive (``Persona`` calls it on (re)load).

        Lifecycle traits are watched too (their transitions are events), with or without
        segments."""
        st = self._st
        s = st.settings
        self._moving = tuple(
            spec for spec in s.computed.specs if spec.width or spec.kind.value in _MOVING
        )
        self._stages = tuple(
            spec.name for spec in s.computed.specs if spec.kind.value == "lifecycle"
        )
        if segments is None and self._stages:
            from ._segments import Segments

            segments = Segments(())
        wanted = segments is not None and (segments or self._stages) and s.cfg.segment_events
        if segments is not self._segs:
            # a reload: each kept membership is evaluated again in full when next touched
            self._generation_segs += 1
        self._segs = segments if wanted else None
        if listable(s) is not None:  # the store's visitors need no sighting here to be swept
            self._start_sweeper(s)

    @property
    def on(self) -> bool:
        """Whether membership is kept (segments exist and segment memory is wanted)."""
        return self._segs is not None

    @property
    def failures(self) -> int:
        """Segment conditions that raised, under the segments in force."""
        return self._segs.failures if self._segs is not None else 0

    def visitor_segments(self, segments: Segments) -> KeptSegments:
        """What computes ``visitor.segments`` with ``segments``: the membership kept here
        (``segments_of``), bound once per (re)load by ``Persona``."""
        return KeptSegments(segments, self.segments_of)

    # -- the write path: one event ---------------------------------------------------------

    def on_event(
        self, s: Settings, msg: Message, specs: Iterable[TraitSpec], traits: Mapping[str, Any]
    ) -> None:
        """Re-evaluate the segments reading what ``msg`` changed (``specs``: the computed
        traits it fed; ``traits``: identify traits), emitting the changes."""
        st = self._st
        segs = self._segs
        if segs is None or msg.event in OWN_EVENTS:
            return
        key, _ = st.ids.canonical(msg.anonymous_id, msg.user_id)
        if not key:
            return
        consent = consent_of(msg)
        now = st.clock()
        granted = not s.personal or (consent is not None and consent.get(s.purpose) is True)
        with st.lock:
            m = st.members.get(key)
            if m is not None:
                if consent is not None:
                    m.consent = dict(consent)
                updates: dict[str, Any] = {}
                state = st.local.get(key)
                if state is not None:
                    for spec in specs:
                        updates[spec.name] = trait_value(state, spec, now)
                for k, v in traits.items():
                    if granted or k not in s.personal:
                        updates[k] = v
                changed, entered, exited = self._apply(s, segs, m, updates, state, now)
        if m is None:
            self._first_sight(s, segs, key, msg.anonymous_id, msg.user_id, consent, now, None)
        elif entered or exited or changed:
            self._announce(m, entered, exited, changed, consent)

    def _apply(  # noqa: PLR0917 - internal, called in two places
        self,
        s: Settings,
        segs: Segments,
        m: Membership,
        updates: Mapping[str, Any],
        state: VisitorState | None,
        now: float,
    ) -> tuple[dict[str, tuple[Any, Any]], list[str], list[str]]:
        # Under the lock: fold updates into m.attrs, re-check what they (and time) can change.
        # Returns the changed attributes as {name: (old, new)}, the segments entered, exited.
        attrs = m.attrs
        due = now - m.checked >= s.cfg.segment_recheck
        if due and state is not None and self._moving:
            updates = dict(updates)
            for spec in self._moving:
                updates[spec.name] = trait_value(state, spec, now)
        changed: dict[str, tuple[Any, Any]] = {}
        for k, v in updates.items():
            if k in attrs:
                old = attrs[k]
                if old == v:
                    continue
                if v is None:
                    del attrs[k]
                else:
                    attrs[k] = v
            elif v is None:
                continue
            else:
                old = None
                if len(attrs) < MAX_ATTRS:
                    attrs[k] = v
            changed[k] = (old, v)
        positions = segs.affected(changed) if changed else set()
        entered: list[str] = []
        exited: list[str] = []
        if m.generation != self._generation_segs:
            # evaluated with another container's segments: all of them again; a segment
            # that is gone is left (Segment Exited), one that stays is not re-entered
            m.generation = self._generation_segs
            current = set(segs.names)
            exited.extend(sorted(n for n in m.members if n not in current))
            m.members.intersection_update(current)
            positions = set(range(len(segs)))
        if due:
            positions.update(segs.timed)
            m.checked = now
        if positions:
            segs.recheck(attrs, m.members, positions, entered, exited)
        if entered or exited:
            m.changed()
        return changed, entered, exited

    def _first_sight(  # noqa: PLR0917 - internal, called in two places
        self,
        s: Settings,
        segs: Segments,
        key: str,
        anonymous_id: str | None,
        user_id: str | None,
        consent: Mapping[str, bool] | None,
        now: float,
        attrs: Mapping[str, Any] | None,
        announce: bool = True,
    ) -> frozenset[str]:
        st = self._st
        if attrs is None:
            with st.lock:
                entry = st.l1.get(key)
            profile = self._read.profile(s, key, self._s_kind(entry), entry, (), consent=consent)
            built = dict(profile.targeting_traits)
            built["id"] = key
            if anonymous_id is not None:
                built["anonymousId"] = anonymous_id
            if user_id is not None:
                built["userId"] = user_id
            attrs = built
        names = segs.evaluate(attrs)
        m = Membership(names, capped(attrs), now, consent, anonymous_id, user_id)
        m.generation = self._generation_segs
        with st.lock:
            known = st.members.get(key)
            if known is not None:
                return known.names  # another thread saw them first
            st.members[key] = m
        if announce:
            born = {n: (None, attrs[n]) for n in self._stages if attrs.get(n) is not None}
            self._announce(m, sorted(names), [], born, consent)
        self._start_sweeper(s)
        return names

    @staticmethod
    def _s_kind(entry: Any) -> Any:
        from ._types import ProfileSourceKind

        return ProfileSourceKind.LOCAL if entry is None else ProfileSourceKind.L1

    def note_segments(
        self,
        *,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        consent: Mapping[str, bool] | None = None,
        members: frozenset[str],
    ) -> None:
        """Remember the visitor's segments; emit ``Segment Entered``/``Segment Exited`` when a
        known visitor's membership changed. The first sighting only records (there is no
        earlier membership to compare with); the memory is a bounded LRU."""
        st = self._st
        s = st.settings
        if st.emit is None or not s.cfg.segment_events:
            return
        key, _ = st.ids.canonical(anonymous_id, user_id)
        if not key:
            return
        with st.lock:
            known = st.members.get(key)
            previous = None if known is None else known.names
            if previous == members:
                return
            if known is None:
                known = st.members[key] = Membership(
                    members, {}, st.clock(), consent, anonymous_id, user_id
                )
                known.generation = self._generation_segs
            else:
                known.names = members
        if previous is None:
            return
        send_segment_events(
            self._st, anonymous_id, user_id, consent, entered=members - previous,
            exited=previous - members,
        )

    # -- the read path ------------------------------------------------------------------------

    def learn_segments(self, segments: Segments, attributes: Mapping[str, Any], *,
                       anonymous_id: str | None = None, user_id: str | None = None,
                       ) -> frozenset[str]:
        """Keep a visitor's membership unannounced (a store sweep's first sight of one
        another process held: it announced them); later changes are emitted as usual."""
        st, (key, _) = self._st, self._st.ids.canonical(anonymous_id, user_id)
        if not key or segments is not self._segs or not st.settings.cfg.segment_events:
            return segments.evaluate(attributes)
        return self._first_sight(st.settings, segments, key, anonymous_id, user_id, None,
                                 st.clock(), attributes, announce=False)

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
        st = self._st
        s = st.settings
        key, _ = st.ids.canonical(anonymous_id, user_id)
        if not key or segments is not self._segs or not s.cfg.segment_events:
            return segments.evaluate(attributes)
        now = st.clock()
        with st.lock:
            m = st.members.get(key)
        if m is None:
            return self._first_sight(
                s, segments, key, anonymous_id, user_id, consent, now, attributes
            )
        with st.lock:
            m = st.members.get(key) or m
            old = m.attrs
            updates = {k: v for k, v in attributes.items() if old.get(k, _GONE) != v}
            updates.update({k: None for k in old if k not in attributes})
            if consent is not None:
                m.consent = dict(consent)
            if anonymous_id is not None:
                m.anonymous_id = anonymous_id
            if user_id is not None:
                m.user_id = user_id
            state = st.local.get(key)
            changed, entered, exited = self._apply(s, segments, m, updates, state, now)
            names = m.names
        if entered or exited or changed:
            self._announce(m, entered, exited, changed, consent)
        return names

    # -- time: re-check on a sweep ---------------------------------------------------------

    def sweep_segments(self) -> int:
        """Re-check the time-dependent segments (and moving traits) of every visitor held in
        this process, and first those of the store when it lists (``_store_sweep``),
        emitting the changes; returns how many memberships changed."""
        st = self._st
        segs = self._segs
        if segs is None:
            return 0
        s = st.settings
        swept = sweep_store(st, self._read, segs, self.segments_of, self.learn_segments)
        now = st.clock()
        with st.lock:
            keys = list(st.members.keys())
        changes = 0
        for key in keys:
            with st.lock:
                m = st.members.get(key)
                if m is None:
                    continue
                m.checked = min(m.checked, now - s.cfg.segment_recheck)  # due now
                changed, entered, exited = self._apply(s, segs, m, {}, st.local.get(key), now)
            if entered or exited or changed:
                changes += bool(entered or exited)
                self._announce(m, entered, exited, changed, m.consent)
        with st.lock:
            st.n["sweeps"] = st.n.get("sweeps", 0) + 1
        return changes + swept

    def _sweep_counted(self) -> None:
        try:
            self.sweep_segments()
        except Exception:
            self._st.count("sweep_errors")

    def _start_sweeper(self, s: Settings) -> None:
        st = self._st
        interval = s.cfg.segment_sweep_interval
        if self._sweeping or not interval or st.closed:
            return
        segs = self._segs
        if segs is None or not (segs.timed or self._moving or self._stages):
            return
        self._sweeping = True

        def arm() -> None:
            loop = asyncio.get_running_loop()

            def tick() -> None:
                if st.closed or not self._sweeping:
                    return
                if listable(st.settings) is None:
                    self._sweep_counted()
                    again()
                else:  # the store walk waits on lookups: on a worker, not this loop
                    loop.run_in_executor(None, self._sweep_counted).add_done_callback(again)

            def again(*_: object) -> None:
                loop.call_later(st.settings.cfg.segment_sweep_interval or interval, tick)

            loop.call_later(interval, tick)

        try:
            st.io.call_soon(arm)
        except RuntimeError:
            self._sweeping = False  # closed

    # -- events out -----------------------------------------------------------------------

    def _announce(
        self,
        m: Membership,
        entered: Iterable[str],
        exited: Iterable[str],
        changed: Mapping[str, tuple[Any, Any]],
        consent: Mapping[str, bool] | None,
    ) -> None:
        extra = transitions(self._stages, changed)
        if not (entered or exited or extra):
            return
        send_segment_events(
            self._st, m.anonymous_id, m.user_id, consent, entered=entered, exited=exited,
            extra=extra,
        )


_GONE = object()
_MOVING = frozenset({"lifecycle", "rfm", "affinity"})
