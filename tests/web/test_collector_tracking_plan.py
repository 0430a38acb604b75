"""The collector under uvicorn with a tracking plan in block mode."""

from __future__ import annotations

import json

from collector_helpers import connection, uvicorn_server

import persona_sdk as ps
from persona_sdk.testing import CaptureDestination
from persona_sdk.web import Collector

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "revenue"],
    "properties": {"revenue": {"type": "number", "minimum": 0}, "order_id": {"type": "string"}},
}


def test_collector_answers_400_items_for_blocked_events(
) -> None:
    """Under uvicorn, a batch with a blocked event is accepted in part: the refused item
    is listed with its index and reason, never a 5xx, and only good events are delivered."""
    capture = CaptureDestination()
    doc = {
        "tags": [{"name": "all", "destination": "lake"}],
        "tracking_plan": {"mode": "block", "events": {"Order Completed": {"schema": ORDER_SCHEMA}}},
    }
    with ps.Persona(doc, destinations={"lake": capture}) as persona, uvicorn_server(
        Collector(persona).asgi
    ) as url:
        batch = {"batch": [
            {"type": "track", "event": "Other", "anonymousId": "a", "messageId": "m-0"},
            {"type": "track", "event": "Order Completed", "anonymousId": "a",
             "messageId": "m-1", "properties": {"revenue": -1}},
            {"type": "track", "event": "Order Completed", "anonymousId": "a",
             "messageId": "m-2", "properties": {"order_id": "o", "revenue": 3}},
        ]}
        conn = connection(url)
        conn.request("POST", "/v1/batch", body=json.dumps(batch),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        conn.close()
        assert resp.status == 200
        assert doc["accepted"] == 2
        assert [e["index"] for e in doc["errors"]] == [1]
        assert "tracking plan" in doc["errors"][0]["error"]
        assert persona.flush(5)
        assert sorted(e["messageId"] for e in capture.events) == ["m-0", "m-2"]
