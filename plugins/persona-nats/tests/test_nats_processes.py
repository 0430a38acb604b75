"""The proof with real processes: the first-party collector on 2 gunicorn worker processes
publishes straight to JetStream; 2 ``persona worker --from nats://...`` processes deliver to a
loopback sink; one worker is killed with ``kill -9`` mid-stream; every messageId reaches the
sink, duplicates counted."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from nats_servers import NatsServer
from servers.sink import Sink

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def env() -> dict[str, str]:
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), full.get("PYTHONPATH", "")) if p)
    return full


def collector_url(proc: subprocess.Popen[bytes]) -> tuple[str, threading.Thread]:
    """The URL gunicorn listens at, once both workers booted (read from its log), and the
    thread that keeps draining the log."""
    assert proc.stderr is not None
    port, booted = None, 0
    for raw in proc.stderr:
        line = raw.decode(errors="replace")
        if m := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        booted += "Booting worker" in line
        if port is not None and booted == 2:
            drain = threading.Thread(target=proc.stderr.read, daemon=True)
            drain.start()
            return f"http://127.0.0.1:{port}", drain
    raise AssertionError("gunicorn did not boot")


@pytest.mark.slow
def test_two_collectors_two_workers_one_killed(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    """4,000 events POSTed to the collector (2 gunicorn worker processes) all reach the sink
    through 2 workers, one of them SIGKILLed after the sink has seen some events; what the
    killed worker held unacknowledged is redelivered (after ack_wait) and shows up as counted
    duplicates."""
    container = tmp_path / "worker.json"
    container.write_text(json.dumps({
        "destinations": {"sink": {"type": "http",
                                  "options": {"url": f"{sink.url}/v1/batch"},
                                  "batch": {"interval": 0.05}}},
        "tags": [{"name": "all", "destination": "sink"}],
    }))
    source = f"{nats_server.url}/PERSONA?durable=workers&ack_wait=2"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "persona_sdk.cli", "worker", "--from", source,
             str(container)],
            env=env(), stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    collectors = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", "127.0.0.1:0",
         "--graceful-timeout", "20", "apps.collector_app:app"],
        env={**env(), "NATS_URL": nats_server.url}, cwd=str(HERE), stderr=subprocess.PIPE,
    )
    ids = [f"m-{i:05d}" for i in range(4000)]
    try:
        url, drain = collector_url(collectors)
        with httpx.Client(timeout=30.0) as client:
            for start in range(0, 4000, 100):
                batch = [{"type": "track", "event": "Page Event", "anonymousId": f"a-{i % 50}",
                          "messageId": ids[i]} for i in range(start, start + 100)]
                r = client.post(f"{url}/v1/batch", json={"batch": batch},
                                headers={"Connection": "close"})
                assert r.status_code == 200, r.text
                if start == 1000:
                    assert sink.wait_for(lambda s: len(s.message_ids()) >= 300, timeout=60)
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(10)
        # an orderly stop: each collector process publishes what it still holds, then exits
        collectors.send_signal(signal.SIGTERM)
        collectors.wait(60)
        drain.join(10)
        assert collectors.returncode == 0
        assert sink.wait_for(lambda s: set(ids) <= set(s.message_ids()), timeout=90), (
            len(set(ids) - set(sink.message_ids())))
    finally:
        if collectors.poll() is None:
            collectors.kill()
            collectors.wait(10)
        assert collectors.stderr is not None
        collectors.stderr.close()
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
            assert w.stderr is not None
            w.stderr.close()
    counts = collections.Counter(sink.message_ids())
    duplicates = sum(counts.values()) - len(counts)
    assert set(counts) == set(ids)
    print(f"delivered {len(counts)} messageIds, {duplicates} duplicates (redelivered)")
    assert workers[1].returncode == 0
