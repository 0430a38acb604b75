"""The sweep over the profiles held in a shared (L2) store that can list its keys.

``Audience.sweep_segments`` runs it before its sweep over the visitors held in this process:
each visitor the store holds (a ``p:`` entry or ``c:`` computed traits, whichever process
wrote them) is read through the read path (the L2 entry and every process' computed traits)
and re-checked as a read of ``visitor.segments`` would: one this process does not hold yet is
a first sighting (``Segment Entered`` for each segment they are in), one it holds has what
changed in the store re-evaluated (entered and exited). The in-process sweep then re-checks
the time-dependent segments of all of them. Pages are bounded (``batch`` keys), the walk stops when
the membership memory (``profiles.segment_memory``) is full, and it never runs on a request
thread: the periodic sweep runs it on a worker thread of the resolver's I/O loop.

Two processes sweeping one store each emit for the membership they last knew (no dedupe
across processes); one process emits a transition once, as its membership memory records it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..plugins import ListableProfileStore

if TYPE_CHECKING:
    from ._readpath import ReadPath
    from ._segments import Segments
    from ._settings import Settings
    from ._state import ProfileState

__all__ = ["BATCH", "listable", "sweep_store"]

#: keys asked of the store per page
BATCH = 500

Check = Callable[..., frozenset[str]]


def listable(s: Settings) -> ListableProfileStore | None:
    """The store, when the sweep is to walk it (``profiles.sweep_store``) and it can list."""
    store = s.store if s.cfg.sweep_store else None
    return store if isinstance(store, ListableProfileStore) else None


def sweep_store(
    st: ProfileState, read: ReadPath, segs: Segments, check: Check, learn: Check
) -> int:
    """Read every visitor the store holds and re-check their segments with what it holds
    (``check``: ``Audience.segments_of``, which emits the changes); counted as
    ``store_swept``. How many memberships changed."""
    s = st.settings
    store = listable(s)
    if store is None:
        return 0
    prefix = s.cfg.store_prefix
    kinds = ("p:", "c:") if s.computed.specs else ("p:",)
    swept = changed = 0
    for kind in kinds:
        start = len(prefix) + len(kind)
        for page in store.scan_keys(prefix + kind, batch=BATCH):
            for raw in page:
                key = raw[start:]
                with st.lock:
                    m = st.members.get(key)
                    if m is None and len(st.members) >= st.members.maxsize:
                        return _count(st, swept, changed)
                    before = frozenset() if m is None else m.names
                    kept = {} if m is None else dict(m.attrs)
                ids = _ids(s, key) if m is None else (m.anonymous_id, m.user_id)
                profile = read.resolve(anonymous_id=ids[0], user_id=ids[1])
                # what the store holds over what this process last evaluated (request
                # attributes it saw stay: a sweep is no request)
                kept.update(profile.targeting_traits)
                kept["id"] = key
                kept["userId" if ids[1] else "anonymousId"] = key
                # a visitor this process never held is learnt without events: whoever held
                # them announced their segments; from here on this process emits the changes
                seen = check if m is not None else learn
                after = seen(segs, kept, anonymous_id=ids[0], user_id=ids[1])
                changed += after != before
                swept += 1
    return _count(st, swept, changed)


def _ids(s: Settings, key: str) -> tuple[str | None, str | None]:
    # a key other ids were linked to (a back-link hash under it) is a user id
    back = s.ctx.back_key
    get_fields = getattr(s.store, "get_fields", None)
    if back is not None and callable(get_fields) and get_fields(back(key)):
        return None, key
    return key, None


def _count(st: ProfileState, swept: int, changed: int) -> int:
    st.count("store_swept", swept)
    return changed
