"""Invariant: configured PII never leaves the process unhashed, whatever the destination.

Events full of personal data are routed by the real router to every built-in destination
type and to a plugin-style destination, sent to a real loopback server (or file), and every
byte that left the process (URLs, headers, bodies, files) is searched for the raw values.
"""

from __future__ import annotations

import base64
import gzip
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
from servers.sink import Sink

from persona_sdk import Container
from persona_sdk.destinations import build_destinations
from persona_sdk.events import Message
from persona_sdk.tags import Router
from persona_sdk.testing import CaptureDestination

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()

# Distinctive values (letters outside a-f) so none can appear inside a hex digest by chance.
TRAITS = {
    "email": "Zephyrine.Quill@Example.org",
    "phone": "+33 6 77 88 99 11",
    "firstName": "Zephyrine",
    "lastName": "Quillfeather",
    "birthday": "1987-06-05",
    "gender": "female",
    "address": {"street": "77 Quux Lane", "city": "Xanthopolis", "state": "Wyoming",
                "postalCode": "SW1A 1AA", "country": "GB"},
}  # fmt: skip
IP = "203.0.113.77"
FIELDS = {
    "email": "email", "phone": "phone", "firstName": "first_name", "lastName": "last_name",
    "birthday": "dob", "gender": "gender", "address.street": "street", "address.city": "city",
    "address.state": "state", "address.postalCode": "zip", "address.country": "country",
}  # fmt: skip
FORBIDDEN = [
    "Zephyrine",
    "zephyrine",
    "Quill",
    "quill",
    "Example.org",
    "example.org",
    "6 77 88",
    "677889911",
    "Quux",
    "quux",
    "Xanthopolis",
    "xanthopolis",
    "Wyoming",
    "wyoming",
    "SW1A",
    "sw1a",
    "1987",
    IP,
]


def _container(sink_url: str, tmp: Path) -> Container:
    fields = {f"{root}.{k}": v for k, v in FIELDS.items() for root in ("traits", "context.traits")}
    fields.update({"properties.email": "email", "properties.contact": "phone"})
    return Container.from_dict({
        "pii": {"fields": fields, "truncate_ip": True, "phone_country_code": "33"},
        "destinations": {
            "seg": {"type": "http", "options": {"url": f"{sink_url}/seg", "write_key": "k"}},
            "hook": {"type": "webhook", "options": {"url": f"{sink_url}/hook", "secret": SECRET}},
            "batchhook": {"type": "webhook",
                          "options": {"url": f"{sink_url}/bh", "secret": SECRET,
                                      "mode": "batch"}},
            "lake": {"type": "jsonl", "options": {"path": str(tmp / "lake.jsonl")}},
            "ga": {"type": "ga4", "options": {"measurement_id": "G-1", "api_secret": "s",
                                              "base_url": sink_url,
                                              "user_properties": ["email"]}},
            "meta": {"type": "meta_capi", "options": {"pixel_id": "1", "access_token": "t",
                                                      "base_url": sink_url}},
            "cap": {"type": "capture"},
        },
        "tags": [{"name": n, "destination": n}
                 for n in ("seg", "hook", "batchhook", "lake", "ga", "meta", "cap")],
    })  # fmt: skip


def _messages() -> list[Message]:
    now = time.time()  # GA4 and Meta refuse back-dated events; the real clock keeps them fresh
    ctx: dict[str, Any] = {"ip": IP, "userAgent": "UA/1", "traits": TRAITS,
                           "page": {"url": "https://shop.test/p"}}  # fmt: skip
    props = {"email": TRAITS["email"], "contact": TRAITS["phone"], "revenue": 9.5,
             "products": [{"product_id": "p1"}]}  # fmt: skip
    return [
        Message(type="track", message_id="m1", anonymous_id="a1", event="Order Completed",
                properties=props, context=ctx, timestamp=now),
        Message(type="identify", message_id="m2", anonymous_id="a1", user_id="u1",
                traits=TRAITS, context=ctx, timestamp=now),
        Message(type="page", message_id="m3", anonymous_id="a1", name="Home",
                properties={"email": TRAITS["email"]}, context=ctx, timestamp=now),
    ]  # fmt: skip


async def test_no_raw_pii_leaves_through_any_destination(sink: Sink, tmp_path: Path) -> None:
    """Every byte sent to every destination (bodies, gunzipped or not, URLs, headers, files,
    captured events) is free of the raw personal values, their lower-cased forms and the
    untruncated IP."""
    container = _container(sink.url, tmp_path)
    destinations = build_destinations(container)
    router = Router.build(container, destinations)
    batches: dict[str, list[bytes]] = {}
    for msg in _messages():
        for name, render in router.route(msg):
            payload = render(msg)
            if payload is not None:
                batches.setdefault(name, []).append(msgspec.json.encode(payload))
    assert set(batches) == {"seg", "hook", "batchhook", "lake", "ga", "meta", "cap"}
    async with httpx.AsyncClient() as client:
        for name, items in batches.items():
            result = await destinations[name].send(items, client)
            assert result.outcome.value == "delivered", (name, result)
    for d in destinations.values():
        d.close()

    left: list[str] = []
    for req in sink.requests:
        left.append(f"{req.path}?{req.query}")
        left.extend(f"{k}: {v}" for k, v in req.headers.items())
        body = req.raw_body
        if req.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        left.append(body.decode())
    left.append((tmp_path / "lake.jsonl").read_text())
    cap = destinations["cap"]
    assert isinstance(cap, CaptureDestination)
    left.append(msgspec.json.encode(cap.events).decode())
    assert len(sink.requests) >= 6
    assert cap.events
    wire = "\n".join(left)
    for value in FORBIDDEN:
        assert value not in wire, f"{value!r} left the process"
    assert "203.0.113.0" in wire  # the truncated address did go out
