"""What the spool and the JSONL destination leave on disk (issue #12)."""

from __future__ import annotations

import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from delivery_helpers import SinkDestination, make_delivery, message, wait_stats
from servers.sink import Reply, Sink

from persona_sdk import Container, Persona
from persona_sdk.delivery import DeliveryConfig, SpoolMode
from persona_sdk.delivery._spool import id_key
from persona_sdk.events import Message, to_segment

USER = "user.secret-4471@example.org"
ANON = "anon-secret-9932"


def _raw(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


def _rows_of(db: Path, user_id: str) -> int:
    # closing(): a sqlite3 connection's own context manager commits but never closes
    with closing(sqlite3.connect(db)) as c:
        query = "SELECT COUNT(*) FROM outbox WHERE user_id = ?"
        return int(c.execute(query, (id_key(user_id),)).fetchone()[0])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_user_id_configured_as_pii_is_not_stored_raw(sink: Sink, tmp_path: Path) -> None:
    """With ``userId`` configured as PII, the spooled payload carries it hashed and the
    spool's id columns store digests: neither the user id nor the anonymous id is anywhere in
    the spool's files."""
    sink.set_default(Reply(hang=True))
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    container = Container.from_dict({
        "pii": {"fields": {"userId": "external_id", "anonymousId": "external_id"}},
        "delivery": {"spool": "sync", "spool_path": str(spool_dir / "spool.db")},
        "destinations": {"seg": {"type": "http", "options": {"url": f"{sink.url}/b",
                                                              "gzip": False}}},
        "tags": [{"name": "seg", "destination": "seg"}],
    })  # fmt: skip
    persona = Persona(container)
    try:
        for i in range(3):
            persona.track("Clicked", user_id=USER, anonymous_id=ANON, properties={"n": i},
                          timestamp=time.time())  # fmt: skip
        raw = _raw(spool_dir)
        assert raw
        assert USER.encode() not in raw
        assert ANON.encode() not in raw
        # and forget() still finds the rows by the id
        assert _rows_of(spool_dir / "spool.db", USER) == 3
        persona.forget(user_id=USER)
        assert _rows_of(spool_dir / "spool.db", USER) == 0
    finally:
        sink.release()
        persona.close(timeout=1.0)


def test_spool_and_jsonl_files_are_owner_only(sink: Sink, tmp_path: Path) -> None:
    """The spool database, its WAL and shared-memory files are created 0600 and a directory
    the spool creates 0700; the JSONL destination's file is 0600 in a 0700 directory."""
    sink.set_default(Reply(hang=True))
    spool_dir = tmp_path / "new" / "spool"
    lake_dir = tmp_path / "lake"
    container = Container.from_dict({
        "delivery": {"spool": "sync", "spool_path": str(spool_dir / "spool.db")},
        "destinations": {
            "seg": {"type": "http", "options": {"url": f"{sink.url}/b"}},
            "lake": {"type": "jsonl", "options": {"path": str(lake_dir / "events.jsonl")}},
        },
        "tags": [{"name": "seg", "destination": "seg"}, {"name": "lake", "destination": "lake"}],
    })  # fmt: skip
    persona = Persona(container)
    try:
        persona.track("Clicked", anonymous_id="a", timestamp=time.time())
        assert persona.flush(timeout=0.5) is False  # the sink holds the http batch
        assert (lake_dir / "events.jsonl").exists()
        assert _mode(spool_dir) == 0o700
        files = sorted(spool_dir.iterdir())
        assert {p.name for p in files} >= {"spool.db", "spool.db-wal", "spool.db-shm"}
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        assert _mode(lake_dir) == 0o700
        assert _mode(lake_dir / "events.jsonl") == 0o600
    finally:
        sink.release()
        persona.close(timeout=1.0)


def test_forgotten_rows_are_gone_from_the_files(sink: Sink, tmp_path: Path) -> None:
    """After ``forget()``, the erased events cannot be read back from the SQLite files (the
    deleted content is overwritten and the WAL checkpointed), while other users' rows stay."""
    sink.set_default(Reply(hang=True))

    def render(msg: Message) -> dict[str, Any]:
        return to_segment(msg)

    cfg = DeliveryConfig(spool=SpoolMode.SYNC, spool_path=str(tmp_path / "spool.db"))
    d = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")}, cfg)
    try:
        for i in range(40):
            m = message(user="u-1" if i % 2 else "u-2")
            assert m.properties is not None
            m.properties["note"] = ("ERASE-ME-" if i % 2 else "KEEP-ME-") + f"{i:04d}"
            d.enqueue("s", m, render)
        assert wait_stats(d, lambda st: st["s"]["tracked"] == 40)
        assert b"ERASE-ME-" in _raw(tmp_path)
        d.forget({"u-1"})
        raw = _raw(tmp_path)
        assert b"ERASE-ME-" not in raw
        assert b"KEEP-ME-" in raw
    finally:
        sink.release()
        d.close(timeout=1.0)
