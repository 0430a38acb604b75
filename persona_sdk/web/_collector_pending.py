"""The second phase of a collector request: the body read, checked, stamped and ingested."""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from .._errors import ClosedError, EventValidationError, SpoolError
from ..config import CollectorConfig
from ..events import MAX_EVENT_BYTES, WIRE_GROWTH
from ._collector_body import check_duplicates, decode_json_object, encode_batch, gunzip
from ._collector_http import CollectorResponse, CorsPolicy, Reject, RequestHead
from ._collector_stamp import RequestFacts, rate_key, stamp_messages, stamp_room
from ._cookie import parse_cookies, valid_visitor_id
from ._ratelimit import TokenBucketLimiter

if TYPE_CHECKING:
    from .._ports import IngestBatch, IngestFn

__all__ = [
    "JSON_HEADER",
    "NO_STORE",
    "PIXEL_GIF",
    "PendingBody",
    "Settings",
    "check_write_key",
]

log = logging.getLogger("persona_sdk.collector")

#: An answer lists at most this many rejected messages; the rest are counted by reason.
MAX_LISTED_ERRORS = 20
#: At most this many distinct reasons are counted by name (the rest under "other"), each
#: at most this long: reasons can quote the sender's values.
MAX_REASONS = 20
MAX_REASON_CHARS = 200

_encode = msgspec.json.encode

#: The ``/p.gif`` answer: a transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JSON_HEADER = ("content-type", "application/json")
NO_STORE = ("cache-control", "no-store")


