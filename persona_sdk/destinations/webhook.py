"""``webhook``: events POST-ed to your endpoint, signed per the Standard Webhooks spec.

Every request carries ``webhook-id`` (the event's ``messageId``, or a batch id derived from
the batch's message ids, so a retried delivery keeps its id and receivers can deduplicate),
``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed by the base64 secret after its ``whsec_`` prefix::

    [destinations.orders_hook]
    type = "webhook"
    options = { url = "https://example.com/hooks/persona", secret = "${env:WEBHOOK_SECRET}" }

``mode = "event"`` (default) sends one event per request, ``concurrency`` at a time;
``mode = "batch"`` sends ``{"batch": [...]}`` per batch.

An event whose ``messageId`` cannot be a header value (CR/LF, non-ASCII, over 200 characters)
is rejected alone when it is routed (counted in :meth:`WebhookDestination.rejections`, logged
once), so it never enters a batch and never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
import msgspec
from attrs import Factory, field, frozen

from ..events import message_id_problem
from ..plugins import BatchConfig, ConfigError, PiiConfig, Secret, SendOutcome, SendResult
from ..plugins.kit import (
    HttpDestinationBase,
    HttpRequest,
    PolicyTransform,
    PrivacyOptions,
    Rejections,
    StrEnum,
    load_options,
    option_errors,
    perform,
    privacy_policy,
)

__all__ = ["WebhookDestination", "WebhookMode", "WebhookOptions", "sign_webhook"]

log = logging.getLogger("persona_sdk.destinations.webhook")


class WebhookMode(StrEnum):
    """One request per event, or one per batch."""

    EVENT = "event"
    BATCH = "batch"


@frozen(kw_only=True)
class WebhookOptions(PrivacyOptions):
    """Options of the ``webhook`` destination.

    ``secret`` is a Standard Webhooks secret (``whsec_`` + base64 key);
    ``additional_secrets`` are also signed with, for key rotation (the receiver accepts any
    matching signature).
    """

    url: str
    secret: Secret = field(repr=False)
    additional_secrets: list[Secret] = field(factory=list, repr=False)
    mode: WebhookMode = WebhookMode.EVENT
    concurrency: int = 8
    timeout: float = 10.0
    max_events: int = 100
    headers: dict[str, Secret] = Factory(dict)


class _Ids(msgspec.Struct):
    messageId: str | None = None  # the Segment wire name


_decode_ids = msgspec.json.Decoder(_Ids).decode


def _key(secret: str, where: str) -> bytes:
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: not a base64 secret (expected whsec_<base64>)") from None
    if not key:
        raise ConfigError(f"{where}: the secret is empty")
    return key


def sign_webhook(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>`` per key, space-separated.

    ``keys`` are the decoded secrets (the bytes after ``whsec_``, base64-decoded).
    """
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(k, to_sign, hashlib.sha256).digest()).decode("ascii")
        for k in keys
    )


def _message_id(item: bytes) -> str:
    try:
        mid = _decode_ids(item).messageId
    except msgspec.DecodeError:
        mid = None
    if mid and message_id_problem(mid) is None:
        return mid
    # no usable id (or one that could not be a header value, e.g. from an older spool): one
    # derived from the event itself, stable across retries
    return "msg_" + hashlib.sha256(item).hexdigest()[:32]


def _combine(results: Iterable[SendResult]) -> SendResult:
    # any transient failure retries the batch (receivers dedupe by webhook-id); else any
    # permanent failure dead-letters it
    results = list(results)
    retries = [r for r in results if r.outcome is SendOutcome.RETRY]
    if retries:
        waits = [r.retry_after for r in retries if r.retry_after is not None]
        first = retries[0]
        return SendResult.retry(
            first.detail, status=first.status, retry_after=max(waits) if waits else None
        )
    for r in results:
        if r.outcome is SendOutcome.DEAD:
            return r
    return results[-1] if results else SendResult.ok()


class WebhookDestination(PolicyTransform, HttpDestinationBase):
    """POSTs events to a URL, signed per the Standard Webhooks spec.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        name: str = "webhook",
        options: Mapping[str, Any] | None = None,
        pii: PiiConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = load_options(WebhookOptions, options)
        errors = option_errors(opts)
        keys: list[bytes] = []
        for where, secret in [
            ("secret", opts.secret),
            *((f"additional_secrets[{i}]", s) for i, s in enumerate(opts.additional_secrets)),
        ]:
            try:
                keys.append(_key(secret, where))
            except ConfigError as exc:
                errors.extend(exc.errors)
        if not opts.url.startswith(("http://", "https://")):
            errors.append(f"url: {opts.url!r} is not an http(s) URL")
        if opts.concurrency < 1:
            errors.append("concurrency: must be at least 1")
        if errors:
            raise ConfigError(errors)
        super().__init__(
            name=name,
            batch=BatchConfig(max_events=opts.max_events, gzip=False),
            timeout=opts.timeout,
            clock=clock,
        )
        self.options = opts
        self.policy = privacy_policy(opts, pii)
        self._keys = keys
        self._base_headers = {"content-type": "application/json", **opts.headers}
        self._rejected = Rejections()
        self._logged: set[str] = set()

    @property
    def passthrough(self) -> bool:
        """Always false: each event is checked in ``transform`` (its ``messageId`` becomes a
        header), so the router may not skip it and share the Segment JSON as is."""
        return False

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The Segment event after the privacy policy; ``None`` (counted in
        :meth:`rejections`) when its ``messageId`` cannot be a ``webhook-id`` header."""
        mid = event.get("messageId")
        if mid.__class__ is str and mid and (problem := message_id_problem(mid)) is not None:
            self._reject("invalid_message_id", f"messageId {mid[:80]!r}: {problem}")
            return None
        return self.policy.apply(event)

    def _reject(self, reason: str, detail: str) -> None:
        self._rejected.note(reason)
        if reason not in self._logged:  # once per reason; the count is in rejections()
            self._logged.add(reason)
            log.warning(
                "persona-sdk webhook %r: event rejected (%s); further ones are only counted",
                self.name,
                detail,
            )

    def rejections(self) -> dict[str, int]:
        """Events not sent, by reason (``invalid_message_id``)."""
        return self._rejected.snapshot()

    def signed(self, msg_id: str, body: bytes) -> HttpRequest:
        """The request for one body, signed now."""
        ts = int(self.clock())
        headers = {
            **self._base_headers,
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign_webhook(self._keys, msg_id, ts, body),
        }
        return HttpRequest(url=self.options.url, content=body, headers=headers)

    def requests(self, items: Sequence[bytes]) -> Iterable[HttpRequest]:
        """One signed request per event (``event`` mode) or per batch (``batch`` mode)."""
        if self.options.mode is WebhookMode.BATCH:
            ids = "\n".join(_message_id(i) for i in items).encode()
            batch_id = "batch_" + hashlib.sha256(ids).hexdigest()[:32]
            return [self.signed(batch_id, b'{"batch":[' + b",".join(items) + b"]}")]
        return [self.signed(_message_id(item), item) for item in items]

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Deliver one batch; in ``event`` mode up to ``concurrency`` requests at a time."""
        if not items:
            return SendResult.ok()
        requests = list(self.requests(items))
        if len(requests) == 1:
            return await perform(client, requests, timeout=self.timeout, classify=self.classify)
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(req: HttpRequest) -> SendResult:
            async with gate:
                return await perform(client, [req], timeout=self.timeout, classify=self.classify)

        return _combine(await asyncio.gather(*(one(r) for r in requests)))
