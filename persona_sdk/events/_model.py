"""The event model: one msgspec Struct for every Segment message type.

``Message`` is the in-process form: cheap to build on the request thread (timestamps are epoch
floats, formatted later, off that thread). ``to_segment`` produces the Segment-spec wire shape
(camelCase keys, ISO-8601 timestamps) that destinations and the spool use.
"""

from __future__ import annotations

import itertools
import operator
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Final

import msgspec

from .. import _lifecycle
from .._strenum import StrEnum

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_MESSAGE_ID_CHARS",
    "EventType",
    "Message",
    "UnencodableEvent",
    "consent_of",
    "format_ts",
    "message_id_problem",
    "new_message_id",
    "to_segment",
    "to_segment_json",
]

#: Per-event byte cap (encoded JSON), as Segment's tracking API enforces.
MAX_EVENT_BYTES = 32 * 1024


class EventType(StrEnum):
    """The six Segment spec calls."""

    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


# A random per-process prefix plus a counter: unique without a syscall or 128 fresh random
# bits per event (~5x cheaper than uuid4()). The prefix is redrawn in a forked child so parent
# and child never issue the same id.


class IdSource:
    """Where message ids come from: ``MESSAGE_IDS.next()`` is one C call (no Python frame;
    ``track()`` calls it on every event). Redrawn in a forked child by replacing ``next``:
    callers read the attribute on every call."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next: Callable[[], str] = id_chain("", 1 << 48)


#: an id's last two hex digits, in counting order
_TAILS = tuple(f"{i:02x}" for i in range(256))
#: hex() of the counter, which counts from 2**48 (+ a random 46-bit start): "0x1", then the
#: 10 digits a block of 256 ids shares, then the 2 of ``_TAILS``
_HEAD = operator.itemgetter(slice(3, 13))


def id_chain(prefix: str, start: int) -> Callable[[], str]:
    """``prefix + hex(n)[3:]`` for n = start, start + 1, ... (``start`` a multiple of 256):
    each call one id, made by one string concatenation in C (no Python frame).

    Ids stay unique across threads as ``itertools.count`` alone makes them: each block's
    head comes from the counter once and each tail of a block is taken once. The only
    Python code that can run inside a call is a garbage collection's finalizer, when a new
    block (a ``map``) is made; a thread that takes ids meanwhile takes a block of its own,
    and the one it was taking from is left (its rest never issued).
    """
    hexes = map(hex, itertools.count(start, 256))
    heads = map(operator.add, itertools.repeat(prefix), map(_HEAD, hexes))
    add = itertools.repeat(operator.add)
    blocks = map(map, add, map(itertools.repeat, heads), itertools.repeat(_TAILS))
    return itertools.chain.from_iterable(blocks).__next__


#: the process's message ids (``new_message_id``; the hot paths call ``MESSAGE_IDS.next``)
MESSAGE_IDS = IdSource()


def _reseed_ids() -> None:
    # 80 random bits with the version-4 and RFC 4122 variant bits set, as uuid4() has
    h = f"{random.SystemRandom().getrandbits(80):020x}"
    # a 46-bit start leaves 2**46 ids before the counter outgrows its 12 hex digits
    start = (1 << 48) | random.getrandbits(46) & ~0xFF  # a block's first id
    MESSAGE_IDS.next = id_chain(
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-", start
    )


_reseed_ids()
# first among the child hooks: the others may mint ids
_lifecycle.register("message ids", after_in_child=_reseed_ids, order=_lifecycle.EARLY)


#: The longest ``messageId`` accepted from outside (the collector, ``ingest``).
MAX_MESSAGE_ID_CHARS: Final = 200


def message_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a ``messageId`` from outside, or ``None`` when it can.

    An id travels in HTTP headers (the webhook destination's ``webhook-id``) and in spool
    rows, so it must be printable ASCII (no CR/LF, no control or non-ASCII characters), with
    no leading or trailing space, and at most ``MAX_MESSAGE_ID_CHARS`` long.
    """
    if len(value) > MAX_MESSAGE_ID_CHARS:
        return f"must be at most {MAX_MESSAGE_ID_CHARS} characters, got {len(value)}"
    if not (value.isascii() and value.isprintable()) or value.strip() != value:
        return "must be printable ASCII without leading or trailing spaces"
    return None


def new_message_id() -> str:
    """Return a fresh message id, formatted as a version-4 UUID.

    Ids are unique (a random per-process prefix and a counter), not unpredictable: they
    identify messages for deduplication, they are not secrets.
    """
    return MESSAGE_IDS.next()


