"""Erasure: a visitor forgotten here (L1, links, traits, segment memory) and upstream (the L2
store, the source's ``erase`` hook), with the ids other processes linked to it."""

from __future__ import annotations

from ._settings import Settings
from ._state import ProfileState

__all__ = ["forget"]

#: ids ``forget`` gathers at most through the store's identity links
_MAX_CHAIN = 1000


def forget(
    st: ProfileState, *, user_id: str | None = None, anonymous_id: str | None = None
) -> set[str]:
    """``ProfileResolver.forget``: erase a visitor here and upstream; returns every id
    purged (the given ids and the ids linked to them)."""
    s = st.settings
    ids = st.ids.related(i for i in (user_id, anonymous_id) if i)
    if not ids:
        return set()
    if s.store is not None:
        ids |= _stored_chain(st, s, ids)
    users = st.ids.targets(ids) | ({user_id} if user_id else set())
    with st.lock:
        st.generation += 1
        for i in ids:
            st.l1.pop(i, None)
            st.local.pop(i, None)
            st.members.pop(i, None)
            st.dirty.discard(i)
            st.forgotten[i] = st.generation
    st.ids.forget(ids)
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
            with st.lock:
                st.n["store_errors"] += 1
    erase = getattr(s.source, "erase", None)
    if callable(erase):
        for i in sorted(ids):
            try:
                erase(i, id_type="user_id" if i in users else "anonymous_id", timeout=5.0)
            except Exception:
                with st.lock:
                    st.n["erase_errors"] += 1
    return ids


def _stored_chain(st: ProfileState, s: Settings, ids: set[str]) -> set[str]:
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
            st.count("store_errors")
            continue
        for raw in nxt:
            other = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            if other and other not in found:
                found.add(other)
                todo.append(other)
    return found - ids
