"""Child process for the sync-spool buffer test: a real ``Persona`` in ``spool = "sync"``
mode with a small memory queue, tracking ``n`` events to ``url`` (argv: spool path, url, n,
spool_max_bytes). Prints ``id <messageId>`` for each id ``track()`` returned, ``full`` for
each call that raised ``SpoolFullError``, then ``done``; then waits to be killed."""

from __future__ import annotations

import sys
import time

from persona_sdk import Persona, SpoolFullError

path, url, n, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
persona = Persona({
    "delivery": {"spool": "sync", "spool_path": path, "max_queue_events": 10,
                 "spool_max_bytes": cap,
                 "max_retries": 1_000, "backoff_max": 0.05},
    "destinations": {"w": {"type": "http", "options": {"url": url},
                           "batch": {"max_events": 5, "interval": 0.01}}},
    "tags": [{"name": "all", "destination": "w"}],
})
out = sys.stdout
for i in range(n):
    try:
        mid = persona.track("Order Completed", anonymous_id="a-1",
                            properties={"i": i, "pad": "x" * 200})
    except SpoolFullError:
        out.write("full\n")
    else:
        out.write(f"id {mid}\n")
    out.flush()
out.write("done\n")
out.flush()
time.sleep(600)
