"""The ``webhook`` destination: Standard Webhooks signatures, verified with the independent
``standardwebhooks`` package, against a real loopback server."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from dest_helpers import encode_all, segment_event  # type: ignore[import-not-found]
from servers.sink import Reply, Sink
from standardwebhooks import Webhook, WebhookVerificationError

from persona_sdk import ConfigError
from persona_sdk.destinations.webhook import WebhookDestination
from persona_sdk.plugins import SendOutcome

SECRET = "whsec_" + base64.b64encode(b"a secret key of 32 bytes, really").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous key").decode()


def _dest(url: str, **options: object) -> WebhookDestination:
    return WebhookDestination(name="hook", options={"url": url, "secret": SECRET, **options})


async def test_each_event_is_signed_and_verifies(sink: Sink) -> None:
    """In ``event`` mode each event is one request whose webhook-id is its messageId and
    whose signature verifies with the standardwebhooks package."""
    dest = _dest(f"{sink.url}/hook")
    events = [segment_event(message_id=f"m-{i}") for i in range(5)]
    async with httpx.AsyncClient() as client:
        result = await dest.send(encode_all(dest, events), client)
    assert result.outcome is SendOutcome.DELIVERED
    assert len(sink.requests) == 5
    wh = Webhook(SECRET)
    ids = set()
    for req in sink.requests:
        payload = wh.verify(req.raw_body, req.headers)
        assert payload["messageId"] == req.headers["webhook-id"]
        ids.add(req.headers["webhook-id"])
    assert ids == {f"m-{i}" for i in range(5)}


async def test_batch_mode_and_stable_ids_across_retries(sink: Sink) -> None:
    """In ``batch`` mode one signed ``{"batch": [...]}`` request carries the batch; a retry of
    the same batch keeps its webhook-id, so receivers can deduplicate."""
    sink.reply_with(Reply(status=503))
    dest = _dest(sink.url, mode="batch")
    items = encode_all(dest, [segment_event(message_id=f"m-{i}") for i in range(3)])
    async with httpx.AsyncClient() as client:
        first = await dest.send(items, client)
        second = await dest.send(items, client)
    assert first.outcome is SendOutcome.RETRY
    assert second.outcome is SendOutcome.DELIVERED
    a, b = sink.requests
    assert a.headers["webhook-id"] == b.headers["webhook-id"]
    assert a.headers["webhook-id"].startswith("batch_")
    body = Webhook(SECRET).verify(b.raw_body, b.headers)
    assert [e["messageId"] for e in body["batch"]] == ["m-0", "m-1", "m-2"]


async def test_rotation_signs_with_every_secret(sink: Sink) -> None:
    """With ``additional_secrets`` the signature header holds one v1 signature per secret;
    receivers with either secret verify, a stranger does not."""
    dest = _dest(sink.url, additional_secrets=[OLD_SECRET])
    async with httpx.AsyncClient() as client:
        await dest.send(encode_all(dest, [segment_event()]), client)
    (req,) = sink.requests
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(req.raw_body, req.headers)
    Webhook(OLD_SECRET).verify(req.raw_body, req.headers)
    stranger = "whsec_" + base64.b64encode(b"someone else").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(req.raw_body, req.headers)


async def test_mixed_outcomes_in_event_mode(sink: Sink) -> None:
    """Any transient failure retries the batch (with the longest Retry-After); otherwise a
    permanent failure dead-letters it."""
    dest = _dest(sink.url, concurrency=1)
    items = encode_all(dest, [segment_event(message_id=f"m-{i}") for i in range(3)])
    sink.reply_with(Reply(status=400), Reply(status=429, retry_after=4), Reply())
    async with httpx.AsyncClient() as client:
        retried = await dest.send(items, client)
        sink.reply_with(Reply(status=404))
        dead = await dest.send(items, client)
    assert (retried.outcome, retried.retry_after) == (SendOutcome.RETRY, 4.0)
    assert dead.outcome is SendOutcome.DEAD


def test_tampered_bodies_fail_verification() -> None:
    """The signature covers id, timestamp and body: changing the body breaks it."""
    dest = _dest("http://x.test")
    (req,) = dest.requests(encode_all(dest, [segment_event()]))
    headers = dict(req.headers)
    Webhook(SECRET).verify(req.content, headers)
    tampered = json.dumps({**json.loads(req.content), "event": "Refund"}).encode()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)


def test_bad_options_are_reported() -> None:
    """A secret that is not base64, a bad URL and a bad mode are each named."""
    with pytest.raises(ConfigError) as info:
        WebhookDestination(options={"url": "x", "secret": "whsec_!!!", "mode": "bulk",
                                    "concurrency": 0})  # fmt: skip
    errors = "\n".join(info.value.errors)
    assert "mode: " in errors
    with pytest.raises(ConfigError) as info:
        WebhookDestination(options={"url": "x", "secret": "whsec_!!!", "concurrency": 0})
    errors = "\n".join(info.value.errors)
    assert "secret: not a base64 secret" in errors
    assert "url: " in errors
    assert "concurrency: " in errors
