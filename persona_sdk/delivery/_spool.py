"""The durable outbox: one SQLite file in WAL mode, shared by every process that uses it.

A row holds what will be sent (the destination's encoded, post-transform payload, so unhashed
PII never reaches the disk for a hashing destination), the destination name, the message id
and the user/anonymous ids (for ``forget``), stored as SHA-256 digests (:func:`id_key`), never
in clear. The file (and a directory the spool creates) is owner-only (0600 / 0700); SQLite
gives its ``-wal`` and ``-shm`` files the same mode. ``forget`` overwrites what it deletes
(``secure_delete``) and checkpoints the WAL, so erased rows cannot be read back from the files.

Ownership across processes: each process that opens the spool registers an *owner* token
(pid, process start time, random suffix) and writes its rows with that token. At open, a
process takes over the rows of owners that are gone (the pid is dead, or alive but started at
another time, or the owner released them on an orderly close) and delivers them first. A forked
child registers its own token, so it never sends rows its (living) parent spooled.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence

from ._outbox import Item

__all__ = ["Spool", "id_key", "id_keys"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    message_id TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    payload BLOB NOT NULL,
    owner TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner, dest, id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    message_id TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    status INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (
    token TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL
);
"""

#: Connections a forked child inherited: never used nor closed there (SQLite forbids both),
#: only kept referenced so that garbage collection does not finalize them.
_INHERITED: list[sqlite3.Connection] = []


