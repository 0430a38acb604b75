"""The ``http`` destination: Segment-compatible /v1/batch against a real loopback server."""

from __future__ import annotations

import base64
import gzip
import json

import httpx
import pytest
from dest_helpers import encode_all, segment_event  # type: ignore[import-not-found]
from servers.sink import Reply, Sink

from persona_sdk import ConfigError
from persona_sdk.destinations.http import HttpDestination
from persona_sdk.plugins import SendOutcome
from persona_sdk.privacy import PiiConfig, sha256_hex

NOW = 1_700_000_100.0


def _dest(url: str, **options: object) -> HttpDestination:
    return HttpDestination(
        name="seg", options={"url": url, "write_key": "wk_123", **options}, clock=lambda: NOW
    )


async def test_batch_body_auth_and_gzip(sink: Sink) -> None:
    """A batch is POST-ed to {url}/v1/batch as {"batch": [...], "sentAt"}, gzip-encoded, with
    the write key as Basic user and an empty password."""
    dest = _dest(sink.url)
    events = [segment_event(message_id=f"m-{i}") for i in range(3)]
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, events), client)
    assert result.outcome is SendOutcome.DELIVERED
    assert result.status == 200
    (req,) = sink.requests
    assert (req.method, req.path) == ("POST", "/v1/batch")
    assert req.headers["content-encoding"] == "gzip"
    assert gzip.decompress(req.raw_body) == req.body
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"wk_123:").decode()
    doc = req.json
    assert doc["sentAt"] == "2023-11-14T22:15:00.000Z"
    assert [e["messageId"] for e in doc["batch"]] == ["m-0", "m-1", "m-2"]
    assert doc["batch"][0] == events[0]


async def test_full_endpoint_urls_are_kept_and_gzip_can_be_off(sink: Sink) -> None:
    """A URL with a path is the endpoint itself; gzip off sends plain JSON."""
    dest = _dest(f"{sink.url}/collect/segment", gzip=False, write_key=None)
    async with httpx.AsyncClient() as client:
        await dest.send(encode_all(dest, [segment_event()]), client)
    (req,) = sink.requests
    assert req.path == "/collect/segment"
    assert "content-encoding" not in req.headers
    assert "authorization" not in req.headers
    assert req.raw_body == req.body


async def test_requests_never_exceed_500_kb(sink: Sink) -> None:
    """A batch bigger than 500 KB is split into requests each at most 500 KB (uncompressed),
    events in order, none lost."""
    dest = _dest(sink.url)
    events = [
        segment_event(message_id=f"m-{i}", properties={"blob": "x" * 20_000}) for i in range(60)
    ]
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, events), client)
    assert result.outcome is SendOutcome.DELIVERED
    assert len(sink.requests) >= 3
    assert all(len(r.body) <= 500_000 for r in sink.requests)
    assert sink.message_ids() == [f"m-{i}" for i in range(60)]


@pytest.mark.parametrize(
    ("reply", "outcome", "retry_after"),
    [
        (Reply(status=503, retry_after=2), SendOutcome.RETRY, 2.0),
        (Reply(status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), SendOutcome.RETRY, 0.0),
        (Reply(status=408), SendOutcome.RETRY, None),
        (Reply(status=400, body=b'{"error":"bad"}'), SendOutcome.DEAD, None),
        (Reply(status=401), SendOutcome.DEAD, None),
        (Reply(reset=True), SendOutcome.RETRY, None),
    ],
)
async def test_failures_are_classified(
    sink: Sink, reply: Reply, outcome: SendOutcome, retry_after: float | None
) -> None:
    """Server failures map to retry (honouring Retry-After) or dead."""
    sink.reply_with(reply)
    dest = _dest(sink.url)
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, [segment_event()]), client)
    assert result.outcome is outcome
    assert result.retry_after == retry_after


def test_transform_applies_the_destination_privacy_policy() -> None:
    """Configured PII is hashed (or removed with ``pii = "remove"``) in what is sent."""
    pii = PiiConfig(fields={"properties.email": "email"})  # type: ignore[dict-item]
    ev = segment_event(properties={"email": "Ann@X.org"}, context={"ip": "203.0.113.9"})
    hashed = HttpDestination(options={"url": "http://x.test"}, pii=pii).transform(ev)
    assert hashed is not None
    assert hashed["properties"]["email"] == sha256_hex("ann@x.org")
    removed = HttpDestination(
        options={"url": "http://x.test", "pii": "remove", "truncate_ip": True}, pii=pii
    ).transform(ev)
    assert removed is not None
    assert removed["properties"] == {}
    assert removed["context"]["ip"] == "203.0.113.0"


def test_option_errors_name_their_field() -> None:
    """Bad options raise ConfigError with paths relative to ``options``."""
    with pytest.raises(ConfigError) as info:
        HttpDestination(options={"max_events": "many"})
    errors = info.value.errors
    assert any(e.startswith("url: required field is missing") for e in errors)
    assert any(e.startswith("max_events: ") for e in errors)
    with pytest.raises(ConfigError) as info:
        HttpDestination(options={"url": "mailto:x", "gzip_level": 12, "timeout": 0})
    joined = json.dumps(info.value.errors)
    assert "url: " in joined
    assert "gzip_level: " in joined
    assert "timeout: " in joined
