"""Validation of events and decoding of Segment-shaped payloads (``persona.ingest``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from .._errors import EventValidationError, PayloadTooLarge
from ._model import (
    MAX_EVENT_BYTES,
    Message,
    UnencodableEvent,
    message_id_problem,
    new_message_id,
    to_segment_json,
)
from ._values import EPOCH_RANGE, check_finite, out_of_range

__all__ = [
    "WIRE_GROWTH",
    "IngestResult",
    "check_message",
    "decode_checked",
    "decode_messages",
    "measure",
]

#: The most bytes a message's wire form (``to_segment_json``, what destinations get) can gain
#: over the message as received: ``receivedAt``, a re-rendered ``timestamp`` and ``sentAt``, a
#: minted ``messageId``, an empty ``context``, numeric ids turned into strings. A message whose
#: received size plus this is under the cap needs no exact measure.
WIRE_GROWTH = 512

_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})


class IngestResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The outcome of one message given to ``persona.ingest``.

    ``ok`` is true when the message was accepted into the tag layer; otherwise ``error`` says
    why, starting with the path of the bad field (``batch[3].event: ...``).
    """

    index: int
    ok: bool
    message_id: str | None = None
    error: str | None = None


class _Wire(msgspec.Struct, rename="camel", kw_only=True):
    # The Segment spec's wire shape; unknown keys are ignored as Segment's API does.
    type: str
    message_id: str | None = None
    anonymous_id: str | int | None = None
    user_id: str | int | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    group_id: str | int | None = None
    previous_id: str | int | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    timestamp: datetime | None = None
    sent_at: datetime | None = None
    original_timestamp: datetime | None = None


class _Batch(msgspec.Struct):
    batch: list[msgspec.Raw]


#: the wire names ``_Wire`` reads; any other top-level field is kept in ``Message.extra``
_KNOWN = frozenset(f.encode_name for f in msgspec.structs.fields(_Wire))
#: top-level fields never passed on: stamped by the receiver, or a secret
_DROPPED = frozenset({"receivedAt", "writeKey"})
_batch_decoder = msgspec.json.Decoder(_Batch)
_any_decoder = msgspec.json.Decoder()


def check_message(msg: Message, prefix: str = "") -> None:
    """Raise ``EventValidationError`` naming the field when ``msg`` breaks the Segment spec."""
    if msg.type not in _TYPES:
        raise EventValidationError(f"{prefix}type", f"unknown message type {msg.type!r}")
    if not msg.anonymous_id and not msg.user_id:
        raise EventValidationError(
            f"{prefix}anonymousId", "either anonymousId or userId is required"
        )
    if msg.type == "track" and (not isinstance(msg.event, str) or not msg.event):
        raise EventValidationError(f"{prefix}event", "a track call needs a non-empty event name")
    if msg.type == "group" and not msg.group_id:
        raise EventValidationError(f"{prefix}groupId", "a group call needs a groupId")
    if msg.type == "alias":
        if not msg.previous_id:
            raise EventValidationError(f"{prefix}previousId", "an alias call needs a previousId")
        if not msg.user_id:
            raise EventValidationError(f"{prefix}userId", "an alias call needs a userId")


def _from_wire(
    w: _Wire, received_at: float, prefix: str, extra: dict[str, Any] | None = None
) -> Message:
    # once per ingested event: locals and inline conversions rather than helper calls
    ts = w.timestamp or w.original_timestamp
    sent = w.sent_at
    aid, uid, gid, pid = w.anonymous_id, w.user_id, w.group_id, w.previous_id
    mid = w.message_id
    if mid:
        # refused at the edge: an id reaches HTTP headers (webhook-id) and spool rows
        problem = message_id_problem(mid)
        if problem is not None:
            raise EventValidationError(f"{prefix}messageId", problem)
    stamp = ts.timestamp() if ts is not None and ts.tzinfo else received_at
    sent_stamp = sent.timestamp() if sent is not None and sent.tzinfo else None
    # an offset can carry 9999-12-31 past year 9999 (or 0001-01-01 before year 1): refused
    # here, not accepted and then lost when it is rendered for a destination
    if not EPOCH_RANGE[0] <= stamp < EPOCH_RANGE[1]:
        where = "timestamp" if w.timestamp else "originalTimestamp"
        raise out_of_range(f"{prefix}{where}", stamp)
    if sent_stamp is not None and not EPOCH_RANGE[0] <= sent_stamp < EPOCH_RANGE[1]:
        raise out_of_range(f"{prefix}sentAt", sent_stamp)
    # positional: all seventeen fields by keyword cost msgspec about a microsecond more
    msg = Message(
        w.type,
        mid or new_message_id(),
        # Segment's libraries accept numeric ids and send them as strings
        aid if aid is None or aid.__class__ is str else str(aid),
        uid if uid is None or uid.__class__ is str else str(uid),
        w.event,
        w.name,
        w.category,
        gid if gid is None or gid.__class__ is str else str(gid),
        pid if pid is None or pid.__class__ is str else str(pid),
        w.properties,
        w.traits,
        w.context,
        w.integrations,
        stamp,
        sent_stamp,
        received_at,
        extra,
    )
    if msg.type != "track" or not (msg.anonymous_id or msg.user_id) or not msg.event:
        check_message(msg, prefix)  # raises, naming the field (a valid track never gets here)
    return msg


def measure(msg: Message, prefix: str) -> None:
    """Raise ``PayloadTooLarge`` when ``msg`` as it will be sent (its Segment JSON, with every
    stamp) is over the per-event cap: the one place the limit is checked for ingested events,
    so that what is accepted is never refused later as ``too_large``."""
    try:
        n = len(to_segment_json(msg))
    except UnencodableEvent:
        raise EventValidationError(
            prefix.rstrip(".") or "event", "a value cannot be encoded as JSON"
        ) from None
    if n > MAX_EVENT_BYTES:
        raise PayloadTooLarge(prefix.rstrip(".") or "event", n, MAX_EVENT_BYTES)


