"""The ``meta_capi`` destination: Conversions API payloads, Meta's hashing rules, batching
and error classification, against a real loopback server."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from dest_helpers import encode_all, segment_event  # type: ignore[import-not-found]
from servers.sink import Reply, Sink

from persona_sdk import ConfigError
from persona_sdk.destinations.meta_capi import MetaCapiDestination
from persona_sdk.plugins import SendOutcome
from persona_sdk.privacy import PiiConfig, sha256_hex

NOW = 1_700_000_100.0
CONTEXT = {
    "ip": "203.0.113.9",
    "userAgent": "Mozilla/5.0",
    "page": {"url": "https://shop.test/checkout?fbclid=IwAR0abc"},
    "fbp": "fb.1.1558571054389.1098115397",
    "traits": {"email": "John_Smith@gmail.com", "phone": "(650)555-1212", "firstName": "Mary",
               "lastName": "Valéry", "gender": "female", "birthday": "1997-02-16",
               "address": {"city": "Menlo Park", "state": "CA", "postalCode": "94025-1234",
                           "country": "US"}},
}  # fmt: skip


def _dest(url: str = "http://graph.test", pii: PiiConfig | None = None,
          **options: Any) -> MetaCapiDestination:  # fmt: skip
    opts = {"pixel_id": "123456", "access_token": "EAAtoken", "base_url": url, **options}
    return MetaCapiDestination(name="meta", options=opts, pii=pii, clock=lambda: NOW)


def _pii(**kw: Any) -> PiiConfig:
    return PiiConfig(phone_country_code="1", **kw)


def test_purchase_payload_with_hashed_user_data() -> None:
    """An Order Completed becomes a Purchase server event: event_id = messageId, unix
    event_time, website action source and URL, user data normalized and hashed per Meta's
    rules (documented vectors), IP, user agent and browser ids in clear."""
    dest = _dest(pii=_pii())
    out = dest.transform(segment_event(
        user_id="u-42", context=CONTEXT,
        properties={"order_id": "o-1", "revenue": 59.9, "currency": "EUR", "coupon": "X",
                    "products": [{"product_id": "p-1", "quantity": 2, "price": 19.95},
                                 {"sku": "s-2"}]},
    ))  # fmt: skip
    assert out is not None, dest.rejections()
    assert out["event_name"] == "Purchase"
    assert out["event_time"] == 1_700_000_000
    assert out["event_id"] == "m-1"
    assert out["action_source"] == "website"
    assert out["event_source_url"] == "https://shop.test/checkout?fbclid=IwAR0abc"
    ud = out["user_data"]
    assert ud["em"] == ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"]
    assert ud["ph"] == ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"]
    assert ud["fn"] == "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    assert ud["ln"] == "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
    assert ud["ct"] == sha256_hex("menlopark")
    assert ud["st"] == sha256_hex("ca")
    assert ud["zp"] == sha256_hex("94025")
    assert ud["country"] == sha256_hex("us")
    assert ud["db"] == sha256_hex("19970216")
    assert ud["ge"] == sha256_hex("f")
    assert ud["external_id"] == sha256_hex("u-42")
    assert ud["client_ip_address"] == "203.0.113.9"
    assert ud["client_user_agent"] == "Mozilla/5.0"
    assert ud["fbp"] == CONTEXT["fbp"]
    assert ud["fbc"] == "fb.1.1700000000000.IwAR0abc"
    cd = out["custom_data"]
    assert cd["value"] == 59.9
    assert cd["currency"] == "EUR"
    assert cd["order_id"] == "o-1"
    assert cd["content_ids"] == ["p-1", "s-2"]
    assert cd["num_items"] == 3
    assert cd["contents"][0] == {"id": "p-1", "quantity": 2, "item_price": 19.95}
    assert cd["coupon"] == "X"
    assert cd["content_type"] == "product"


def test_ip_truncation_and_configured_ip_pii() -> None:
    """``truncate_ip`` sends the /24 network; an IP configured as PII is hashed by the
    policy and then left out (Meta only takes addresses in clear)."""
    truncated = _dest(truncate_ip=True).transform(segment_event(context=CONTEXT))
    assert truncated is not None
    assert truncated["user_data"]["client_ip_address"] == "203.0.113.0"
    hidden = _dest(pii=_pii(fields={"context.ip": "other"})).transform(
        segment_event(context=CONTEXT)
    )
    assert hidden is not None
    assert "client_ip_address" not in hidden["user_data"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"timestamp": NOW - 8 * 86400, "context": CONTEXT}, "too_old"),
        ({"context": {"page": {"url": "https://x.test/"}}}, "missing_client_user_agent"),
        ({"context": {"userAgent": "UA"}}, "missing_event_source_url"),
        ({"type_": "identify", "context": CONTEXT}, "unsupported_type"),
    ],
)
def test_events_meta_would_refuse_are_rejected_and_counted(
    kwargs: dict[str, Any], reason: str
) -> None:
    """Events older than 7 days, website events without user agent or URL, and
    non-conversion calls are not sent; each is counted by reason."""
    dest = _dest()
    assert dest.transform(segment_event(**kwargs)) is None
    assert dest.rejections() == {reason: 1}


def test_page_views_and_custom_names() -> None:
    """A page is a PageView; unknown events keep their name; ``event_names`` overrides."""
    dest = _dest(event_names={"Newsletter Joined": "Subscribe"})
    page = dest.transform(segment_event(type_="page", context=CONTEXT))
    custom = dest.transform(segment_event("Quiz Done", context=CONTEXT))
    sub = dest.transform(segment_event("Newsletter Joined", context=CONTEXT))
    assert page
    assert custom
    assert sub
    assert (page["event_name"], custom["event_name"], sub["event_name"]) == (
        "PageView",
        "Quiz Done",
        "Subscribe",
    )


async def test_batches_of_at_most_1000_events(sink: Sink) -> None:
    """2,500 events go out as 1,000 + 1,000 + 500 to /{version}/{pixel}/events with the
    token and the test event code in the body (never in the query string, which request logs
    record)."""
    dest = _dest(sink.url, test_event_code="TEST123")
    events = [segment_event(message_id=f"m-{i}", context=CONTEXT) for i in range(2500)]
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, events), client)
    assert result.outcome is SendOutcome.DELIVERED
    assert [len(r.json["data"]) for r in sink.requests] == [1000, 1000, 500]
    req = sink.requests[0]
    assert req.path == "/v24.0/123456/events"
    assert parse_qs(req.query) == {}
    assert req.json["access_token"] == "EAAtoken"
    assert req.json["test_event_code"] == "TEST123"
    ids = [e["event_id"] for r in sink.requests for e in r.json["data"]]
    assert ids == [f"m-{i}" for i in range(2500)]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(status=400, body=b'{"error":{"code":17,"message":"rate"}}'), SendOutcome.RETRY),
        (Reply(status=400, body=b'{"error":{"code":1,"is_transient":true}}'), SendOutcome.RETRY),
        (Reply(status=400, body=b'{"error":{"code":100,"message":"bad"}}'), SendOutcome.DEAD),
        (Reply(status=400, body=b"not json"), SendOutcome.DEAD),
        (Reply(status=500), SendOutcome.RETRY),
    ],
)
async def test_graph_api_errors(sink: Sink, reply: Reply, outcome: SendOutcome) -> None:
    """Throttling and transient Graph errors (HTTP 400 with such a code) are retried; other
    4xx are dead."""
    sink.reply_with(reply)
    dest = _dest(sink.url)
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, [segment_event(context=CONTEXT)]), client)
    assert result.outcome is outcome


def test_bad_options() -> None:
    """A non-numeric pixel id and an unknown action source are named."""
    with pytest.raises(ConfigError) as info:
        _dest(pixel_id="px", action_source="web")
    errors = "\n".join(info.value.errors)
    assert "pixel_id: " in errors
    assert "action_source: " in errors
