"""``ProfileResolver``: profiles for the read path, identity and real-time traits from events.

The read path (caches, single flight, deadline, breaker) lives in ``_readpath``; this module
adds what events feed (``observe``: identity stitching, identify traits, computed traits),
segment lifecycle events, ``forget``, and the lifecycle (``flush``, ``stats``, ``close``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec

from .._stats import ResolverStats
from ..events import Message
from ._audience import OWN_EVENTS, Audience, Membership
from ._computed import TraitSpec, VisitorState
from ._settings import Settings

_SEEN = frozenset({"track", "page", "screen"})
#: ids ``forget`` gathers at most through the store's identity links
_MAX_CHAIN = 1000

if TYPE_CHECKING:
    from ..config import Container

__all__ = ["ProfileResolver"]

_blob_decoder = msgspec.json.Decoder(dict[str, Any])


class ProfileResolver(Audience):
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

    # -- the write path: events -----------------------------------------------------------

    #: The message types ``observe`` learns from under the current container; a caller on a
    #: hot path may skip ``observe`` for the others (it would do nothing with them).
    observes: frozenset[str] = frozenset({"identify", "alias"})

    def configure(self, container: Container) -> None:
        """As ``ReadPath.configure``; also notes which message types ``observe`` needs."""
        super().configure(container)
        self._on_segments_changed()

    def _on_segments_changed(self) -> None:
        # with segments kept per visitor, every event may be a first sighting
        segs = _SEEN if self.audience_on and self._s.cfg.segment_events else frozenset()
        self.observes = frozenset({"identify", "alias"}) | self._s.computed.fed_by | segs

    def observe(self, msg: Message) -> None:
        """Learn from one event: stitch ids (identify/alias), keep identify traits, update
        computed traits, re-evaluate the segments reading what changed. Cheap and I/O-free;
        the next ``resolve`` of the visitor sees it."""
        s = self._s
        kind = msg.type
        if kind in {"identify", "alias"}:
            self._stitch(s, msg)
            if kind == "identify" and self._segs is not None:
                self._segment_event(s, msg, (), msg.traits or {})
            return
        if msg.event in OWN_EVENTS:
            return  # emitted here about the visitor, not activity of theirs
        specs = s.computed.matching(msg)
        if specs:
            self._observe_computed(s, msg, specs)
        if self._segs is not None:
            self._segment_event(s, msg, specs, {})

    def _observe_computed(self, s: Settings, msg: Message, specs: tuple[TraitSpec, ...]) -> None:
        key, _ = self._ids.canonical(msg.anonymous_id, msg.user_id)
        if not key:
            return
        schedule = False
        with self._lock:
            state = self._local.get(key)
            if state is None:
                state = self._local[key] = VisitorState()
            state.observe(specs, msg)
            if s.store is not None and not self._closed:
                self._dirty.add(key)
                if not self._flush_scheduled:
                    self._flush_scheduled = schedule = True
        if schedule:
            self._schedule_flush(s)

    def _stitch(self, s: Settings, msg: Message) -> None:
        previous = msg.previous_id if msg.type == "alias" else msg.anonymous_id
        user = msg.user_id
        if user and previous and self._ids.link(previous, user):
            target, _ = self._ids.canonical(None, user)
            if s.store is not None and not self._closed:
                self._share_link(s, previous, target)
            with self._lock:
                old = self._local.pop(previous, None)
                if old is not None:
                    state = self._local.get(target) or VisitorState()
                    state.absorb(old, s.computed)
                    self._local[target] = state
                members = self._members.pop(previous, None)
                if members is not None and target not in self._members:
                    self._members[target] = members
                self._l1.pop(previous, None)
        if msg.type == "identify" and msg.traits:
            key, _ = self._ids.canonical(msg.anonymous_id, msg.user_id)
            if key:
                with self._lock:
                    known = self._local.get(key)
                    if known is None:
                        known = self._local[key] = VisitorState()
                    known.add_traits(msg.traits)

    def _share_link(self, s: Settings, previous: str, target: str) -> None:
        # the link goes to the shared store (off the caller's thread), so another process
        # resolving ``previous`` finds ``target``'s profile; ``flush`` waits for it
        store, link_key, back_key = s.store, s.ctx.link_key, s.ctx.back_key
        if store is None or link_key is None:
            return

        async def write() -> None:
            ttl = s.cfg.computed_ttl
            try:
                await store.aset(link_key(previous), target.encode(), ttl=ttl)
                if s.ctx.fields and back_key is not None:
                    # the way back, for ``forget`` to find every id of a chain without a scan
                    await store.aset_field(  # type: ignore[attr-defined]
                        back_key(target), previous, b"1", ttl=ttl
                    )
            except Exception:
                with self._lock:
                    self._n["store_errors"] += 1

        try:
            task = self._io.submit(write())
        except RuntimeError:
            return  # closed
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._task_done)

    # -- segments -------------------------------------------------------------------------

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
        s = self._s
        if self._emit is None or not s.cfg.segment_events:
            return
        key, _ = self._ids.canonical(anonymous_id, user_id)
        if not key:
            return
        with self._lock:
            known = self._members.get(key)
            previous = None if known is None else known.names
            if previous == members:
                return
            if known is None:
                known = self._members[key] = Membership(
                    members, {}, self._clock(), consent, anonymous_id, user_id
                )
                known.generation = self._generation_segs
            else:
                known.names = members
        if previous is None:
            return
        self._send_segment_events(
            anonymous_id, user_id, consent, members - previous, previous - members
        )

    # -- computed traits through the L2 store ----------------------------------------------

    def _schedule_flush(self, s: Settings) -> None:
        def arm() -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(
                s.cfg.computed_flush_interval,
                lambda: loop.create_task(self._flush_computed(s)),
            )

        try:
            self._io.call_soon(arm)
        except RuntimeError:
            pass  # closed

    async def _flush_computed(self, s: Settings) -> None:
        store = s.store
        with self._lock:
            keys, self._dirty = self._dirty, set()
            self._flush_scheduled = False
            snapshots = []
            for key in keys:
                state = self._local.get(key)
                if state is not None:
                    snapshots.append((key, state.to_wire(s.computed)))
        if store is None:
            return
        for key, wire in snapshots:
            ckey = s.ctx.computed_key(key)
            try:
                if s.ctx.fields:
                    # this process' own field, set atomically: no other process' states are
                    # read or written, so concurrent writers never lose each other's updates
                    await store.aset_field(  # type: ignore[attr-defined]
                        ckey, self._slot, msgspec.json.encode(wire), ttl=s.cfg.computed_ttl
                    )
                    continue
                raw = await store.aget(ckey)
                try:
                    blob = _blob_decoder.decode(raw) if raw is not None else {}
                except (msgspec.DecodeError, msgspec.ValidationError):
                    blob = {}
                blob[self._slot] = wire
                await store.aset(ckey, msgspec.json.encode(blob), ttl=s.cfg.computed_ttl)
            except Exception:
                with self._lock:
                    self._n["store_errors"] += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Write pending computed-trait states and identity links to the L2 store now; False
        on timeout."""
        s = self._s
        with self._lock:
            pending = bool(self._dirty)
            links = bool(self._tasks)
        if s.store is None or not (pending or links):
            return True
        deadline = time.monotonic() + timeout
        if pending:
            try:
                fut = self._io.submit(self._flush_computed(s))
            except RuntimeError:
                return False
            done, _ = concurrent.futures.wait((fut,), timeout=timeout)
            if not done:
                return False
        # identity links (and lookups) under way
        return self.drain(max(0.0, deadline - time.monotonic()))

    # -- erasure --------------------------------------------------------------------------

    def forget(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> set[str]:
        """Erase a visitor here and upstream: L1, alias links, identify and computed traits,
        segment memory, the L2 store, and the source's ``erase`` hook when it has one.

        Returns every id purged (the given ids and the ids linked to them).
        """
        s = self._s
        ids = self._ids.related(i for i in (user_id, anonymous_id) if i)
        if not ids:
            return set()
        if s.store is not None:
            ids |= self._stored_chain(s, ids)
        users = self._ids.targets(ids) | ({user_id} if user_id else set())
        with self._lock:
            self._generation += 1
            for i in ids:
                self._l1.pop(i, None)
                self._local.pop(i, None)
                self._members.pop(i, None)
                self._dirty.discard(i)
                self._forgotten[i] = self._generation
        self._ids.forget(ids)
        if s.store is not None:
            try:
                link = s.ctx.link_key or s.ctx.entry_key
                s.store.delete(
                    [
                        k
                        for i in ids
                        for k in (s.ctx.entry_key(i), s.ctx.computed_key(i), link(i),
                                  *((s.ctx.back_key(i),) if s.ctx.back_key else ()))
                    ]
                )
            except Exception:
                with self._lock:
                    self._n["store_errors"] += 1
        erase = getattr(s.source, "erase", None)
        if callable(erase):
            for i in sorted(ids):
                try:
                    erase(i, id_type="user_id" if i in users else "anonymous_id", timeout=5.0)
                except Exception:
                    with self._lock:
                        self._n["erase_errors"] += 1
        return ids

    def _stored_chain(self, s: Settings, ids: set[str]) -> set[str]:
        """Every id linked to or from ``ids`` through the store's identity links (other
        processes' merges): links forward, the back-link hashes backward; bounded."""
        store, link, back = s.store, s.ctx.link_key, s.ctx.back_key
        if store is None or link is None:
            return set()
        get_fields = getattr(store, "get_fields", None) if back is not None else None
        found, todo = set(ids), list(ids)
        while todo and len(found) < _MAX_CHAIN:
            i = todo.pop()
            try:
                nxt = [store.get(link(i))]
                if get_fields is not None and back is not None:
                    nxt.extend(k.encode() for k in get_fields(back(i)))
            except Exception:
                with self._lock:
                    self._n["store_errors"] += 1
                continue
            for raw in nxt:
                other = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
                if other and other not in found:
                    found.add(other)
                    todo.append(other)
        return found - ids

    # -- lifecycle ------------------------------------------------------------------------

    def stats(self) -> ResolverStats:
        """Cache hits and misses, flights, fallbacks by reason, breaker state and sizes."""
        s = self._s
        with self._lock:
            n = {"l1": self._hits.value, "misses": self._misses.value, **self._n}
            fallbacks = dict(self._fallbacks)
            sizes = {
                "l1_entries": len(self._l1),
                "visitors": len(self._local),
                "segment_memory": len(self._members),
                "in_flight": len(self._flights),
            }
        # the counters are keyed by name in _n (see ReadPath): a cast, pinned by a test
        return cast("ResolverStats", {
            "source": getattr(s.source, "name", None) if s.source is not None else None,
            "store": type(s.store).__name__ if s.store is not None else None,
            **n,
            "fallbacks": fallbacks,
            "aliases": len(self._ids),
            **sizes,
            "segment_failures": self._segs.failures if self._segs is not None else 0,
            "breaker": s.breaker.stats(),
        })

    def close(self) -> None:
        """Write pending computed traits, stop the I/O thread, close what was built from the
        container. Idempotent; afterwards cache hits still answer, misses fall back."""
        if self._closed:
            return
        s = self._s
        if self._io.running:
            self.flush(timeout=2.0)
        self._closed = True
        closers = [o for o in (*s.owned, self._source_arg, self._store_arg) if o is not None]

        async def aclose_all() -> None:
            for obj in closers:
                aclose = getattr(obj, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        pass

        self._io.close(before_stop=aclose_all)
        for obj in s.owned:
            try:
                obj.close()
            except Exception:
                pass
