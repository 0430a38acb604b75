"""The proof with real processes: collectors on 2 processes publish to JetStream; 2
``persona worker --from nats://...`` processes deliver to a loopback sink; one worker is
killed with ``kill -9`` mid-stream; every messageId reaches the sink, duplicates counted."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow
def test_two_collectors_two_workers_one_killed(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    """4,000 events from 2 collector processes all reach the sink through 2 workers, one of
    them SIGKILLed after the sink has seen some events; what the killed worker held
    unacknowledged is redelivered (after ack_wait) and shows up as counted duplicates."""
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
    try:
        collectors = [
            subprocess.Popen(
                [sys.executable, str(HERE / "apps" / "collector.py"), nats_server.url,
                 "2000", f"c{i}"],
                env=env(), stdout=subprocess.PIPE,
            )
            for i in range(2)
        ]
        assert sink.wait_for(lambda s: len(s.message_ids()) >= 300, timeout=60)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        ids: list[str] = []
        for c in collectors:
            out, _ = c.communicate(timeout=120)
            report = json.loads(out)
            assert report["flushed"] is True
            ids.extend(report["ids"])
        assert len(set(ids)) == 4000
        assert sink.wait_for(lambda s: set(ids) <= set(s.message_ids()), timeout=60), (
            len(set(ids) - set(sink.message_ids())))
    finally:
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
