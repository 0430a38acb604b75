"""Forking while caller threads write the ``sync`` spool never leaves a child hung (#12)."""

from __future__ import annotations

import os
import select
import signal
import threading
import warnings
from pathlib import Path

import pytest
from delivery_helpers import SinkDestination, make_delivery, message, render
from servers.sink import Sink

from persona_sdk.delivery import BatchConfig, DeliveryConfig, SpoolMode

CHILDREN = 25
WRITERS = 6
CHILD_DEADLINE = 20.0  # seconds one child may take to write, flush and exit (it needs ~0.1)


def _fork() -> int:
    with warnings.catch_warnings():  # 3.12+ warns about forking a multi-threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _wait_exit(pid: int, timeout: float) -> int | None:
    """The child's exit code, or ``None`` (after killing it) if it did not exit in time."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs os.pidfd_open (Linux)")
def test_fork_with_many_sync_spool_writers(sink: Sink, tmp_path: Path) -> None:
    """With 6 threads tracking in ``sync`` spool mode (each writes SQLite itself), the main
    thread forks 25 times; every child opens the spool, writes its own event and exits at
    once (the fork hooks hold the spool lock across the fork, so no child inherits SQLite
    mid-statement), and the parent's writers carry on."""
    cfg = DeliveryConfig(spool=SpoolMode.SYNC, spool_path=str(tmp_path / "spool.db"))
    routes = {"s": SinkDestination("s", f"{sink.url}/s", BatchConfig(max_events=50))}
    d = make_delivery(routes, cfg)
    d.enqueue("s", message(), render)  # opens the spool and starts the delivery thread
    stop = threading.Event()
    written = [0] * WRITERS

    def writer(k: int) -> None:
        while not stop.is_set():
            d.enqueue("s", message(), render)
            written[k] += 1

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(WRITERS)]
    for t in threads:
        t.start()
    codes: list[int | None] = []
    try:
        for _ in range(CHILDREN):
            pid = _fork()
            if pid == 0:  # pragma: no cover - the child reports through its exit status
                code = 1
                try:
                    d.enqueue("s", message(), render)
                    code = 0 if d.stats()["s"]["tracked"] == 1 else 2
                finally:
                    os._exit(code)
            codes.append(_wait_exit(pid, CHILD_DEADLINE))
    finally:
        stop.set()
        for t in threads:
            t.join(10.0)
    assert codes == [0] * CHILDREN
    assert all(n > 0 for n in written)
    assert d.flush(10.0)
    d.close()
