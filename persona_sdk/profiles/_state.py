"""What the resolver's parts share: the visitors held in this process, caches and counters.

``ProfileResolver`` owns one ``ProfileState`` and hands it to its read path (``ReadPath``:
L1, flights, ``resolve``) and its audience (``Audience``: segment membership); each part
keeps its own logic and reads or changes this state under ``lock``.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from .._speed import Counter
from ..config import ProfilesConfig
from ._identity import IdentityMap
from ._io import IoLoop

if TYPE_CHECKING:
    from ..events import Message
    from ._computed import VisitorState
    from ._lookup import Entry, Outcome
    from ._membership import Membership
    from ._settings import Settings

__all__ = ["ProfileState", "new_l1"]

_COUNTED = (
    "stale", "l2", "remote", "flights", "joined", "refreshes", "timeouts", "segment_events",
    "store_errors", "erase_errors", "store_swept",
)


def new_l1(max_entries: int) -> LRUCache[str, Entry]:
    """A new L1 cache. A plain LRU: each entry's expiry is checked when it is read, which
    costs a comparison, where TLRUCache's read (its timer, its expiry order) was about 40%
    of an L1 hit. Entries past expiry are dropped when read, or by size like any other."""
    return LRUCache(maxsize=max_entries)


class ProfileState:
    """The state of the visitors held in this process, shared by the resolver's parts.

    Everything mutable is changed under ``lock`` (L1 reads excepted, see ``ReadPath``).
    ``settings`` is swapped whole by ``ProfileResolver.configure``.
    """

    __slots__ = (
        "clock", "closed", "dirty", "emit", "fallbacks", "flights", "flush_scheduled",
        "forgotten", "generation", "hits", "ids", "io", "l1", "local", "lock", "members",
        "misses", "n", "remote_seen", "settings", "slot", "tasks",
    )

    def __init__(
        self,
        cfg: ProfilesConfig,
        *,
        emit: Callable[[Message], Any] | None,
        clock: Callable[[], float],
    ) -> None:
        #: emits ``Segment Entered``/``Exited`` and lifecycle events (the tag layer)
        self.emit = emit
        #: epoch seconds: TTLs, grace windows, trait windows, the breaker
        self.clock = clock
        #: the I/O thread (lookups, store writes, timers), started on first use
        self.io = IoLoop()
        self.lock = threading.Lock()
        #: cache entries by canonical id
        self.l1: LRUCache[str, Entry] = new_l1(cfg.max_entries)
        #: alias links (identify, alias, and what other processes linked)
        self.ids = IdentityMap(cfg.alias_max_entries)
        #: identify traits and computed-trait states per visitor
        self.local: LRUCache[str, VisitorState] = LRUCache(maxsize=cfg.visitor_max_entries)
        #: segment membership per visitor (the audience's memory)
        self.members: LRUCache[str, Membership] = LRUCache(maxsize=cfg.segment_memory)
        #: ids erased, with the generation they were erased at (late lookups keep nothing)
        self.forgotten: LRUCache[str, int] = LRUCache(maxsize=10_000)
        self.flights: dict[str, concurrent.futures.Future[Outcome]] = {}
        #: I/O-thread work under way (lookups, refreshes, store writes)
        self.tasks: set[concurrent.futures.Future[Any]] = set()
        #: visitors whose computed traits wait for the next write to the store
        self.dirty: set[str] = set()
        self.flush_scheduled = False
        self.generation = 0  #: bumped by each ``forget``
        self.slot = _slot()  #: this process' field in shared computed-trait blobs
        self.closed = False
        self.hits = Counter()
        self.misses = Counter()
        self.n: dict[str, int] = dict.fromkeys(_COUNTED, 0)
        self.fallbacks: dict[str, int] = {}
        self.settings: Settings  # set by ProfileResolver.configure before any use
        #: whether a source or store was ever configured (only their lookups fill L1)
        self.remote_seen = False

    def count(self, name: str, k: int = 1) -> None:
        """Add ``k`` to the counter ``name`` (under the lock)."""
        with self.lock:
            self.n[name] = self.n.get(name, 0) + k

    def task_done(self, task: concurrent.futures.Future[Any]) -> None:
        """Forget a finished I/O-thread task (its done callback)."""
        with self.lock:
            self.tasks.discard(task)

    def track_task(self, task: concurrent.futures.Future[Any]) -> None:
        """Keep ``task`` until it finishes (``drain`` waits for it)."""
        with self.lock:
            self.tasks.add(task)
        task.add_done_callback(self.task_done)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until no lookup, refresh or store write is under way; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                pending = list(self.tasks)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            concurrent.futures.wait(pending, timeout=remaining)

    def after_fork(self) -> None:
        """In a forked child: the parent's flights and I/O thread do not exist here; the
        caches are still valid. Locks may have been held by a parent thread at fork time."""
        self.lock = threading.Lock()
        self.ids.after_fork()
        self.flights = {}
        self.tasks = set()
        self.dirty = set()
        self.flush_scheduled = False
        self.slot = _slot()


def _slot() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.randbits(32):08x}"