def id_key(value: str | None) -> str | None:
    """How a user or anonymous id is stored in the spool: its SHA-256 hex digest (``forget``
    looks rows up by it; the id itself, possibly personal data, never reaches the disk)."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def id_keys(ids: Iterable[str]) -> frozenset[str]:
    """``ids`` and their stored forms: what ``forget`` matches (rows restored from the spool
    carry the stored form; rows of older versions the id itself)."""
    ids = frozenset(ids)
    return ids | {k for k in map(id_key, ids) if k is not None}


def _private_file(path: str) -> None:
    # Create the spool file (and a missing directory) owner-only before SQLite opens it:
    # it holds personal data. An existing file keeps the mode its operator gave it.
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _started(pid: int) -> str:
    # Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. It tells a pid that
    # was reused (common in containers, where pids repeat after every restart) from the owner.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 :].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return ""


def _alive(pid: int, started: str) -> bool:
    if pid == os.getpid():
        return False  # our pid under another token: a previous incarnation of this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    return not started or _started(pid) in ("", started)


class Spool:
    """Durable rows in ``path``; every method is thread-safe (one connection under a lock)."""

    def __init__(self, path: str, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.lock = threading.Lock()
        self._held = False  # the lock is held across a fork (see hold_for_fork)
        self._conn: sqlite3.Connection | None = None
        self.owner = ""
        self.restore_max = 0

    def open(self) -> None:
        """Open (idempotent): create the schema, register as an owner, take orphaned rows."""
        with self.lock:
            if self._conn is not None:
                return
            _private_file(self.path)
            conn = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten
            conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
            conn.executescript(_SCHEMA)
            pid = os.getpid()
            self.owner = f"{pid}-{secrets.randbits(48):012x}"
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = [
                    token for token, opid, started in conn.execute(
                        "SELECT token, pid, started FROM owners"
                    ) if not _alive(opid, started)
                ]
                conn.executemany("DELETE FROM owners WHERE token = ?", [(t,) for t in gone])
                conn.execute(
                    "INSERT INTO owners (token, pid, started) VALUES (?, ?, ?)",
                    (self.owner, pid, _started(pid)),
                )
                conn.execute(
                    "UPDATE outbox SET owner = ? WHERE owner NOT IN (SELECT token FROM owners)",
                    (self.owner,),
                )
                row = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM outbox WHERE owner = ?", (self.owner,)
                ).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                conn.close()
                raise
            self.restore_max = int(row[0])
            self._conn = conn

    @property
    def is_open(self) -> bool:
        """Whether ``open`` has run in this process."""
        return self._conn is not None

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("spool is not open")
        return self._conn

    # -- writing ----------------------------------------------------------------------------

    def insert(self, dest: str, item: Item) -> int:
        """Write one row and commit (``sync`` mode); returns its id."""
        with self.lock:
            cur = self._c().execute(
                "INSERT INTO outbox (dest, message_id, user_id, anonymous_id, payload, owner,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (dest, item.mid, id_key(item.uid), id_key(item.aid), item.data, self.owner,
                 time.time()),
            )
            return int(cur.lastrowid or 0)

    def write(
        self,
        inserts: Sequence[tuple[str, Item]],
        deletes: Iterable[int],
        dead: Sequence[tuple[str, Item, str, int | None]],
    ) -> None:
        """One transaction: insert rows (setting ``item.rowid``), delete delivered rows and
        move dead-lettered events into ``dead_letter``."""
        rows = [(rowid,) for rowid in deletes]
        if not inserts and not rows and not dead:
            return
        now = time.time()
        with self.lock:
            conn = self._c()
            conn.execute("BEGIN")
            try:
                for dest, item in inserts:
                    cur = conn.execute(
                        "INSERT INTO outbox (dest, message_id, user_id, anonymous_id, payload,"
                        " owner, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (dest, item.mid, id_key(item.uid), id_key(item.aid), item.data,
                         self.owner, now),
                    )
                    item.rowid = int(cur.lastrowid or 0)
                conn.executemany("DELETE FROM outbox WHERE id = ?", rows)
                conn.executemany(
                    "INSERT INTO dead_letter (dest, message_id, user_id, anonymous_id, payload,"
                    " reason, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(d, i.mid, id_key(i.uid), id_key(i.aid), i.data, r, s, now)
                     for d, i, r, s in dead],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                for _, item in inserts:
                    item.rowid = None
                raise

    # -- reading ----------------------------------------------------------------------------

    def restored_counts(self) -> dict[str, int]:
        """Rows taken over at open, per destination."""
        with self.lock:
            return {
                dest: int(n)
                for dest, n in self._c().execute(
                    "SELECT dest, COUNT(*) FROM outbox WHERE owner = ? AND id <= ? GROUP BY dest",
                    (self.owner, self.restore_max),
                )
            }

    def load(self, dest: str, after: int, limit: int) -> list[Item]:
        """The next ``limit`` taken-over rows of ``dest`` with an id above ``after``."""
        with self.lock:
            rows = self._c().execute(
                "SELECT id, message_id, user_id, anonymous_id, payload FROM outbox"
                " WHERE owner = ? AND dest = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
                (self.owner, dest, after, self.restore_max, limit),
            ).fetchall()
        return [Item(bytes(p), mid, uid, aid, rowid) for rowid, mid, uid, aid, p in rows]

    def dead_letters(self, dest: str | None = None) -> list[tuple[str, str, bytes, str]]:
        """``(dest, message_id, payload, reason)`` of dead-lettered events, oldest first."""
        with self.lock:
            sql = "SELECT dest, message_id, payload, reason FROM dead_letter"
            args: tuple[str, ...] = ()
            if dest is not None:
                sql, args = sql + " WHERE dest = ?", (dest,)
            return [(d, m, bytes(p), r) for d, m, p, r in self._c().execute(sql + " ORDER BY id",
                                                                             args)]

    def forget(self, ids: Sequence[str]) -> list[tuple[str, int]]:
        """Delete every row (queued or dead-lettered, any owner) of these user/anonymous ids.

        Returns ``(dest, id)`` of the deleted rows this process had taken over at open. The
        deleted content is overwritten and the WAL checkpointed, so it is gone from the files
        (unless another process holds a read transaction open at that moment).
        """
        if not ids:
            return []
        ids = sorted(id_keys(ids))
        marks = ",".join("?" * len(ids))
        where = f"(user_id IN ({marks}) OR anonymous_id IN ({marks}))"
        with self.lock:
            conn = self._c()
            conn.execute("BEGIN IMMEDIATE")
            try:
                mine = conn.execute(
                    f"SELECT dest, id FROM outbox WHERE {where} AND owner = ? AND id <= ?",
                    (*ids, *ids, self.owner, self.restore_max),
                ).fetchall()
                conn.execute(f"DELETE FROM outbox WHERE {where}", (*ids, *ids))
                conn.execute(f"DELETE FROM dead_letter WHERE {where}", (*ids, *ids))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            # the WAL still holds the pages as they were before: copy the overwritten pages
            # into the database file and empty the WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [(d, int(i)) for d, i in mine]

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Release ownership (a later process takes the remaining rows over) and close."""
        with self.lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.execute("DELETE FROM owners WHERE token = ?", (self.owner,))
            finally:
                conn.close()

    def hold_for_fork(self, timeout: float = 10.0) -> None:
        """Before a fork: wait until no thread is inside SQLite through this spool and keep
        it so until :meth:`release_after_fork` (in the parent) or :meth:`abandon` (in the
        child). In ``sync`` mode caller threads write the spool themselves; a child forked
        while one of them is mid-statement inherits SQLite's mutexes held forever, and its
        own first ``open`` hangs. Bounded: a writer stuck longer than ``timeout`` (a locked
        database) does not stall the fork for good."""
        self._held = self.lock.acquire(timeout=timeout)

    def release_after_fork(self) -> None:
        """After a fork, in the parent: writers may go on."""
        if self._held:
            self._held = False
            self.lock.release()

    def abandon(self) -> None:
        """In a forked child: forget the parent's connection without touching it (SQLite
        forbids using or closing it across a fork); the next write opens a fresh one."""
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None
        self._held = False
        self.lock = threading.Lock()
        self.owner = ""
        self.restore_max = 0
