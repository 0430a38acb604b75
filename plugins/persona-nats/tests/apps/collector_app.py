"""The first-party collector (WSGI) publishing straight to JetStream: web nodes only collect.

Environment: ``NATS_URL``. Serve with ``gunicorn --preload -w 2 apps.collector_app:app``.
"""

import os

from persona_nats import JetStreamDestination

from persona_sdk import Persona
from persona_sdk.web import Collector, CollectorConfig

options = {"url": os.environ["NATS_URL"]}
persona = Persona(
    {"destinations": {"stream": {"type": "jetstream", "options": options}},
     "tags": [{"name": "all", "destination": "stream"}]},
    destinations={"stream": JetStreamDestination.from_options(name="stream", options=options)},
)
# one client (the test) sends all 4,000 events: no per-client-IP rate limit
app = Collector(persona, CollectorConfig(rate_limit_per_second=0.0)).wsgi
