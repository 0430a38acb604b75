"""The event model: one msgspec Struct for every Segment message type.

``Message`` is the in-process form: cheap to build on the request thread (timestamps are epoch
floats, formatted later, off that thread). ``to_segment`` produces the Segment-spec wire shape
(camelCase keys, ISO-8601 timestamps) that destinations and the spool use.
"""

from __future__ import annotations

import enum
import itertools
import math
import os
import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import msgspec

__all__ = [
    "MAX_EVENT_BYTES",
    "EventType",
    "Message",
    "consent_of",
    "format_ts",
    "new_message_id",
    "to_segment",
]

#: Per-event byte cap (encoded JSON), as Segment's tracking API enforces.
MAX_EVENT_BYTES = 32 * 1024


class EventType(str, enum.Enum):
    """The six Segment spec calls."""

    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


class _Ids:
    # A random per-process prefix plus a counter: unique without a syscall or 128 fresh random
    # bits per event (~5x cheaper than uuid4()). The prefix is redrawn in a forked child so
    # parent and child never issue the same id.
    prefix = ""
    counter: Iterator[int] = itertools.count()

    @classmethod
    def reseed(cls) -> None:
        # 80 random bits with the version-4 and RFC 4122 variant bits set, as uuid4() has
        h = f"{random.SystemRandom().getrandbits(80):020x}"
        cls.prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-"
        cls.counter = itertools.count(random.getrandbits(47))


_Ids.reseed()
os.register_at_fork(after_in_child=_Ids.reseed)


def new_message_id() -> str:
    """Return a fresh message id, formatted as a version-4 UUID.

    Ids are unique (a random per-process prefix and a counter), not unpredictable: they
    identify messages for deduplication, they are not secrets.
    """
    return f"{_Ids.prefix}{next(_Ids.counter) & 0xFFFFFFFFFFFF:012x}"


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One Segment-shaped message, in its in-process form.

    Timestamps are epoch seconds (``float``); ``to_segment`` renders them as ISO-8601.
    ``context`` and ``properties``/``traits`` are plain dicts, owned by the message once built.
    """

    type: str
    message_id: str
    anonymous_id: str | None = None
    user_id: str | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    timestamp: float = 0.0
    sent_at: float | None = None
    received_at: float | None = None

    @property
    def canonical_id(self) -> str:
        """The id profiles are keyed by: the user id when known, else the anonymous id."""
        return self.user_id or self.anonymous_id or ""


def consent_of(msg: Message) -> dict[str, bool] | None:
    """Return the visitor's consent purposes carried by ``msg``, or ``None`` when unknown.

    Reads Segment's consent object (``context.consent.categoryPreferences``).
    """
    ctx = msg.context
    if not ctx:
        return None
    consent = ctx.get("consent")
    if not isinstance(consent, dict):
        return None
    prefs = consent.get("categoryPreferences")
    return prefs if isinstance(prefs, dict) else None


# (whole second, "YYYY-MM-DDTHH:MM:SS") of the last formatted timestamp: events arrive in
# bursts within the same second, so the datetime work is done once per second. One tuple is
# swapped atomically, so threads never see a torn pair.
_last_second: tuple[int, str] = (-1, "")


def format_ts(ts: float) -> str:
    """Render epoch seconds as an ISO-8601 UTC timestamp with milliseconds."""
    global _last_second
    # the same rounding as datetime.fromtimestamp: to the microsecond, then truncate
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    sec = int(whole)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    elif us < 0:
        sec, us = sec - 1, us + 1_000_000
    millis = us // 1000
    cached = _last_second
    if cached[0] == sec:
        prefix = cached[1]
    else:
        prefix = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (sec, prefix)
    return f"{prefix}.{millis:03d}Z"


def to_segment(msg: Message, *, sent_at: float | None = None) -> dict[str, Any]:
    """Return the Segment-spec wire dict for ``msg`` (camelCase, ISO timestamps)."""
    out: dict[str, Any] = {"type": msg.type, "messageId": msg.message_id}
    if msg.anonymous_id is not None:
        out["anonymousId"] = msg.anonymous_id
    if msg.user_id is not None:
        out["userId"] = msg.user_id
    if msg.event is not None:
        out["event"] = msg.event
    if msg.name is not None:
        out["name"] = msg.name
    if msg.category is not None:
        out["category"] = msg.category
    if msg.group_id is not None:
        out["groupId"] = msg.group_id
    if msg.previous_id is not None:
        out["previousId"] = msg.previous_id
    if msg.properties is not None:
        out["properties"] = msg.properties
    if msg.traits is not None:
        out["traits"] = msg.traits
    out["context"] = msg.context if msg.context is not None else {}
    if msg.integrations is not None:
        out["integrations"] = msg.integrations
    out["timestamp"] = format_ts(msg.timestamp or time.time())
    if sent_at is not None or msg.sent_at is not None:
        out["sentAt"] = format_ts(sent_at if sent_at is not None else msg.sent_at)  # type: ignore[arg-type]
    if msg.received_at is not None:
        out["receivedAt"] = format_ts(msg.received_at)
    return out
