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

from ..events import Message, consent_of, new_message_id
from ._computed import TraitSpec, VisitorState
from ._readpath import ReadPath

if TYPE_CHECKING:
    from ._segments import Segments
    from ._settings import Settings

__all__ = ["MAX_ATTRS", "OWN_EVENTS", "Audience", "Membership", "trait_value"]

#: most attribute keys a membership keeps (request attributes are caller-controlled)
MAX_ATTRS = 256
#: events this layer emits: they never re-trigger segment evaluation
OWN_EVENTS = frozenset({"Segment Entered", "Segment Exited", "Lifecycle Stage Changed"})


class Membership:
    """One visitor's segments and what they were evaluated on."""

    __slots__ = (
        "_frozen",
        "anonymous_id",
        "attrs",
        "checked",
        "consent",
        "generation",
        "members",
        "user_id",
    )

    def __init__(  # noqa: PLR0917 - a plain record
        self,
        names: frozenset[str],
        attrs: dict[str, Any],
        checked: float,
        consent: Mapping[str, bool] | None,
        anonymous_id: str | None,
        user_id: str | None,
    ) -> None:
        #: the member names, changed in place under the resolver's lock
        self.members: set[str] = set(names)
        self._frozen: frozenset[str] | None = names
        self.attrs = attrs
        self.checked = checked  # when the time-dependent segments were last evaluated
        self.consent = dict(consent) if consent is not None else None
        self.anonymous_id = anonymous_id
        self.user_id = user_id
        self.generation = 0  # the segments' generation it was evaluated with

    @property
    def names(self) -> frozenset[str]:
        """The member names, as a frozenset built once per change (reads are lookups)."""
        frozen = self._frozen
        if frozen is None:
            frozen = self._frozen = frozenset(self.members)
        return frozen

    @names.setter
    def names(self, value: frozenset[str]) -> None:
        self.members = set(value)
        self._frozen = value

    def changed(self) -> None:
        """Note that ``members`` changed (the next read builds a new frozenset)."""
        self._frozen = None


def trait_value(state: VisitorState, spec: TraitSpec, now: float) -> Any:
    """One computed trait's value at ``now``: own events plus peers' (None when unknown)."""
    st = state.computed.get(spec.name)
    peers = state.peers
    if peers:
        for other in peers.values():
            if spec.name in other:
                st = spec.merge(st, other[spec.name])
    return None if st is None else spec.read(st, now)


def _capped(attrs: Mapping[str, Any]) -> dict[str, Any]:
    if len(attrs) <= MAX_ATTRS:
        return dict(attrs)
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if len(out) >= MAX_ATTRS:
            break
        out[k] = v
    return out