class Settings:
    # Everything derived from one CollectorConfig; rebuilt only when the config object changes.
    __slots__ = ("config", "cookie_tail", "cors", "keys", "limiter")

    def __init__(self, config: CollectorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.cors = CorsPolicy(config.cors_origins)
        self.keys = tuple(k.encode() for k in config.write_keys)
        self.limiter = (
            TokenBucketLimiter(
                config.rate_limit_per_second,
                config.rate_limit_burst,
                max_keys=config.rate_limit_clients,
                clock=clock,
            )
            if config.rate_limit_per_second > 0
            else None
        )
        self.cookie_tail = config.cookie.attributes()


def check_write_key(settings: Settings, given: str | None) -> None:
    """Raise a 401 ``Reject`` unless write keys are off or ``given`` is one of them."""
    keys = settings.keys
    if not keys:
        return
    raw = (given or "").encode("utf-8", "surrogatepass")
    ok = False
    for key in keys:
        # compare every key in constant time; no early exit that leaks which one matched
        ok |= hmac.compare_digest(raw, key)
    if not ok:
        raise Reject(401, "missing or invalid write key", "writeKey", "unauthorized")


class Intake:
    """What a ``PendingBody`` hands its messages and answers to: the ``Persona``'s ingest
    callables and the collector's clock, counters and error answers (built once per
    ``Collector``)."""

    __slots__ = ("clock", "count", "ingest", "ingest_batch", "reject")

    def __init__(
        self,
        ingest: IngestFn,
        ingest_batch: IngestBatch,
        clock: Callable[[], float],
        count: Callable[..., None],
        reject: Callable[[Reject, list[tuple[str, str]]], CollectorResponse],
    ) -> None:
        self.ingest = ingest
        self.ingest_batch = ingest_batch
        self.clock = clock
        self.count = count
        self.reject = reject


class PendingBody:
    """A routed request waiting for its body; ``limit`` is the most bytes worth reading."""

    __slots__ = (
        "_cors", "_head", "_intake", "_kind", "_msg_type", "_settings", "client", "gzip",
        "limit", "write_key",
    )

    def __init__(
        self,
        intake: Intake,
        settings: Settings,
        *,
        head: RequestHead,
        kind: str,
        msg_type: str | None,
        limit: int,
        client: str | None,
        cors: list[tuple[str, str]],
    ) -> None:
        self._intake = intake
        self._settings = settings
        self._head = head
        self._kind = kind
        self._msg_type = msg_type
        self._cors = cors
        self.limit = limit
        self.client = client
        self.gzip = False
        self.write_key: str | None = None

    def finish(self, body: bytes) -> CollectorResponse:
        """Answer the request given its body (more than ``limit`` bytes means 413)."""
        return self.guard(lambda: self._finish(body))

    def guard(self, step: Callable[[], CollectorResponse]) -> CollectorResponse:
        """Run ``step``, turning every failure into a JSON error response."""
        try:
            return step()
        except Reject as exc:
            return self._intake.reject(exc, self._cors)
        except ClosedError:
            return self._intake.reject(
                Reject(503, "the collector is shutting down", None, "unavailable"), self._cors
            )
        except SpoolError as exc:
            # sync spool mode: the events could not be put on disk (the spool is full, or the
            # disk failed), so no 200. Messages of a batch written before it are kept; a
            # client's retry sends them again under the same messageId (receivers dedupe).
            return self._intake.reject(
                Reject(503, f"events cannot be stored now ({exc}); retry later", None,
                       "unavailable", headers=[("retry-after", "30")]), self._cors
            )
        except Exception:  # pragma: no cover - a bug, never bad input; fuzzing guards this
            log.exception("collector failed on %s %s", self._head.method, self._head.path)
            return self._intake.reject(
                Reject(500, "internal error", None, "internal_error"), self._cors
            )

    def _finish(self, body: bytes) -> CollectorResponse:
        cfg = self._settings.config
        if len(body) > self.limit:
            raise Reject(413, f"the body is over the {self.limit}-byte limit", "body", "too_large")
        if self.gzip:
            body = gunzip(body, self.limit)
        payload = decode_json_object(body, cfg.max_depth, duplicates=False)
        if self._kind == "batch" or (self._kind == "beacon" and "batch" in payload):
            batch = payload.get("batch")
            if not isinstance(batch, list):
                check_duplicates(body, payload)
                raise Reject(400, "batch must be an array of messages", "batch", "invalid_type")
            self._bound_batch(len(batch))
            encoded = encode_batch(body, payload, batch)
            self._take_write_key(payload)
            return self.ingest_batch(batch, payload, encoded)
        check_duplicates(body, payload)
        self._take_write_key(payload)
        if self._msg_type is not None:
            declared = payload.setdefault("type", self._msg_type)
            if declared != self._msg_type:
                raise Reject(400, f"this endpoint takes {self._msg_type} calls", "type",
                             "invalid_type")
        return self.ingest(payload)

    def _bound_batch(self, items: int) -> None:
        # Work per request is bounded by the message count, checked before any message is
        # looked at; the rate limiter counts messages (the request already paid one token).
        s = self._settings
        cap = s.config.max_batch_items
        if items > cap:
            raise Reject(413, f"the batch has {items} messages, over the {cap}-message limit",
                         "batch", "too_large")
        limiter = s.limiter
        if limiter is None or items <= 1:
            return
        if items > limiter.burst:
            raise Reject(413, f"the batch has {items} messages, over the rate limit's burst of "
                         f"{int(limiter.burst)}: send smaller batches", "batch", "too_large")
        wait = limiter.acquire(rate_key(self.client), items - 1)
        if wait:
            raise Reject(429, "too many messages", None, "rate_limited",
                         headers=[("retry-after", str(max(1, math.ceil(wait))))])

    def _take_write_key(self, payload: dict[str, Any]) -> None:
        key = payload.pop("writeKey", None)
        if self.write_key is None and isinstance(key, str):
            self.write_key = key

    def _check_key(self) -> None:
        check_write_key(self._settings, self.write_key)

    def _facts(self) -> RequestFacts:
        head = self._head
        cookies = parse_cookies(head.headers.get("cookie"))
        cfg = self._settings.config
        return RequestFacts(
            cfg,
            ip=self.client,
            user_agent=head.headers.get("user-agent"),
            gpc=head.headers.get("sec-gpc"),
            consent_cookie=cookies.get(cfg.cookie.consent_name),
            visitor_id=valid_visitor_id(cookies.get(cfg.cookie.name)),
        )

    def ingest(self, message: dict[str, Any]) -> CollectorResponse:
        """Stamp and ingest one message (single endpoints, single beacons, the pixel)."""
        self._check_key()
        if "batch" in message:
            raise Reject(400, "this endpoint takes one message, not a batch", "batch",
                         "invalid_type")
        message.pop("writeKey", None)
        facts = self._facts()
        if facts.is_bot():
            return self._bot()
        stamp_messages([message], facts, None)
        intake = self._intake
        try:
            results = intake.ingest(message, received_at=intake.clock())
        except EventValidationError as exc:
            raise Reject(400, exc.reason, exc.field, "invalid_event") from None
        except (UnicodeError, RecursionError):
            raise Reject(400, "a value cannot be encoded as JSON", None, "invalid_event") from None
        errors = [(r.index, r.error or "") for r in results if not r.ok]
        return self._answer(len(results) - len(errors), errors, facts, single=True)

    def ingest_batch(
        self, batch: list[Any], envelope: dict[str, Any], encoded: list[bytes]
    ) -> CollectorResponse:
        """Stamp and ingest a ``{"batch": [...]}`` envelope, given each message as
        ``encode_batch`` encoded it (for the per-event cap); partial acceptance is a 200."""
        self._check_key()
        facts = self._facts()
        if facts.is_bot():
            return self._bot()
        # The cap counts each message as it will be sent, after the stamp: those that may be
        # over it once stamped are measured exactly (the rest need no second encoding).
        near = MAX_EVENT_BYTES - WIRE_GROWTH - stamp_room(facts, envelope)
        oversized = {i: len(raw) for i, raw in enumerate(encoded) if len(raw) > near}
        stamp_messages(batch, facts, envelope)
        intake = self._intake
        accepted, errors = intake.ingest_batch(batch, intake.clock(), oversized)
        return self._answer(accepted, errors, facts, single=False)

    def _bot(self) -> CollectorResponse:
        # A bot gets the answer a browser would, so it has nothing to adapt to.
        self._intake.count(bots=1, status_200=1)
        return self._ok(_encode({"success": True, "accepted": 0}), None)

    def _ok(self, body: bytes, set_cookie: str | None) -> CollectorResponse:
        headers = [JSON_HEADER, NO_STORE, *self._cors]
        if set_cookie:
            headers.append(("set-cookie", set_cookie))
        if self._kind == "pixel":
            headers[0] = ("content-type", "image/gif")
            body = PIXEL_GIF
        return CollectorResponse(200, headers, body)

    def _answer(
        self, accepted: int, failures: list[tuple[int, str]], facts: RequestFacts, *, single: bool
    ) -> CollectorResponse:
        # The answer's size is bounded whatever the batch: the first rejections in full, then
        # counts by reason (a small gzipped body of bad messages must not amplify).
        errors = []
        reasons: dict[str, int] = {}
        for index, error in failures[:MAX_LISTED_ERRORS]:
            field, _, reason = error.partition(": ")
            errors.append({"index": index, "error": reason or field, "field": field})
        if len(failures) > MAX_LISTED_ERRORS:
            for _, error in failures:
                reason = _reason(error)
                if reason not in reasons and len(reasons) >= MAX_REASONS:
                    reason = "other"
                reasons[reason] = reasons.get(reason, 0) + 1
        self._intake.count(accepted=accepted, rejected=len(failures))
        set_cookie = None
        if facts.cookie_value is not None:
            s = self._settings
            set_cookie = f"{s.config.cookie.name}={facts.cookie_value}; {s.cookie_tail}"
        summary: dict[str, Any] = {"rejected": len(failures), "errors": errors}
        if reasons:
            summary["reasons"] = reasons
        if errors and (single or accepted == 0):
            first = errors[0]
            raise Reject(400, str(first["error"]), str(first["field"]), "invalid_event",
                         extra=None if single else summary)
        doc: dict[str, Any] = {"success": True, "accepted": accepted}
        if errors:
            doc.update(summary)
        self._intake.count(status_200=1)
        return self._ok(_encode(doc), set_cookie)


def _reason(error: str) -> str:
    # "batch[7].event: must be a string" -> "event: must be a string": one key per kind of
    # mistake, not per message
    field, sep, reason = error.partition(": ")
    if field.startswith("batch[") and "]" in field:
        field = field[field.index("]") + 1 :].lstrip(".") or "batch[]"
    return (field + sep + reason)[:MAX_REASON_CHARS]
