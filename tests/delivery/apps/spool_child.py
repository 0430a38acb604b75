"""Child process for the kill -9 test: tracks with spool="sync" and acknowledges each
messageId on stdout once ``enqueue`` has returned (argv: spool path, sink url, first id)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delivery_helpers import SinkDestination, make_delivery, message, render

from persona_sdk.delivery import BatchConfig, DeliveryConfig, SpoolMode

path, url, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
dest = SinkDestination("s", url, BatchConfig(max_events=20, interval=0.005))
d = make_delivery({"s": dest}, DeliveryConfig(spool=SpoolMode.SYNC, spool_path=path,
                                              max_retries=1_000, backoff_max=0.01))
out = sys.stdout
for i in range(first, first + 100_000):
    d.enqueue("s", message(i), render)
    out.write(f"m-{i}\n")
    out.flush()
