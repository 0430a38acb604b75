"""Child process for the memory test: 1,000,000 events against a dead destination with the
default caps; prints JSON with the RSS growth and the counters."""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delivery_helpers import SinkDestination, make_delivery, render

from persona_sdk.delivery import DeliveryConfig
from persona_sdk.events import Message


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
dead = SinkDestination("dead", "http://127.0.0.1:9/v1/batch")  # nothing listens on port 9
d = make_delivery({"dead": dead}, DeliveryConfig())
props = {"revenue": 42.0, "currency": "EUR", "sku": "SKU-0001", "qty": 2}
d.enqueue("dead", Message(type="track", message_id="warm", anonymous_id="a", event="E"), render)
gc.collect()
before = rss()
peak = before
t = time.perf_counter()
for i in range(N):
    d.enqueue("dead", Message(type="track", message_id=f"m-{i}", anonymous_id=f"a-{i % 5000}",
                              event="Order Completed", properties=dict(props),
                              context={"ip": "203.0.113.9"}, timestamp=1.7e9), render)
    if not i % 100_000:
        peak = max(peak, rss())
elapsed = time.perf_counter() - t
peak = max(peak, rss())
s = d.stats()["dead"]
d.close(timeout=0.1)
print(json.dumps({"n": N + 1, "rss_growth": rss() - before, "peak_growth": peak - before,
                  "seconds": elapsed, "stats": s}))
