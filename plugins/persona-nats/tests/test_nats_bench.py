"""Publishing to JetStream from one process (packs of 100 events per message, the default),
against the same events over HTTP to a loopback sink process. Measure with::

    pytest plugins/persona-nats/tests/test_nats_bench.py --benchmark-enable -s

In the normal suite (``--benchmark-disable``) it runs briefly as a plain test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from nats_servers import NatsServer
from persona_nats import JetStreamDestination

from persona_sdk import Persona


def measuring(request: pytest.FixtureRequest) -> bool:
    config = request.config
    return bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")


@pytest.mark.benchmark(group="nats")
def test_bench_publish_jetstream_vs_http(
    benchmark: Any, nats_server: NatsServer, request: pytest.FixtureRequest
) -> None:
    """Events/s from one process to JetStream (acknowledged) and to a loopback HTTP sink."""
    from servers.sink import SinkProcess

    n = 50_000 if measuring(request) else 200
    rates = {}
    sink = SinkProcess()
    try:
        for name in ("jetstream", "http"):
            if name == "jetstream":
                options: dict[str, Any] = {"url": nats_server.url}
                extra = {"d": JetStreamDestination.from_options(name="d", options=options)}
                dest = {"type": "jetstream", "options": options}
            else:
                extra = {}
                dest = {"type": "http", "options": {"url": f"{sink.url}/v1/batch"}}
            persona = Persona({
                "destinations": {"d": {**dest, "batch": {"max_events": 500}}},
                "tags": [{"name": "all", "destination": "d"}],
                "delivery": {"max_queue_events": 200_000},
            }, destinations=extra)
            start = time.perf_counter()
            for i in range(n):
                persona.track("Product Viewed", anonymous_id=f"a-{i % 1000}")
            assert persona.flush(timeout=180.0)
            rates[name] = n / (time.perf_counter() - start)
            persona.close()
    finally:
        sink.close()
    import os

    one, five, _ = os.getloadavg()
    print("\npublish from one process: " + ", ".join(
        f"{k} {v:,.0f} events/s" for k, v in rates.items())
        + f" ({n} events, packs of 100; load {one:.1f}/{five:.1f} on {os.cpu_count()} cpus)")
    benchmark(lambda: None)
