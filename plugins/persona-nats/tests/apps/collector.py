"""A collector process: tracks N events into JetStream, prints their messageIds (JSON).

Usage: python collector.py NATS_URL N PREFIX
"""

import json
import sys

from persona_nats import JetStreamDestination

from persona_sdk import Persona

url, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
options = {"url": url}
persona = Persona(
    {"destinations": {"stream": {"type": "jetstream", "options": options}},
     "tags": [{"name": "all", "destination": "stream"}]},
    destinations={"stream": JetStreamDestination.from_options(name="stream", options=options)},
)
ids = [persona.track("Page Event", anonymous_id=f"{prefix}-{i % 50}",
                     properties={"i": i}) for i in range(n)]
ok = persona.flush(timeout=60.0)
persona.close()
print(json.dumps({"ids": ids, "flushed": ok}))
