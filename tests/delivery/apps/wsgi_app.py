"""A tiny WSGI app for the gunicorn ``--preload`` test: it uses ``Delivery`` directly.

At import (in the gunicorn master, thanks to ``--preload``) it tracks ``preload-<n>`` events,
which starts the master's delivery thread before the workers fork. Each request tracks the
messageId given in the query string and answers with the worker's pid.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delivery_helpers import SinkDestination, make_delivery, render

from persona_sdk.delivery import BatchConfig, DeliveryConfig
from persona_sdk.events import Message

delivery = make_delivery(
    {"s": SinkDestination("s", os.environ["SINK_URL"], BatchConfig(max_events=5,
                                                                   interval=0.01))},
    DeliveryConfig(),
)
for n in range(3):
    delivery.enqueue("s", Message(type="track", message_id=f"preload-{n}",
                                  anonymous_id="master", event="Preload"), render)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    mid = environ.get("QUERY_STRING", "") or "none"
    delivery.enqueue("s", Message(type="track", message_id=mid, anonymous_id="w",
                                  event="Request"), render)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