class Audience(ReadPath):
    """The segment half of ``ProfileResolver``: membership kept per visitor, events out."""

    _segs: Segments | None = None
    _moving: tuple[TraitSpec, ...] = ()
    _stages: tuple[str, ...] = ()
    _generation_segs = 0
    _sweeping = False

    def _after_fork(self) -> None:
        super()._after_fork()
        # the sweep was armed on the parent's I/O thread: the child's next visitor re-arms it
        self._sweeping = False

    def use_segments(self, segments: Segments | None) -> None:
        """Evaluate these segments as events arrive (``Persona`` calls it on (re)load).

        Lifecycle traits are watched too (their transitions are events), with or without
        segments."""
        s = self._s
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
        self._on_segments_changed()

    def _on_segments_changed(self) -> None:
        """Hook: the resolver recomputes which message types it observes."""

    @property
    def audience_on(self) -> bool:
        """Whether membership is kept (segments exist and segment memory is wanted)."""
        return self._segs is not None

    # -- the write path: one event ---------------------------------------------------------

    def _segment_event(
        self, s: Settings, msg: Message, specs: Iterable[TraitSpec], traits: Mapping[str, Any]
    ) -> None:
        segs = self._segs
        if segs is None or msg.event in OWN_EVENTS:
            return
        key, _ = self._ids.canonical(msg.anonymous_id, msg.user_id)
        if not key:
            return
        consent = consent_of(msg)
        now = self._clock()
        granted = not s.personal or (consent is not None and consent.get(s.purpose) is True)
        with self._lock:
            m = self._members.get(key)
            if m is not None:
                if consent is not None:
                    m.consent = dict(consent)
                updates: dict[str, Any] = {}
                state = self._local.get(key)
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
    ) -> frozenset[str]:
        if attrs is None:
            with self._lock:
                entry = self._l1.get(key)
            profile = self._profile(s, key, self._s_kind(entry), entry, (), consent=consent)
            built = dict(profile.targeting_traits)
            built["id"] = key
            if anonymous_id is not None:
                built["anonymousId"] = anonymous_id
            if user_id is not None:
                built["userId"] = user_id
            attrs = built
        names = segs.evaluate(attrs)
        m = Membership(names, _capped(attrs), now, consent, anonymous_id, user_id)
        m.generation = self._generation_segs
        with self._lock:
            known = self._members.get(key)
            if known is not None:
                return known.names  # another thread saw them first
            self._members[key] = m
        born = {n: (None, attrs[n]) for n in self._stages if attrs.get(n) is not None}
        self._announce(m, sorted(names), [], born, consent)
        self._start_sweeper(s)
        return names

    @staticmethod
    def _s_kind(entry: Any) -> Any:
        from ._types import ProfileSourceKind

        return ProfileSourceKind.LOCAL if entry is None else ProfileSourceKind.L1

    # -- the read path ------------------------------------------------------------------------

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
        s = self._s
        key, _ = self._ids.canonical(anonymous_id, user_id)
        if not key or segments is not self._segs or not s.cfg.segment_events:
            return segments.evaluate(attributes)
        now = self._clock()
        with self._lock:
            m = self._members.get(key)
        if m is None:
            return self._first_sight(
                s, segments, key, anonymous_id, user_id, consent, now, attributes
            )
        with self._lock:
            m = self._members.get(key) or m
            old = m.attrs
            updates = {k: v for k, v in attributes.items() if old.get(k, _GONE) != v}
            updates.update({k: None for k in old if k not in attributes})
            if consent is not None:
                m.consent = dict(consent)
            if anonymous_id is not None:
                m.anonymous_id = anonymous_id
            if user_id is not None:
                m.user_id = user_id
            state = self._local.get(key)
            changed, entered, exited = self._apply(s, segments, m, updates, state, now)
            names = m.names
        if entered or exited or changed:
            self._announce(m, entered, exited, changed, consent)
        return names

    def members_of(self, segment: str, limit: int = 1000) -> list[str]:
        """Canonical ids of visitors held in this process who are in ``segment`` (at most
        ``limit``, most recently seen last)."""
        with self._lock:
            items = list(self._members.items())
        out = [key for key, m in items if segment in m.members]
        return out[-limit:] if limit else out

    def record(
        self, *, anonymous_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any] | None:
        """What is known of a visitor, unfiltered: ``id``, ``traits``, ``computed``,
        ``segments``, ``consent`` (the last seen), ``source``; None when nothing is."""
        from ._types import ProfileReason

        key, _ = self._ids.canonical(anonymous_id, user_id)
        if not key:
            return None
        with self._lock:
            m = self._members.get(key)
            held = key in self._local
        consent = None if m is None else m.consent
        profile = self.resolve(anonymous_id=anonymous_id, user_id=user_id, consent=consent)
        unknown = (
            ProfileReason.NOT_FOUND in profile.reasons
            or ProfileReason.NO_SOURCE in profile.reasons
            or profile.source.value == "fallback"
        )
        if unknown and m is None and not held:
            return None
        return {
            "id": key,
            "traits": dict(profile.traits),
            "computed": dict(profile.computed),
            "segments": sorted(m.names) if m is not None else [],
            "consent": dict(consent) if consent is not None else None,
            "source": profile.source.value,
        }

    def aliases(self, any_id: str) -> set[str]:
        """The ids of the person ``any_id`` belongs to, as this process's identity links
        know them (``identify``/``alias``): ``any_id``, its user id, and the ids linked to
        it (a bandit credits a conversion under a user id to an exposure under the
        anonymous id used before the login)."""
        return self._ids.aliases(any_id)

    def membership(self, key: str) -> frozenset[str] | None:
        """A visitor's kept segments by canonical id (None when not held)."""
        with self._lock:
            m = self._members.get(key)
        return None if m is None else m.names

    def attribution_report(self, trait: str | None = None) -> dict[str, Any]:
        """Credit per model and channel summed over the visitors held in this process, from
        the ``attribution`` computed trait named ``trait`` (default: the first one)."""
        from ._attribution import merge_reports

        s = self._s
        specs = [sp for sp in s.computed.specs if sp.kind.value == "attribution"]
        spec = next((sp for sp in specs if trait in (None, sp.name)), None)
        if spec is None:
            raise KeyError(f"no attribution computed trait {trait or ''}".rstrip())
        now = self._clock()
        with self._lock:
            states = list(self._local.values())
            values = [trait_value(st, spec, now) for st in states]
        report = merge_reports(v for v in values if v)
        report["trait"] = spec.name
        return report

    # -- time: re-check on a sweep ---------------------------------------------------------

    def sweep_segments(self) -> int:
        """Re-check the time-dependent segments (and moving traits) of every visitor held in
        this process, emitting the changes; returns how many memberships changed."""
        segs = self._segs
        if segs is None:
            return 0
        s = self._s
        now = self._clock()
        with self._lock:
            keys = list(self._members.keys())
        changes = 0
        for key in keys:
            with self._lock:
                m = self._members.get(key)
                if m is None:
                    continue
                m.checked = min(m.checked, now - s.cfg.segment_recheck)  # due now
                changed, entered, exited = self._apply(s, segs, m, {}, self._local.get(key), now)
            if entered or exited or changed:
                changes += bool(entered or exited)
                self._announce(m, entered, exited, changed, m.consent)
        with self._lock:
            self._n["sweeps"] = self._n.get("sweeps", 0) + 1
        return changes

    def _start_sweeper(self, s: Settings) -> None:
        interval = s.cfg.segment_sweep_interval
        if self._sweeping or not interval or self._closed:
            return
        segs = self._segs
        if segs is None or not (segs.timed or self._moving or self._stages):
            return
        self._sweeping = True

        def arm() -> None:
            loop = asyncio.get_running_loop()

            def tick() -> None:
                if self._closed or not self._sweeping:
                    return
                try:
                    self.sweep_segments()
                except Exception:
                    with self._lock:
                        self._n["sweep_errors"] = self._n.get("sweep_errors", 0) + 1
                loop.call_later(self._s.cfg.segment_sweep_interval or interval, tick)

            loop.call_later(interval, tick)

        try:
            self._io.call_soon(arm)
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
        extra = self._transitions(m, changed)
        if not (entered or exited or extra):
            return
        self._send_segment_events(
            m.anonymous_id, m.user_id, consent, entered, exited, extra=extra
        )

    def _transitions(
        self, m: Membership, changed: Mapping[str, tuple[Any, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        # a lifecycle trait that changed value is a transition: one event each
        out: list[tuple[str, dict[str, Any]]] = []
        for name in self._stages:
            move = changed.get(name)
            if move is not None and move[1] is not None:
                out.append(
                    (
                        "Lifecycle Stage Changed",
                        {"trait": name, "from": move[0], "to": move[1]},
                    )
                )
        return out

    def _send_segment_events(
        self,
        anonymous_id: str | None,
        user_id: str | None,
        consent: Mapping[str, bool] | None,
        entered: Iterable[str],
        exited: Iterable[str],
        *,
        extra: Iterable[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        if self._emit is None or not self._s.cfg.segment_events:
            return
        context: dict[str, Any] = {}
        if consent is not None:
            context["consent"] = {"categoryPreferences": dict(consent)}
        events: list[tuple[str, dict[str, Any]]] = []
        for event, names in (("Segment Exited", exited), ("Segment Entered", entered)):
            for name in sorted(names):
                events.append((event, {"segment_id": name, "segment_name": name}))
        events.extend(extra)
        for event, props in events:
            msg = Message(
                type="track",
                message_id=new_message_id(),
                anonymous_id=anonymous_id,
                user_id=user_id,
                event=event,
                properties=props,
                context=dict(context),
                timestamp=self._clock(),
            )
            try:
                self._emit(msg)
            except Exception:
                continue  # a closed or failing tag layer never breaks the caller
            with self._lock:
                self._n["segment_events"] += 1


_GONE = object()
_MOVING = frozenset({"lifecycle", "rfm", "affinity"})