def _path(prefix: str, err: msgspec.ValidationError) -> EventValidationError:
    # msgspec reports "Expected `str`, got `int` - at `$.event`"; rewrite to "prefix.event: ...".
    text = str(err)
    field = ""
    if " - at `$" in text:
        text, _, where = text.partition(" - at `$")
        field = where.rstrip("`").lstrip(".")
        # rename msgspec's python names back to nothing: the Struct uses camel on the wire
    return EventValidationError(f"{prefix}{field}" if field else prefix.rstrip("."), text)


def decode_one(raw: bytes | Mapping[str, Any], received_at: float, prefix: str) -> Message:
    """Decode and validate one wire message (bytes or an already-parsed mapping)."""
    # The per-event cap counts the message as it will be sent (``measure``), stamps included.
    try:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            size = len(raw)
            # decoded to objects first: the unknown top-level fields are kept (Message.extra)
            raw = _any_decoder.decode(raw)
            if raw.__class__ is not dict:
                raise EventValidationError(prefix.rstrip(".") or "body", "expected a JSON object")
        else:
            size = -1
    except msgspec.DecodeError as exc:
        raise EventValidationError(prefix.rstrip(".") or "body", f"invalid JSON: {exc}") from None
    msg = _structure(raw, received_at, prefix)
    if size < 0:
        # Python objects (JSON text cannot hold them): NaN and ±Infinity are refused
        check_finite(msg.properties, f"{prefix}properties")
        check_finite(msg.traits, f"{prefix}traits")
        check_finite(msg.context, f"{prefix}context")
    if size < 0 or size + WIRE_GROWTH > MAX_EVENT_BYTES:
        measure(msg, prefix)
    return msg


def _structure(item: Mapping[str, Any], received_at: float, prefix: str) -> Message:
    # Structured from the objects at hand (no second JSON parse), then validated.
    try:
        wire = msgspec.convert(item, _Wire)
    except msgspec.ValidationError as exc:
        raise _path(prefix, exc) from None
    extra = None
    if not _KNOWN.issuperset(item):
        extra = {k: v for k, v in item.items() if k not in _KNOWN and k not in _DROPPED} or None
    return _from_wire(wire, received_at, prefix, extra)


def decode_messages(
    payload: bytes | Mapping[str, Any], *, received_at: float | None = None
) -> tuple[list[Message | None], list[IngestResult]]:
    """Decode one Segment message or a ``{"batch": [...]}`` envelope.

    Returns the decoded messages (``None`` where one was rejected) and one ``IngestResult``
    each. A bad message never spoils its neighbours. A body that is not JSON, or a batch
    that is not a list, raises ``EventValidationError``.
    """
    now = time.time() if received_at is None else received_at
    items: list[Any]
    if isinstance(payload, (bytes, bytearray, memoryview)):
        body = bytes(payload)
        try:
            parsed = _any_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise EventValidationError("body", f"invalid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise EventValidationError("body", "expected a JSON object")
        if "batch" in parsed:
            try:
                items = list(_batch_decoder.decode(body).batch)
            except msgspec.ValidationError as exc:
                raise _path("", exc) from None
            prefixes = [f"batch[{i}]." for i in range(len(items))]
        else:
            items, prefixes = [body], [""]
    elif isinstance(payload, Mapping):
        if "batch" in payload:
            batch = payload["batch"]
            if not isinstance(batch, list):
                raise EventValidationError("batch", "expected a list of messages")
            items = batch
            prefixes = [f"batch[{i}]." for i in range(len(items))]
        else:
            items, prefixes = [dict(payload)], [""]
    else:  # untyped callers (the collector passes what it read)
        kind = type(payload).__name__  # type: ignore[unreachable]
        raise EventValidationError("body", f"expected bytes or a mapping, got {kind}")

    messages: list[Message | None] = []
    results: list[IngestResult] = []
    for i, (item, prefix) in enumerate(zip(items, prefixes, strict=False)):
        raw: bytes | dict[str, Any] | None
        if isinstance(item, (bytes, bytearray, msgspec.Raw)):
            raw = bytes(item)
        else:
            raw = item if isinstance(item, dict) else None
        try:
            if raw is None:
                raise EventValidationError(prefix.rstrip(".") or "body", "expected a JSON object")
            msg = decode_one(raw, now, prefix)
        except EventValidationError as exc:
            messages.append(None)
            results.append(IngestResult(index=i, ok=False, error=str(exc)))
            continue
        messages.append(msg)
        results.append(IngestResult(index=i, ok=True, message_id=msg.message_id))
    return messages, results


def decode_checked(
    items: list[Any], received_at: float, oversized: Mapping[int, int]
) -> tuple[list[Message], list[tuple[int, str]]]:
    """Validate a batch whose messages were already decoded, stamped, and encoded once to size
    them (the collector's path): ``oversized`` holds the index of each message that may be
    over the cap once stamped (its size as received plus what the stamp can add, plus
    ``WIRE_GROWTH``); those are measured as they will be sent (``measure``). Returns the
    accepted messages, and ``(index, "batch[i].field: reason")`` for each rejected one."""
    accepted: list[Message] = []
    errors: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        try:
            if item.__class__ is not dict:
                raise EventValidationError(f"batch[{i}]", "expected a JSON object")
            msg = _structure(item, received_at, f"batch[{i}].")
            if oversized and i in oversized:
                measure(msg, f"batch[{i}]")
            accepted.append(msg)
        except EventValidationError as exc:
            errors.append((i, str(exc)))
    return accepted, errors