class Message(msgspec.Struct, omit_defaults=True, gc=False):
    """One Segment-shaped message, in its in-process form.

    Timestamps are epoch seconds (``float``); ``to_segment`` renders them as ISO-8601.
    ``context`` and ``properties``/``traits`` are plain dicts, owned by the message once built.
    Messages are not tracked by the cyclic garbage collector (queues hold many of them), so
    their dicts must not refer back to the message, which JSON-shaped data never does.

    Build it with keywords. The fields are not keyword-only because the library builds one
    per ingested event positionally: msgspec matches seventeen keywords several times slower.
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
    #: top-level fields of the wire message this model has no field for (RudderStack's
    #: ``channel``, ``_metadata``...), kept as received and written back out by ``to_segment``
    extra: dict[str, Any] | None = None

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


#: ".000Z" ... ".999Z": the millisecond tail by table lookup rather than formatting
_MILLIS: tuple[str, ...] = tuple(f".{ms:03d}Z" for ms in range(1000))


@lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    # "YYYY-MM-DDTHH:MM:SS" of a whole second. Events come in bursts within a few seconds
    # (an event's own timestamp, its sentAt, its receivedAt: often three different ones),
    # so the datetime work is done once per distinct second, not per event.
    # isoformat, not strftime("%Y"): it pads a year below 1000 to four digits
    return datetime.fromtimestamp(sec, tz=timezone.utc).isoformat()[:19]


#: Timestamps already rendered: a batch's messages share their receivedAt and sentAt (and
#: often their timestamp). Cleared when full rather than kept in order: cheaper on a miss.
_RENDERED: dict[float, str] = {}
_RENDERED_MAX = 4096


def format_ts(ts: float) -> str:
    """Render epoch seconds as an ISO-8601 UTC timestamp with milliseconds."""
    text = _RENDERED.get(ts)
    if text is None:
        text = _format_ts(ts)
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[ts] = text
    return text


def _format_ts(ts: float) -> str:
    # datetime.fromtimestamp's rounding: the fraction to the microsecond (half to even),
    # then truncated to the millisecond. ``ts - int(ts)`` is exactly math.modf's fraction.
    sec = int(ts)
    us = round((ts - sec) * 1e6)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    elif us < 0:
        sec, us = sec - 1, us + 1_000_000
    return _second(sec) + _MILLIS[us // 1000]


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
    if msg.extra:
        for key, value in msg.extra.items():
            out.setdefault(key, value)  # never over a field of the spec
    return out


# to_segment's dict as a Struct msgspec encodes in C: Message's fields, in Message's order,
# with camelCase names; None (an absent field) is omitted, timestamps arrive as strings.
_WireOut: Any = msgspec.defstruct(
    "_WireOut",
    [(name, Any, None) for name in Message.__struct_fields__ if name != "extra"],
    rename="camel",
    omit_defaults=True,
    gc=False,
)


_encode = msgspec.json.Encoder().encode
#: ``(lo, hi, stamp)``: every epoch time ``lo <= ts < hi`` renders as ``stamp`` (the last
#: millisecond ``to_segment_json`` rendered, 2 µs clear of its edges: µs rounding and the
#: float error of ``lo``/``hi`` cannot carry a time inside across). A burst's events share
#: their millisecond (hundreds per ms), so most events cost two comparisons. Replaced whole
#: (one rebinding), so a thread reads a triple that belongs together.
_last_ms: tuple[float, float, str] = (1.0, 0.0, "")
#: below 2**32 s (year 2106) a float's error is under 0.5 µs, well inside the 2 µs margin
_MS_CACHE_BELOW = float(1 << 32)


def _render_ms(ts: float) -> str:
    """``format_ts(ts)`` for ``to_segment_json``, noting ``ts``'s millisecond in ``_last_ms``."""
    global _last_ms
    sec = int(ts)
    us = round((ts - sec) * 1e6)
    if not 0 <= us < 1_000_000 or ts >= _MS_CACHE_BELOW:
        return _format_ts(ts)
    ms = us // 1000
    stamp = _second(sec) + _MILLIS[ms]
    _last_ms = (sec + (ms * 1000 + 2) / 1e6, sec + (ms * 1000 + 998) / 1e6, stamp)
    return stamp


class UnencodableEvent(ValueError):
    """The message holds a value JSON cannot represent (raised by ``to_segment_json``)."""


def to_segment_json(msg: Message) -> bytes:
    """``msgspec.json.encode(to_segment(msg))``, without building the dict in between.

    Raises ``UnencodableEvent`` for values JSON cannot hold.
    """
    if msg.extra:  # rare: unknown top-level fields, merged by to_segment
        try:
            return _encode(to_segment(msg))
        except (TypeError, ValueError, OverflowError) as exc:
            raise UnencodableEvent(str(exc)) from exc
    # this runs for every event delivered: the fields read one by one (cheaper than
    # astuple's tuple), and the event's own time found in the last millisecond rendered
    # (rounding it costs a quarter of this function; see _last_ms)
    ts = msg.timestamp or time.time()
    last = _last_ms
    stamp = last[2] if last[0] <= ts < last[1] else _render_ms(ts)
    ctx = msg.context
    sent = msg.sent_at
    received = msg.received_at
    wire = _WireOut(
        msg.type, msg.message_id, msg.anonymous_id, msg.user_id, msg.event, msg.name,
        msg.category, msg.group_id, msg.previous_id, msg.properties, msg.traits,
        ctx if ctx is not None else {}, msg.integrations, stamp,
        None if sent is None else format_ts(sent),
        None if received is None else format_ts(received),
    )  # fmt: skip
    try:
        return _encode(wire)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UnencodableEvent(str(exc)) from exc
