"""Tracking plans: a JSON Schema per event, enforced before fan-out (block, flag, pass), on
``track``, ``ingest`` and the collector under uvicorn, with real delivery to captures."""

from __future__ import annotations

from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "revenue"],
    "properties": {"revenue": {"type": "number", "minimum": 0}, "order_id": {"type": "string"}},
}


def container_with_plan(
    mode: str = "flag", unplanned: str = "pass", **extra: Any
) -> dict[str, Any]:
    return {
        "tags": [
            {"name": "all", "destination": "lake"},
            {"name": "violations", "destination": "qa",
             "trigger": {"context.protocols.violations": {"$exists": True}}},
        ],
        "tracking_plan": {
            "mode": mode,
            "unplanned": unplanned,
            "events": {"Order Completed": {"schema": ORDER_SCHEMA}},
        },
        **extra,
    }


@pytest.fixture
def captures() -> dict[str, CaptureDestination]:
    return {"lake": CaptureDestination(name="lake"), "qa": CaptureDestination(name="qa")}


def _persona(captures: dict[str, CaptureDestination], **kw: Any) -> ps.Persona:
    return ps.Persona(container_with_plan(**kw), destinations=captures)


def test_block_refuses_at_the_call_and_sends_nothing(
    captures: dict[str, CaptureDestination],
) -> None:
    """In block mode a violating event raises (no id is handed out) and goes nowhere; a
    valid one is delivered; both are counted."""
    with _persona(captures, mode="block") as persona:
        with pytest.raises(ps.EventValidationError) as info:
            persona.track("Order Completed", anonymous_id="a", properties={"revenue": -5})
        assert "tracking plan" in str(info.value)
        mid = persona.track(
            "Order Completed", anonymous_id="a", properties={"order_id": "o-1", "revenue": 5}
        )
        assert persona.flush(5)
        assert [e["messageId"] for e in captures["lake"].events] == [mid]
        stats = persona.stats()["tracking_plan"]
        assert stats["blocked"] == 1
        assert stats["violations"] == {"Order Completed": 1}
        assert stats["checked"] == 2


def test_flag_marks_violations_that_tags_route_to_their_own_destination(
    captures: dict[str, CaptureDestination],
) -> None:
    """In flag mode the event goes on with ``context.protocols.violations`` naming each
    problem, and a trigger on it routes the event to a QA destination."""
    with _persona(captures) as persona:
        persona.track("Order Completed", anonymous_id="a", properties={"revenue": "12"})
        persona.track("Order Completed", anonymous_id="a",
                      properties={"order_id": "o-2", "revenue": 12})
        assert persona.flush(5)
        assert len(captures["lake"].events) == 2
        (flagged,) = captures["qa"].events
        violations = flagged["context"]["protocols"]["violations"]
        fields = sorted(v["field"] for v in violations)
        assert fields == ["properties", "properties.revenue"]
        assert all(v["type"] == "Track" and v["description"] for v in violations)


def test_pass_counts_without_touching_and_unplanned_events_follow_their_rule(
    captures: dict[str, CaptureDestination],
) -> None:
    """``pass`` delivers the event unchanged but counts it; ``unplanned = "block"`` refuses
    events the plan does not name; other calls (identify) are not checked."""
    with _persona(captures, mode="pass", unplanned="block") as persona:
        persona.track("Order Completed", anonymous_id="a", properties={})
        with pytest.raises(ps.EventValidationError, match="not in the tracking plan"):
            persona.track("Mystery", anonymous_id="a")
        persona.identify("u-1", traits={"x": 1})
        assert persona.flush(5)
        assert [e.get("event") for e in captures["lake"].events] == ["Order Completed", None]
        assert "protocols" not in captures["lake"].events[0].get("context", {})
        assert captures["qa"].events == []
        assert persona.stats()["tracking_plan"]["violations"] == {
            "Order Completed": 1, "Mystery": 1
        }


def test_ingest_reports_a_blocked_message_and_keeps_its_neighbours(
    captures: dict[str, CaptureDestination],
) -> None:
    """Through ``ingest``, a blocked message is a failed result with the reason; the rest
    of the batch is delivered."""
    with _persona(captures, mode="block") as persona:
        results = persona.ingest({"batch": [
            {"type": "track", "event": "Order Completed", "anonymousId": "a",
             "properties": {"order_id": "o", "revenue": 1}},
            {"type": "track", "event": "Order Completed", "anonymousId": "a",
             "properties": {"order_id": 7, "revenue": 1}},
            {"type": "track", "event": "Other", "anonymousId": "a"},
        ]})
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error is not None
        assert "properties.order_id" in results[1].error
        assert persona.flush(5)
        assert [e["event"] for e in captures["lake"].events] == ["Order Completed", "Other"]


def test_a_bad_schema_is_a_config_error_with_its_path() -> None:
    """A schema that is not valid JSON Schema is refused when the container loads."""
    doc = {"tracking_plan": {"events": {"Order Completed": {"schema": {"type": "nonsense"}}}}}
    with pytest.raises(ps.ConfigError, match=r"tracking_plan\.events\.Order Completed\.schema"):
        ps.Persona(doc)
    with pytest.raises(ps.ConfigError, match="mode"):
        ps.Persona({"tracking_plan": {"mode": "sometimes"}})


def test_no_plan_costs_nothing() -> None:
    """Without a plan, nothing is checked and stats() has no tracking_plan section."""
    with ps.Persona({}) as persona:
        persona.track("Anything", anonymous_id="a", properties={"x": 1})
        assert "tracking_plan" not in persona.stats()
