"""Processes: kill -9 with the sync spool, os.fork, gunicorn --preload with two workers."""

from __future__ import annotations

import collections
import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from delivery_helpers import (
    SinkDestination,
    identity_holds,
    make_delivery,
    message,
    render,
    wait_stats,
)
from servers.sink import Reply, Request, Sink

from persona_sdk.delivery import BatchConfig, DeliveryConfig, SpoolMode

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


@pytest.mark.slow
def test_sync_spool_survives_kill_9(sink: Sink, tmp_path: Path) -> None:
    """A process tracking with spool="sync" is SIGKILLed at random points (while the sink
    fails every other request); after a restart every acknowledged messageId reaches the
    sink. Duplicates are allowed (at-least-once) and counted."""
    rng = random.Random(20240611)
    flaky = iter(range(1 << 30))

    def responder(req: Request) -> Reply | None:
        return Reply(status=503) if next(flaky) % 2 else None

    sink.responder = responder
    spool = str(tmp_path / "spool.db")
    acked: list[str] = []
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, str(APPS / "spool_child.py"), spool, f"{sink.url}/b",
             str(round_ * 1_000_000)],
            stdout=subprocess.PIPE, env=_env(),
        )
        assert child.stdout is not None
        kill_after = rng.randint(1, 600)
        for _ in range(kill_after):
            line = child.stdout.readline()
            if not line:
                break
            acked.append(line.decode().strip())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        acked.extend(line.decode().strip() for line in child.stdout if line.strip())
        child.stdout.close()
    assert len(acked) >= 3
    sink.responder = None
    restart = make_delivery({"s": SinkDestination("s", f"{sink.url}/b")},
                            DeliveryConfig(spool=SpoolMode.SYNC, spool_path=spool))
    assert restart.flush(10)
    received = collections.Counter(sink.message_ids())
    missing = [mid for mid in acked if mid not in received]
    assert missing == []
    duplicates = sum(n - 1 for n in received.values())
    print(f"acknowledged={len(acked)} received={sum(received.values())} "
          f"duplicates={duplicates}")
    assert identity_holds(restart.stats()["s"])
    restart.close()


@pytest.mark.slow
@pytest.mark.parametrize("spool", ["off", "sync"])
def test_forked_child_delivers_only_its_own_events(
    sink: Sink, tmp_path: Path, spool: str
) -> None:
    """After os.fork the child starts empty with its own thread: it delivers exactly its own
    events (never the parent's queued or spooled ones), and the parent delivers its own."""
    sink.set_default(Reply(hang=True), path="/parent")
    cfg = DeliveryConfig(spool=SpoolMode(spool), spool_path=str(tmp_path / "spool.db"))
    routes = {"s": SinkDestination("s", f"{sink.url}/parent", BatchConfig(max_events=5)),
              "c": SinkDestination("c", f"{sink.url}/child", BatchConfig(max_events=5))}
    d = make_delivery(routes, cfg)
    for i in range(10):
        d.enqueue("s", message(i), render)
    assert sink.wait_for(lambda s: len(s.requests) >= 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            stats = d.stats()
            assert all(st["tracked"] == 0 for st in stats.values()), stats
            for i in range(100, 105):
                d.enqueue("c", message(i), render)
            assert d.flush(5)
            st = d.stats()
            assert st["c"]["delivered"] == 5, st
            assert st["s"]["tracked"] == 0, st
            assert d.close(2)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.release()
    assert d.flush(5)
    ids = collections.Counter(sink.message_ids())
    assert ids == collections.Counter([f"m-{i}" for i in range(10)]
                                      + [f"m-{i}" for i in range(100, 105)])
    assert wait_stats(d, lambda st: st["s"]["delivered"] == 10 and st["c"]["tracked"] == 0)
    d.close()


@pytest.mark.slow
def test_gunicorn_preload_two_workers(sink: Sink) -> None:
    """A real gunicorn --preload with 2 workers: events tracked by the master at import and
    by both workers all arrive, and none is sent twice."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", "127.0.0.1:0",
         "--chdir", str(APPS), "--graceful-timeout", "5", "wsgi_app:app"],
        stderr=subprocess.PIPE, env=_env(SINK_URL=f"{sink.url}/b"),
    )
    booted = threading.Event()
    port: list[int] = []
    log: list[str] = []

    def read_log() -> None:
        assert proc.stderr is not None
        workers = 0
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            log.append(line)
            if m := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line):
                port.append(int(m.group(1)))
            if "Booting worker" in line:
                workers += 1
                if workers == 2:
                    booted.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        assert booted.wait(20), "".join(log)
        ids = [f"req-{i}" for i in range(40)]
        pids = set()
        with httpx.Client() as client:
            for mid in ids:
                r = client.get(f"http://127.0.0.1:{port[0]}/?{mid}",
                               headers={"Connection": "close"})
                pids.add(r.text)
        expected = {*ids, "preload-0", "preload-1", "preload-2"}
        assert sink.wait_for(lambda s: expected <= set(s.message_ids()), timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        reader.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
    counts = collections.Counter(sink.message_ids())
    assert set(counts) == expected
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]
    assert str(proc.pid) not in pids
