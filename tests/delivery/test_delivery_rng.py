"""The library never draws from the application's global ``random`` state: retries with
jitter to a real loopback sink leave ``random.getstate()`` as it was (an application that
seeds ``random`` keeps its sequence, and a property-testing framework sees no foreign draws)."""

from __future__ import annotations

import random

from servers.sink import Reply, Sink

import persona_sdk as ps


def test_retries_leave_the_global_random_state_alone(sink: Sink) -> None:
    """Two 503s then a 200: three sends with jittered backoff, and the global state of
    ``random`` is untouched."""
    sink.reply_with(Reply(status=503), Reply(status=503))
    container = {
        "delivery": {"max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.02},
        "destinations": {"api": {"type": "http", "options": {"url": sink.url + "/v1/batch",
                                                             "gzip": False}}},
        "tags": [{"name": "all", "destination": "api"}],
    }
    random.seed(1234)
    before = random.getstate()
    with ps.Persona(container) as persona:
        persona.track("A", anonymous_id="a")
        assert persona.flush(10)
        assert persona.stats()["destinations"]["api"]["retried"] == 2
    assert random.getstate() == before
