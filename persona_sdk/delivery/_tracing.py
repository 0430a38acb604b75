"""OpenTelemetry spans around delivery, when ``opentelemetry-api`` is installed.

One span per send attempt (``persona.deliver``, kind CLIENT) with the destination, the number
of events, the attempt and the outcome; a retry or a dead letter sets the span's status to
ERROR with the destination's answer. Without an SDK configured by the application, the API's
no-op tracer makes this cost a function call per batch (not per event). Without the package,
nothing is imported and nothing happens. ``pip install 'persona-sdk-py[otel]'``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["finish_span", "start_span"]

_tracer: Any = None  # None: not looked up yet; False: opentelemetry is not installed


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracer = False
        else:
            _tracer = trace.get_tracer("persona_sdk.delivery")
    return _tracer


def start_span(destination: str, events: int, attempt: int) -> AbstractContextManager[Any]:
    """A context manager yielding the send's span (or None without OpenTelemetry)."""
    tracer = _get_tracer()
    if tracer is False:
        return nullcontext()
    from opentelemetry.trace import SpanKind

    return tracer.start_as_current_span(  # type: ignore[no-any-return]
        "persona.deliver",
        kind=SpanKind.CLIENT,
        attributes={
            "persona.destination": destination,
            "messaging.batch.message_count": events,
            "persona.attempt": attempt,
        },
        record_exception=False,
        set_status_on_exception=False,
    )


def finish_span(span: Any, outcome: str, detail: str | None, status: int | None) -> None:
    """Record a send's outcome on its span."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("persona.outcome", outcome)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if outcome != "delivered":
        span.set_status(Status(StatusCode.ERROR, detail or outcome))
