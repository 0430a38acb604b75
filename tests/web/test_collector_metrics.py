"""``GET /metrics`` on the collector under uvicorn: ``persona.stats()`` and the collector's
counters as Prometheus text, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import json
from typing import Any

from collector_helpers import connection, uvicorn_server
from prometheus_client.parser import text_string_to_metric_families

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import Collector, CollectorConfig


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    conn = connection(url)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type") or "", resp.read().decode()
    finally:
        conn.close()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _persona(capture: CaptureDestination) -> ps.Persona:
    doc: dict[str, Any] = {
        "consent": {"purposes": {"analytics": {}}},
        "destinations": {"lake": {"type": "jsonl", "options": {"path": "unused"},
                                  "consent": ["analytics"]}},
        "tags": [{"name": "all", "destination": "lake"}],
    }
    return ps.Persona(doc, destinations={"lake": capture})


def test_metrics_expose_destination_counters_with_labels() -> None:
    """Tracked, delivered and filtered-by-reason counts per destination, and the
    collector's own request counters, match what happened."""
    capture = CaptureDestination(name="lake")
    with _persona(capture) as persona, uvicorn_server(
        Collector(persona, CollectorConfig(metrics=True)).asgi
    ) as url:
        persona.track("A", anonymous_id="a", consent={"analytics": True})
        persona.track("B", anonymous_id="a", consent={"analytics": True})
        persona.track("C", anonymous_id="a")  # no consent: filtered
        assert persona.flush(5)
        conn = connection(url)
        conn.request("POST", "/v1/track", body=json.dumps(
            {"type": "track", "event": "D", "anonymousId": "b",
             "context": {"consent": {"categoryPreferences": {"analytics": True}}}}),
            headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        assert persona.flush(5)
        status, ctype, text = _get(url, "/metrics")
        assert status == 200
        assert ctype.startswith("text/plain; version=0.0.4")
        samples = _samples(text)
        lake = (("destination", "lake"),)
        assert samples[("persona_destination_tracked_total", lake)] == 3
        assert samples[("persona_destination_delivered_total", lake)] == 3
        assert samples[("persona_destination_queued", lake)] == 0
        assert samples[("persona_destination_filtered_total",
                        (("destination", "lake"), ("reason", "consent")))] == 1
        assert samples[("persona_destination_breaker",
                        (("destination", "lake"), ("state", "closed")))] == 1
        assert samples[("persona_collector_requests_total", ())] >= 1


def test_metrics_are_off_by_default_and_can_require_a_token() -> None:
    """Without ``metrics = true`` the path is a 404; with a token, a request without it is
    a 401 and one with it a 200."""
    capture = CaptureDestination(name="lake")
    with _persona(capture) as persona:
        with uvicorn_server(Collector(persona).asgi) as url:
            assert _get(url, "/metrics")[0] == 404
        config = CollectorConfig(metrics=True, metrics_token="s3cret")
        with uvicorn_server(Collector(persona, config).asgi) as url:
            assert _get(url, "/metrics")[0] == 401
            assert _get(url, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
            status, _, text = _get(url, "/metrics", {"Authorization": "Bearer s3cret"})
            assert status == 200
            assert "persona_destination_tracked_total" in text
        assert "s3cret" not in repr(config)
