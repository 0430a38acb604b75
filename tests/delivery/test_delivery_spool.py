"""The SQLite spool: restart delivers spooled events first, dead letters, PII, erasure."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import (
    SinkDestination,
    identity_holds,
    make_delivery,
    message,
    render,
    wait_stats,
)
from servers.sink import Reply, Sink

from persona_sdk.delivery import BatchConfig, DeliveryConfig, SpoolMode
from persona_sdk.delivery._spool import Spool, id_key
from persona_sdk.events import Message, to_segment

MODES = [SpoolMode.GROUP, SpoolMode.SYNC]


def _cfg(path: Path, mode: SpoolMode, **kw: Any) -> DeliveryConfig:
    return DeliveryConfig(spool=mode, spool_path=str(path / "spool.db"), **kw)


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path / "spool.db")) as c:
        return int(c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


@pytest.mark.parametrize("mode", MODES)
def test_restart_delivers_spooled_events_first(sink: Sink, tmp_path: Path,
                                               mode: SpoolMode) -> None:
    """Events left spooled by a closed process are delivered by the next one before its own
    events, with their messageIds unchanged."""
    sink.set_default(Reply(status=503))
    first = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                          _cfg(tmp_path, mode, max_retries=1_000))
    for i in range(30):
        first.enqueue("s", message(i), render)
    assert sink.wait_for(lambda s: len(s.requests) >= 1)
    assert first.close(timeout=0.3) is False
    s = first.stats()["s"]
    assert s["spooled"] == 30
    assert identity_holds(s)
    assert _rows(tmp_path) == 30
    assert first.flush(timeout=30) is False  # closed: answers at once, nothing moves

    sink.clear()
    dest = SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=10, interval=0))
    second = make_delivery({"s": dest}, _cfg(tmp_path, mode, concurrency=1))  # strict order
    for i in range(100, 105):
        second.enqueue("s", message(i), render)
    assert second.flush(5)
    ids = sink.message_ids()
    assert ids[:30] == [f"m-{i}" for i in range(30)]
    assert sorted(ids[30:]) == [f"m-{i}" for i in range(100, 105)]
    s = second.stats()["s"]
    assert (s["restored"], s["tracked"], s["delivered"]) == (30, 35, 35)
    assert identity_holds(s)
    assert second.close()
    assert _rows(tmp_path) == 0


def test_flush_alone_delivers_a_previous_runs_spool(sink: Sink, tmp_path: Path) -> None:
    """A process that tracks nothing still delivers what a previous run spooled on flush()."""
    spool = Spool(str(tmp_path / "spool.db"))
    spool.open()
    from persona_sdk.delivery._outbox import Item
    for i in range(3):
        spool.insert("s", Item(b'{"messageId":"old-%d"}' % i, f"old-{i}", None, "a"))
    spool.close()
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                      _cfg(tmp_path, SpoolMode.GROUP))
    assert d.flush(5)
    assert sink.message_ids() == ["old-0", "old-1", "old-2"]
    d.close()


def test_sync_mode_commits_before_enqueue_returns(sink: Sink, tmp_path: Path) -> None:
    """In ``sync`` mode the row exists as soon as enqueue returns (before any delivery)."""
    sink.set_default(Reply(hang=True))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                      _cfg(tmp_path, SpoolMode.SYNC))
    for i in range(5):
        d.enqueue("s", message(i), render)
        assert _rows(tmp_path) == i + 1
    sink.release()
    assert d.flush(5)
    d.close()


def test_group_mode_commits_within_the_window(sink: Sink, tmp_path: Path) -> None:
    """In ``group`` mode queued events reach the disk without any delivery happening (the
    writer commits every ``group_commit_interval``), and count as spooled once written."""
    sink.set_default(Reply(hang=True))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b", BatchConfig(max_events=5))},
                      _cfg(tmp_path, SpoolMode.GROUP, concurrency=1))
    for i in range(20):
        d.enqueue("s", message(i), render)
    assert wait_stats(d, lambda st: st["s"]["spooled"] == 15 and st["s"]["in_flight"] == 5)
    assert _rows(tmp_path) == 20  # the in-flight batch is written too
    assert identity_holds(d.stats()["s"])
    sink.release()
    assert d.flush(5)
    d.close()


@pytest.mark.parametrize("mode", MODES)
def test_dead_letters_are_kept_in_the_spool(sink: Sink, tmp_path: Path,
                                            mode: SpoolMode) -> None:
    """A rejected batch (HTTP 400) is moved to the dead-letter table with its payload."""
    sink.reply_with(Reply(status=400))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")}, _cfg(tmp_path, mode))
    d.enqueue("s", message(1), render)
    assert d.flush(5) is False
    assert wait_stats(d, lambda st: _dead(tmp_path) == 1)
    d.close()
    with closing(sqlite3.connect(tmp_path / "spool.db")) as c:
        (mid, payload, reason), = c.execute(
            "SELECT message_id, payload, reason FROM dead_letter").fetchall()
    assert (mid, reason) == ("m-1", "rejected")
    assert b'"m-1"' in payload
    assert _rows(tmp_path) == 0


def _dead(path: Path) -> int:
    with closing(sqlite3.connect(path / "spool.db")) as c:
        return int(c.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])


@pytest.mark.parametrize("mode", MODES)
def test_spool_holds_post_transform_payloads(sink: Sink, tmp_path: Path,
                                             mode: SpoolMode) -> None:
    """What is written is the destination's rendered payload: an email the transform hashes
    never reaches the disk in clear."""
    email = "jane.doe.secret@example.com"

    def hashing(msg: Message) -> dict[str, Any]:
        doc = to_segment(msg)
        props = dict(doc["properties"])
        props["email"] = hashlib.sha256(props.pop("email").encode()).hexdigest()
        doc["properties"] = props
        return doc

    sink.set_default(Reply(hang=True))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")}, _cfg(tmp_path, mode))
    for i in range(10):
        m = message(i)
        assert m.properties is not None
        m.properties["email"] = email
        d.enqueue("s", m, hashing)
    assert wait_stats(d, lambda st: st["s"]["spooled"] + st["s"]["in_flight"] == 10)
    assert _rows(tmp_path) == 10
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert email.encode() not in raw
    assert hashlib.sha256(email.encode()).hexdigest().encode() in raw
    sink.release()
    d.close()


@pytest.mark.parametrize("mode", MODES)
def test_forget_purges_spooled_rows(sink: Sink, tmp_path: Path, mode: SpoolMode) -> None:
    """forget() deletes a user's spooled rows (queued or restored) and dead letters."""
    sink.set_default(Reply(status=503))
    first = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                          _cfg(tmp_path, mode, max_retries=1_000))
    for i in range(6):
        first.enqueue("s", message(i, user="u-1" if i < 4 else "u-2"), render)
    assert sink.wait_for(lambda s: len(s.requests) >= 1)
    first.close(timeout=0.2)
    sink.set_default(Reply(hang=True))
    second = make_delivery({"s": SinkDestination("s", f"{sink.url}/b",
                                                 BatchConfig(max_events=1, interval=0))},
                           _cfg(tmp_path, mode, concurrency=1))
    second.enqueue("s", message(50, user="u-1"), render)
    assert sink.wait_for(lambda s: len(s.requests) >= 2)
    purged = second.forget({"u-1"})
    assert purged in (4, 5)  # the in-flight one cannot be recalled
    s = second.stats()["s"]
    assert s["dropped"]["forgotten"] == purged
    assert identity_holds(s)
    with closing(sqlite3.connect(tmp_path / "spool.db")) as c:
        left = {r[0] for r in c.execute("SELECT user_id FROM outbox")}
    assert "u-1" not in left
    assert id_key("u-1") not in left
    sink.release()
    second.close(timeout=1)
