"""A mapping ``rename`` never carries personal data past the privacy policy (issue #12)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
from servers.sink import Sink

from persona_sdk import Container
from persona_sdk.destinations import build_destinations
from persona_sdk.events import Message
from persona_sdk.privacy import hash_pii
from persona_sdk.tags import Router
from persona_sdk.testing import CaptureDestination

EMAIL = "Ann.Leak@Example.org"
PHONE = "+33 6 12 34 56 78"
NOTE = "door code 4417"
IP = "203.0.113.77"
RAW = [EMAIL, EMAIL.lower(), "612345678", NOTE, IP]


def _container(sink_url: str, tmp: Path) -> Container:
    mapping = {
        "rename": {
            "properties.email": "properties.contact_email",
            "properties.billing": "properties.invoice",
            "properties.note": "properties.memo",
            "context.ip": "properties.origin",
        }
    }
    return Container.from_dict({
        "pii": {"fields": {"properties.email": "email", "properties.*.phone": "phone"},
                "remove": ["properties.note"], "truncate_ip": True},
        "destinations": {
            "seg": {"type": "http", "options": {"url": f"{sink_url}/seg", "gzip": False}},
            "lake": {"type": "jsonl", "options": {"path": str(tmp / "lake.jsonl")}},
            "cap": {"type": "capture"},
        },
        "tags": [{"name": n, "destination": n, "mapping": mapping} for n in ("seg", "lake", "cap")],
    })  # fmt: skip


def _message() -> Message:
    return Message(type="track", message_id="m1", anonymous_id="a1", event="Order Completed",
                   properties={"email": EMAIL, "billing": {"phone": PHONE, "city": "Lyon"},
                               "note": NOTE, "revenue": 3.0},
                   context={"ip": IP}, timestamp=time.time())  # fmt: skip


async def test_renamed_pii_leaves_hashed_or_removed(sink: Sink, tmp_path: Path) -> None:
    """With ``properties.email`` renamed to ``properties.contact_email`` (and a wildcard rule's
    parent, a removed path and the IP renamed too), every destination kind (the built-in HTTP
    and JSONL destinations with their own policy, and a plugin-like capture destination with
    the router's) gets the hashed email at the new path, the phone hashed, the note removed,
    the IP truncated, and no raw value anywhere."""
    container = _container(sink.url, tmp_path)
    cap = CaptureDestination()
    destinations = {**build_destinations(container, {"cap": cap})}
    router = Router.build(container, destinations)
    msg = _message()
    rendered: dict[str, Any] = {}
    for name, render in router.route(msg):
        rendered[name] = render(msg)
    assert set(rendered) == {"seg", "lake", "cap"}
    async with httpx.AsyncClient() as client:
        for name, payload in rendered.items():
            item = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
            result = await destinations[name].send([item], client)
            assert result.outcome.value == "delivered", (name, result)
    for d in destinations.values():
        d.close()

    wire = [r.body.decode() for r in sink.requests]
    wire.append((tmp_path / "lake.jsonl").read_text())
    wire.append(msgspec.json.encode(cap.events).decode())
    assert len(wire) == 3
    for text in wire:
        for raw in RAW:
            assert raw not in text
    sent = sink.requests[0].items[0]["properties"]
    assert "email" not in sent
    assert sent["contact_email"] == hash_pii("email", EMAIL)
    assert sent["invoice"]["phone"] == hash_pii("phone", PHONE)
    assert sent["invoice"]["city"] == "Lyon"
    assert "memo" not in sent
    assert sent["origin"] == "203.0.113.0"
    assert sink.requests[0].items[0]["context"].get("ip") is None
