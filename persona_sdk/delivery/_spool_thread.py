"""The delivery thread's side of the spool: group commits, restored rows, erasure."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING

from ._outbox import DONE, IN_FLIGHT, Item, Outbox, bump
from ._spool import id_keys

if TYPE_CHECKING:
    from ._state import Thread

__all__ = ["commit", "committer", "forget", "refill", "refill_disk"]

log = logging.getLogger("persona_sdk.delivery")


def refill(w: Thread, box: Outbox) -> None:
    """Load the next batch of restored rows to the front of the queue (delivered first)."""
    spool = w.state.spool
    if spool is None or not spool.is_open:
        return
    try:
        items = spool.load(box.name, box.cursor, box.batch.max_events)
    except sqlite3.Error:
        log.exception("persona-sdk spool read failed")
        return
    with box.lock:
        if not items:  # the rows are gone (forgotten by another process)
            bump(box.dropped, "forgotten", box.backlog)
            box.backlog = 0
            return
        box.cursor = items[-1].rowid or box.cursor
        if not box.pending:
            box.first_at = w.loop.time()
        for it in reversed(items):
            it.restored = True
            box.pending.appendleft(it)
        k = len(items)
        box.backlog -= k
        box.pending_spooled += k
        box.front_restored += k
        box.held += k
        box.held_bytes += sum(len(it.data) for it in items)
        box.room()


def refill_disk(w: Thread, box: Outbox) -> None:
    """``sync`` mode: load rows that wait on disk only (written while the memory queue was
    full) to the back of the queue, as far as it has room. Runs under the outbox lock, as
    the writers do, so the count of such rows stays exact."""
    spool = w.state.spool
    if spool is None or not spool.is_open:
        return
    with box.lock:
        room = box.max_events - box.held - len(box.inbox)
        if room <= 0 or not box.disk_only:
            return
        limit = min(room, box.batch.max_events, box.disk_only)
        try:
            items = spool.load_after(box.name, box.disk_after, limit)
        except sqlite3.Error:
            log.exception("persona-sdk spool read failed")
            return
        if len(items) < limit:  # the others are gone (forgotten, by us or another process)
            bump(box.dropped, "forgotten", box.disk_only - len(items))
            box.disk_only = len(items)
        if not items:
            return
        box.disk_after = items[-1].rowid or box.disk_after
        box.disk_only -= len(items)
        if not box.disk_only:  # back to memory: later rows are queued as they are written
            box.last_rowid = box.disk_after
        w.add(box, items, len(items))


async def committer(w: Thread) -> None:
    """Commit whenever there is something to write, at most every ``group_commit_interval``
    (and at least that often while events wait, in ``group`` mode)."""
    assert w.commit_event is not None
    interval = w.state.settings.group_commit_interval
    while True:
        await w.commit_event.wait()
        while True:
            w.commit_event.clear()
            commit(w)
            await asyncio.sleep(interval)
            quiet = w.state.sync or all(b.idle() for b in w.pumps)
            if quiet and not (w.deletes or w.dead or w.commit_event.is_set()):
                break


def commit(w: Thread) -> None:
    """Write what is waiting (group mode: drain every inbox first, bounding the loss
    window), delete delivered rows, store dead letters: one transaction."""
    spool = w.state.spool
    if spool is None or not spool.is_open:
        return
    inserts: list[tuple[str, Item]] = []
    boxes = list(w.pumps)
    if w.state.group:
        for box in boxes:
            w.drain(box)
            inserts.extend((box.name, it) for it in box.uncommitted if it.state != DONE)
            box.uncommitted = []
    deletes, w.deletes = w.deletes, []
    dead, w.dead = w.dead, []
    for box in boxes:
        if box.orphan_rows:
            with box.lock:
                deletes.extend(box.orphan_rows)
                box.orphan_rows = []
    try:
        spool.write(inserts, deletes, dead)
    except sqlite3.Error:
        log.exception("persona-sdk spool write failed; will retry")
        w.deletes.extend(deletes)
        w.dead.extend(dead)
        by_name = {b.name: b for b in boxes}
        for name, it in inserts:
            by_name[name].uncommitted.append(it)
        return
    counted: dict[str, int] = {}
    for name, it in inserts:
        if it.state != IN_FLIGHT:  # still pending: it moves from queued to spooled
            counted[name] = counted.get(name, 0) + 1
    for box in boxes:
        k = counted.get(box.name)
        if k:
            with box.lock:
                box.pending_spooled += k
    w.state.notify()


def forget(w: Thread, ids: frozenset[str]) -> int:
    """Purge queued and spooled events of these ids (runs on the loop)."""
    purged = 0
    ids = id_keys(ids)  # events restored from the spool carry the ids' stored form
    for box in w.state.boxes():
        w.drain(box)
        with box.lock:
            keep = [it for it in box.pending if it.uid not in ids and it.aid not in ids]
            gone = [it for it in box.pending if it.uid in ids or it.aid in ids]
            if not gone:
                continue
            box.pending.clear()
            box.pending.extend(keep)
            for it in gone:
                it.state = DONE
                box.held -= 1
                box.held_bytes -= len(it.data)
                if it.rowid is not None:
                    box.pending_spooled -= 1
                if it.restored:
                    box.front_restored -= 1
            box.room()
            bump(box.dropped, "forgotten", len(gone))
            purged += len(gone)
    spool = w.state.spool
    if spool is not None and spool.is_open and ids:
        for dest, rowid in spool.forget(sorted(ids)):
            owner = w.state.outboxes.get(dest)
            if owner is not None and rowid > owner.cursor and owner.backlog:
                with owner.lock:
                    owner.backlog -= 1
                    bump(owner.dropped, "forgotten")
                purged += 1
    return purged
