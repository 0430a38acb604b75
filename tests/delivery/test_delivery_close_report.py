"""Closing with events still queued for an unreachable destination says what was lost, per
destination, and how to keep it (issue 11, item 5)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import persona_sdk as ps


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1/batch"


def _container(**delivery: object) -> dict[str, object]:
    return {
        "delivery": {"max_retries": 1_000, "backoff_max": 0.05, **delivery},
        "destinations": {"warehouse": {"type": "http", "options": {"url": _dead_url()},
                                       "batch": {"interval": 0.01}}},
        "tags": [{"name": "all", "destination": "warehouse"}],
    }


def test_close_logs_lost_events_per_destination(caplog) -> None:
    """Without a spool, close() logs an error counting the events lost for each destination,
    with its last error and the way to keep them (the spool)."""
    caplog.set_level(logging.WARNING, logger="persona_sdk")
    persona = ps.Persona(_container())
    for _ in range(40):
        persona.track("E", anonymous_id="a")
    assert persona.close(timeout=0.5) is False
    (line,) = [r for r in caplog.records if "now lost" in r.getMessage()]
    text = line.getMessage()
    assert line.levelno == logging.ERROR
    assert "warehouse: 40" in text
    assert "ConnectError" in text
    assert 'delivery.spool = "group" or "sync"' in text
    stats = persona.stats()["destinations"]["warehouse"]
    assert stats["dropped"]["closed"] == 40


def test_close_with_a_spool_says_where_events_are_kept(caplog, tmp_path: Path) -> None:
    """With the spool on, close() says how many events wait in it for the next start."""
    caplog.set_level(logging.WARNING, logger="persona_sdk")
    persona = ps.Persona(_container(spool="group", spool_path=str(tmp_path / "s.sqlite3")))
    for _ in range(25):
        persona.track("E", anonymous_id="a")
    assert persona.close(timeout=0.5) is False
    assert not [r for r in caplog.records if "now lost" in r.getMessage()]
    (line,) = [r for r in caplog.records if "kept in the spool" in r.getMessage()]
    assert "warehouse: 25" in line.getMessage()


def test_process_exit_without_close_reports_the_loss(tmp_path: Path) -> None:
    """A process that exits without close() (the at-exit drain) prints the loss on stderr,
    even with logging left unconfigured."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        import persona_sdk as ps
        persona = ps.Persona({_container(shutdown_timeout=0.5)!r})
        for _ in range(7):
            persona.track("E", anonymous_id="a")
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=60, check=True)
    assert "now lost (warehouse: 7" in out.stderr


def test_close_right_after_track_keeps_every_event_accounted(caplog, tmp_path: Path) -> None:
    """A batch launched by close()'s flush but cancelled before its send started goes back
    to the queue: in sync mode it stays spooled (reported as kept, not lost), and nothing is
    left counted as in flight."""
    caplog.set_level(logging.WARNING, logger="persona_sdk")
    persona = ps.Persona(_container(spool="sync", spool_path=str(tmp_path / "s.sqlite3")))
    persona.track("E", anonymous_id="a")
    assert persona.close(timeout=0.1) is False
    stats = persona.stats()["destinations"]["warehouse"]
    assert (stats["spooled"], stats["in_flight"], stats["dropped_total"]) == (1, 0, 0)
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
