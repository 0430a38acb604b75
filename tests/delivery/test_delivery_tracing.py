"""OpenTelemetry spans around delivery: one ``persona.deliver`` span per send attempt to a
real loopback HTTP destination, recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode
from servers.sink import Reply, Sink

import persona_sdk as ps

_EXPORTER = InMemorySpanExporter()


class _WhileRecording(SimpleSpanProcessor):
    # The global provider can be set once per process and outlives this test: it records
    # only while a test asks for spans, so later tests' deliveries cost nothing here.
    recording = False

    def on_end(self, span: Any) -> None:
        if self.recording:
            super().on_end(span)


_PROCESSOR = _WhileRecording(_EXPORTER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_PROCESSOR)
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _PROCESSOR.recording = True
    yield _EXPORTER
    _PROCESSOR.recording = False
    _EXPORTER.clear()


def _container(url: str) -> dict[str, Any]:
    return {
        "delivery": {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02},
        "destinations": {"api": {"type": "http", "options": {"url": url, "gzip": False}}},
        "tags": [{"name": "all", "destination": "api"}],
    }


def test_each_send_attempt_is_a_span_with_its_outcome(
    sink: Sink, spans: InMemorySpanExporter
) -> None:
    """A 503 then a 200: two spans, the first an error with the status, the second
    delivered; both name the destination and the batch size."""
    sink.reply_with(Reply(status=503))
    with ps.Persona(_container(sink.url + "/v1/batch")) as persona:
        persona.track("A", anonymous_id="a")
        assert persona.flush(10)
    found = [s for s in spans.get_finished_spans() if s.name == "persona.deliver"]
    assert [s.attributes["persona.outcome"] for s in found] == ["retry", "delivered"]
    first, second = found
    assert first.attributes["persona.destination"] == "api"
    assert first.attributes["messaging.batch.message_count"] == 1
    assert first.attributes["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is not StatusCode.ERROR
    assert second.attributes["persona.attempt"] == 1
