"""``spool = "sync"``: the spool, not the memory queue, is the buffer (issue 11, item 2).

An id returned by ``track()`` means the event is on disk: with a dead destination and a
memory queue of 10, every returned id survives ``kill -9`` and is delivered after a restart;
when the spool is at ``spool_max_bytes``, ``track()`` raises ``SpoolFullError`` instead of
returning an id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from persona_sdk import Persona, SpoolFullError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers.sink import Reply

CHILD = Path(__file__).parent / "apps" / "sync_buffer_child.py"


def _dead_url() -> str:
    # a port nobody listens on: bound then closed, connections are refused
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1/batch"


def _run_child(spool: Path, n: int, cap: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(spool), _dead_url(), str(n), str(cap)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.strip()
            if line == "done":
                break
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
    return lines


def _deliver(spool: Path, sink) -> dict:
    persona = Persona({
        "delivery": {"spool": "sync", "spool_path": str(spool)},
        "destinations": {"w": {"type": "http", "options": {"url": f"{sink.url}/v1/batch"}}},
        "tags": [{"name": "all", "destination": "w"}],
    })
    try:
        assert persona.flush(30.0)
        return persona.stats()["destinations"]["w"]
    finally:
        persona.close()


def test_every_id_returned_survives_kill_9(sink, tmp_path: Path) -> None:
    """A dead destination, a memory queue of 10 and 200 tracks: all 200 ids are returned
    (the rows beyond the memory queue wait on disk), and after kill -9 and a restart every
    one of them is delivered."""
    spool = tmp_path / "spool.sqlite3"
    lines = _run_child(spool, 200, 1 << 30)
    ids = [line[3:] for line in lines if line.startswith("id ")]
    assert len(ids) == 200
    stats = _deliver(spool, sink)
    assert set(ids) <= set(sink.message_ids())
    assert stats["dropped_total"] == 0


def test_a_full_spool_raises_instead_of_returning_an_id(sink, tmp_path: Path) -> None:
    """With a small ``spool_max_bytes``, ``track()`` raises ``SpoolFullError`` once the spool
    is full; every id it did return is delivered after kill -9 and a restart."""
    spool = tmp_path / "spool.sqlite3"
    lines = _run_child(spool, 2_000, 200_000)
    ids = [line[3:] for line in lines if line.startswith("id ")]
    assert "full" in lines
    assert 10 < len(ids) < 2_000
    _deliver(spool, sink)
    assert set(ids) <= set(sink.message_ids())


def test_memory_queue_full_then_recovery_delivers_in_process(sink, tmp_path: Path) -> None:
    """In one process: events written while the memory queue is full wait on disk, are
    counted as spooled (the stats identity holds), and are all delivered once the
    destination answers again."""
    sink.set_default(Reply(status=503))
    persona = Persona({
        "delivery": {"spool": "sync", "spool_path": str(tmp_path / "s.sqlite3"),
                     "max_queue_events": 10, "max_retries": 1_000, "backoff_max": 0.02},
        "destinations": {"w": {"type": "http", "options": {"url": f"{sink.url}/v1/batch"},
                               "batch": {"max_events": 5, "interval": 0.01}}},
        "tags": [{"name": "all", "destination": "w"}],
    })
    try:
        ids = [persona.track("E", anonymous_id="a", properties={"i": i}) for i in range(100)]
        s = persona.stats()["destinations"]["w"]
        assert s["tracked"] == 100
        assert s["spooled"] >= 90
        assert s["dropped_total"] == 0
        assert s["tracked"] == (s["delivered"] + s["queued"] + s["spooled"] + s["in_flight"]
                                + s["dropped_total"] + s["rejected_total"] + s["dead_lettered"])
        sink.set_default(Reply())
        assert persona.flush(30.0)
        assert set(ids) <= set(sink.message_ids())
        s = persona.stats()["destinations"]["w"]
        assert (s["delivered"], s["spooled"], s["queued"]) == (100, 0, 0)
    finally:
        persona.close()


def test_spool_full_error_is_in_the_error_tree() -> None:
    """``SpoolFullError`` is a ``SpoolError``, a ``PersonaError`` and an ``OSError``."""
    from persona_sdk import PersonaError, SpoolError

    assert issubclass(SpoolFullError, SpoolError)
    assert issubclass(SpoolError, PersonaError)
    assert issubclass(SpoolError, OSError)
    with pytest.raises(PersonaError):
        raise SpoolFullError("full")


def test_collector_answers_503_when_the_sync_spool_is_full(tmp_path: Path) -> None:
    """Through the collector, a full sync spool is a 503 with Retry-After (the client keeps
    and retries its events), never a 200 for events that were not stored, nor a 500."""
    from persona_sdk.web import Collector, RequestHead

    persona = Persona({
        "delivery": {"spool": "sync", "spool_path": str(tmp_path / "s.sqlite3"),
                     "max_queue_events": 10, "spool_max_bytes": 100_000},
        "destinations": {"w": {"type": "http", "options": {"url": _dead_url()}}},
        "tags": [{"name": "all", "destination": "w"}],
    })
    collector = Collector(persona)
    body = b'{"type": "track", "event": "E", "userId": "u", "properties": {"pad": "%s"}}' % (
        b"x" * 2000)
    statuses = []
    try:
        for _ in range(200):
            r = collector.handle(RequestHead("POST", "/v1/track", headers={
                "content-type": "application/json"}, client="203.0.113.7"), body)
            statuses.append(r.status)
            if r.status != 200:
                break
    finally:
        persona.close(timeout=0.1)
    assert statuses[0] == 200
    assert statuses[-1] == 503
    assert r.json()["code"] == "unavailable"
    assert r.header("retry-after") == "30"
