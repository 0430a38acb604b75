"""Identity: stitching anonymous ids to user ids, and adopting ids other tools already set.

``identify(user_id, anonymous_id=...)`` and ``alias(user_id, previous_id=...)`` link an id to
the user id it now belongs to, in a bounded LRU map. Profiles are keyed by the *canonical* id:
the user id when one is given or linked, else the anonymous id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from cachetools import Cache, LRUCache

from .._speed import membership

__all__ = ["MAX_HOPS", "IdentityMap", "adopt_anonymous_id", "ga_client_id"]

USER = "user_id"
ANONYMOUS = "anonymous_id"
#: links followed at most from one id (anonymous → user → merged user → ...): a bound, so a
#: cycle written by another process, or a very long chain, never holds a request
MAX_HOPS = 32

# _ga = GA<version>.<domain depth>.<random>.<first-visit timestamp>; the client id is the last two
_GA = re.compile(r"GA\d+\.\d+(?:-\d+)?\.(\d+\.\d+)")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@+\-]{1,128}")


def ga_client_id(cookie: str) -> str | None:
    """The Google Analytics client id in a ``_ga`` cookie: ``GA1.1.123.456`` → ``123.456``."""
    m = _GA.fullmatch(cookie.strip())
    return m.group(1) if m else None


def adopt_anonymous_id(cookies: Mapping[str, str]) -> str | None:
    """An anonymous id another tool already gave this browser, so visitors keep their id.

    Checks analytics.js' ``ajs_anonymous_id`` (a JSON string, often URL-encoded:
    ``%22abc-123%22``) first, then the Google Analytics ``_ga`` client id. Returns None when
    neither holds a plausible id.
    """
    ajs = cookies.get("ajs_anonymous_id")
    if ajs:
        value = unquote(ajs).strip().strip('"')
        if _SAFE_ID.fullmatch(value):
            return value
    ga = cookies.get("_ga")
    if ga:
        return ga_client_id(ga)
    return None


class _Links(LRUCache[str, str]):
    # the LRU map of links, keeping a reverse index (user id -> the ids linked to it) in
    # step through every write and removal, evictions included
    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.sources: dict[str, set[str]] = {}

    def __setitem__(self, key: str, value: str) -> None:
        old = self.get(key)
        if old is not None and old != value:
            self._unlink(key, old)
        super().__setitem__(key, value)
        self.sources.setdefault(value, set()).add(key)

    def __delitem__(self, key: str) -> None:
        old = Cache.__getitem__(self, key)
        super().__delitem__(key)
        self._unlink(key, old)

    def _unlink(self, key: str, target: str) -> None:
        found = self.sources.get(target)
        if found is not None:
            found.discard(key)
            if not found:
                del self.sources[target]


class IdentityMap:
    """A bounded map from earlier ids (anonymous ids, old user ids) to the user id they joined.

    Thread-safe. ``canonical`` costs one dict membership test when the id was never linked.
    """

    def __init__(self, max_entries: int) -> None:
        self._lock = threading.Lock()
        self._links = _Links(max_entries)
        #: whether any link was ever made: until then ``in`` is one attribute read
        self._linked = False
        #: ``some_id in self`` as one C call (``persona_sdk._speed.membership``; the map
        #: holds no link until the first one is made)
        self.has = membership(self._links)

    def canonical(self, anonymous_id: str | None, user_id: str | None) -> tuple[str, str]:
        """``(canonical id, id type)``; ``("", "")`` when no id is given."""
        links = self._links
        if user_id:
            if user_id in links:
                return self._follow(user_id), USER
            return user_id, USER
        if anonymous_id:
            if anonymous_id in links:
                return self._follow(anonymous_id), USER
            return anonymous_id, ANONYMOUS
        return "", ""

    def __contains__(self, some_id: object) -> bool:
        """Whether ``some_id`` was linked to a user id (``canonical`` would follow it)."""
        return self._linked and some_id in self._links

    def _follow(self, start: str) -> str:
        # to the root of the chain (at most MAX_HOPS links; a cycle stops where it closes),
        # then every id passed on the way links straight to it: the next lookup is one hop
        links = self._links
        with self._lock:
            path = [start]
            seen = {start}
            current = start
            for _ in range(MAX_HOPS):
                nxt = links.get(current)
                if nxt is None or nxt in seen:
                    break
                path.append(nxt)
                seen.add(nxt)
                current = nxt
            for i in path[:-2]:
                links[i] = current
        return current

    def link(self, previous_id: str, user_id: str) -> bool:
        """Record that ``previous_id`` is now ``user_id``; False when nothing changed."""
        if not previous_id or not user_id or previous_id == user_id:
            return False
        target = self._follow(user_id)
        if target == previous_id:
            return False  # would make a cycle: keep the older direction
        with self._lock:
            if self._links.get(previous_id) == target:
                return False
            self._links[previous_id] = target
            self._linked = True
        return True

    def related(self, ids: Iterable[str]) -> set[str]:
        """``ids`` with every id linked to or from them (for ``forget``)."""
        found = {i for i in ids if i}
        with self._lock:
            pairs = list(self._links.items())
        changed = True
        while changed:
            changed = False
            for src, dst in pairs:
                if (src in found) != (dst in found):
                    found.update((src, dst))
                    changed = True
        return found

    def aliases(self, any_id: str, limit: int = 64) -> set[str]:
        """``any_id``, the user id it leads to and every id linked to that user (directly
        or through another link), at most ``limit``: the ids one person's events may carry.
        Costs a few dict lookups (a reverse index), not a scan of the links."""
        found = {any_id}
        with self._lock:
            top = any_id
            for _ in range(MAX_HOPS):
                nxt = self._links.get(top)
                if nxt is None:
                    break
                top = nxt
            found.add(top)
            frontier = [top]
            expanded = {top}
            sources = self._links.sources
            for _ in range(MAX_HOPS):
                if not frontier or len(found) >= limit:
                    break
                nxt_frontier = []
                for target in frontier:
                    for src in sources.get(target, ()):
                        if src not in expanded and len(found) < limit:
                            found.add(src)
                            expanded.add(src)
                            nxt_frontier.append(src)
                frontier = nxt_frontier
        return found

    def targets(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that other ids link to (user ids)."""
        wanted = set(ids)
        with self._lock:
            return {dst for dst in self._links.values() if dst in wanted}

    def forget(self, ids: Iterable[str]) -> None:
        """Drop every link from these ids."""
        with self._lock:
            for i in ids:
                self._links.pop(i, None)

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (a parent thread may have held this one)."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._links)
