"""What events write to the shared L2 store, off the caller's thread: computed-trait states
(batched, every ``profiles.computed_flush_interval``) and identity links."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import msgspec

from ..events import Message
from ._computed import TraitSpec, VisitorState
from ._settings import Settings
from ._state import ProfileState

__all__ = ["StoreWriter"]

_blob_decoder = msgspec.json.Decoder(dict[str, Any])


class StoreWriter:
    """The resolver's writes to the L2 store, on its I/O thread.

    Args:
        state: the resolver's state (visitors' computed traits, dirty set, I/O thread).
    """

    def __init__(self, state: ProfileState) -> None:
        self._st = state

    def note_computed(self, s: Settings, msg: Message, specs: tuple[TraitSpec, ...]) -> None:
        """Update the visitor's computed traits ``specs`` from ``msg``; with a store, the
        visitor's state is written at the next batched write."""
        st = self._st
        key, _ = st.ids.canonical(msg.anonymous_id, msg.user_id)
        if not key:
            return
        schedule = False
        with st.lock:
            state = st.local.get(key)
            if state is None:
                state = st.local[key] = VisitorState()
            state.observe(specs, msg)
            if s.store is not None and not st.closed:
                st.dirty.add(key)
                if not st.flush_scheduled:
                    st.flush_scheduled = schedule = True
        if schedule:
            self._schedule(s)

    def share_link(self, s: Settings, previous: str, target: str) -> None:
        """Write the link ``previous`` → ``target`` to the store (off the caller's thread),
        so another process resolving ``previous`` finds ``target``'s profile; ``flush``
        waits for it."""
        st = self._st
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
                with st.lock:
                    st.n["store_errors"] += 1

        try:
            task = st.io.submit(write())
        except RuntimeError:
            return  # closed
        st.track_task(task)

    def _schedule(self, s: Settings) -> None:
        # one write of every dirty visitor, computed_flush_interval from now
        st = self._st

        def arm() -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(
                s.cfg.computed_flush_interval,
                lambda: loop.create_task(self._flush_computed(s)),
            )

        try:
            st.io.call_soon(arm)
        except RuntimeError:
            pass  # closed

    async def _flush_computed(self, s: Settings) -> None:
        st = self._st
        store = s.store
        with st.lock:
            keys, st.dirty = st.dirty, set()
            st.flush_scheduled = False
            snapshots = []
            for key in keys:
                state = st.local.get(key)
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
                        ckey, st.slot, msgspec.json.encode(wire), ttl=s.cfg.computed_ttl
                    )
                    continue
                raw = await store.aget(ckey)
                try:
                    blob = _blob_decoder.decode(raw) if raw is not None else {}
                except (msgspec.DecodeError, msgspec.ValidationError):
                    blob = {}
                blob[st.slot] = wire
                await store.aset(ckey, msgspec.json.encode(blob), ttl=s.cfg.computed_ttl)
            except Exception:
                with st.lock:
                    st.n["store_errors"] += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Write pending computed-trait states and identity links to the L2 store now; False
        on timeout."""
        st = self._st
        s = st.settings
        with st.lock:
            pending = bool(st.dirty)
            links = bool(st.tasks)
        if s.store is None or not (pending or links):
            return True
        deadline = time.monotonic() + timeout
        if pending:
            try:
                fut = st.io.submit(self._flush_computed(s))
            except RuntimeError:
                return False
            done, _ = concurrent.futures.wait((fut,), timeout=timeout)
            if not done:
                return False
        # identity links (and lookups) under way
        return st.drain(max(0.0, deadline - time.monotonic()))
