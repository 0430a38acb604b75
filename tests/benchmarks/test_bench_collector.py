"""Collector ingest throughput: one uvicorn worker, 50-event batches over loopback.

The collector runs in a child process (one uvicorn worker, the collector's ASGI app, a Persona
whose single tag routes every event to a destination that discards it, so routing, queueing
and the delivery thread all run in that process). The load generator is this process: a few
keep-alive connections over raw asyncio sockets replaying one prebuilt ``POST /v1/batch``.

Measure with::

    PERSONA_BENCH_SECONDS=10 pytest tests/benchmarks/test_bench_collector.py --benchmark-enable -s

With ``--benchmark-disable`` (the normal suite) it runs for a fraction of a second and only
checks that every batch was accepted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

EVENTS_PER_BATCH = 50
CONNECTIONS = 4
TARGET_EVENTS_PER_SECOND = 50_000

SERVER = r"""
import socket
import sys

import uvicorn

from persona_sdk import Persona
from persona_sdk.delivery import BatchConfig
from persona_sdk.plugins import SendResult
from persona_sdk.web._collector import Collector


class Discard:
    # the cheapest real destination: batches are rendered and encoded, then dropped
    name = "discard"
    batch = BatchConfig(max_events=500, max_bytes=5_000_000, interval=0.05, gzip=False)
    passthrough = True  # transform returns the event as is, as the http destination's does

    def transform(self, event):
        return event

    async def send(self, items, client):
        return SendResult.ok()

    def close(self):
        pass


routed = sys.argv[2] == "routed"
container = {"collector": {"rate_limit_per_second": 0, "write_keys": ["wk_bench"]}}
extra = {}
if routed:
    container["tags"] = [{"name": "all", "destination": "discard"}]
    extra = {"discard": Discard()}
persona = Persona(container, destinations=extra)
collector = Collector(persona)
# socket(fileno=...) detects the family (uvicorn's own --fd assumes AF_UNIX, so asyncio then
# skips TCP_NODELAY and every two-part response stalls on a delayed ACK)
sock = socket.socket(fileno=int(sys.argv[1]))
config = uvicorn.Config(collector.asgi, log_level="warning", access_log=False, lifespan="off")
uvicorn.Server(config).run(sockets=[sock])
"""


def _event(i: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"bench-{i:06d}",
        "anonymousId": f"anon-{i % 997}",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "properties": {"product_id": f"p-{i % 50}", "price": 12.5, "currency": "EUR",
                       "name": "Trail Shoe", "categories": ["shoes", "outdoor"]},
        "context": {
            "page": {"url": "https://shop.example/p/1", "path": "/p/1", "referrer": "",
                     "title": "Trail Shoe"},
            "library": {"name": "persona.js", "version": "0.1.0"},
            "locale": "en-US",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
        },
    }


def _request() -> bytes:
    body = msgspec.json.encode(
        {"batch": [_event(i) for i in range(EVENTS_PER_BATCH)], "writeKey": "wk_bench",
         "sentAt": "2024-05-01T12:00:00.000Z"}
    )
    head = (
        "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    return head + body


async def _connection(port: int, request: bytes, deadline: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if status == 200 and msgspec.json.decode(body)["accepted"] == EVENTS_PER_BATCH:
                counts["ok"] += 1
            else:
                counts["bad"] += 1
    finally:
        writer.close()


def _load(port: int, seconds: float) -> dict[str, float]:
    request = _request()
    counts = {"ok": 0, "bad": 0}

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_connection(port, request, deadline, counts)
                               for _ in range(CONNECTIONS)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return {"ok": counts["ok"], "bad": counts["bad"], "elapsed": elapsed,
            "events_per_second": counts["ok"] * EVENTS_PER_BATCH / elapsed}


@pytest.fixture(params=["ingest_only", "routed"])
def collector_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A collector in its own process (one uvicorn worker) on a loopback port.

    ``ingest_only``: the collector and ``persona.ingest`` (decode, validate, stamp, route) with
    no tag matching; ``routed``: one tag sends every event to a discarding destination, so the
    delivery thread's rendering and encoding share the worker's CPU too.

    The listening socket is made here and handed over, so requests queue in its backlog until
    the worker is ready (nothing to poll for)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(sock.fileno()), request.param],
        pass_fds=[sock.fileno()],
    )
    try:
        yield sock.getsockname()[1]
    finally:
        proc.terminate()
        proc.wait(10)
        sock.close()


def test_collector_ingest_throughput(
    benchmark: Any, collector_port: int, request: pytest.FixtureRequest
) -> None:
    """One uvicorn worker accepts 50-event batches on loopback; every batch is accepted, and
    when measuring (``--benchmark-enable``) collector ingest runs at 50,000 events/s or more.
    The routed figure (delivery in the same process) is recorded, not asserted."""
    default = "10" if not benchmark.disabled else "0.3"
    seconds = float(os.environ.get("PERSONA_BENCH_SECONDS", default))
    _load(collector_port, 0.2)  # warm up: imports, first requests, the delivery thread
    result = benchmark.pedantic(_load, args=(collector_port, seconds), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\ncollector ingest ({request.node.callspec.id}): "
          f"{result['events_per_second']:,.0f} events/s "
          f"({result['ok']} batches of {EVENTS_PER_BATCH} in {result['elapsed']:.2f} s)")
    assert result["bad"] == 0
    assert result["ok"] > 0
    mode = request.node.callspec.params["collector_port"]
    benchmark.extra_info["mode"] = mode
    if not benchmark.disabled and mode == "ingest_only":
        assert result["events_per_second"] >= TARGET_EVENTS_PER_SECOND
