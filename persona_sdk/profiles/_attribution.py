"""Attribution: touchpoints kept per profile, and credit for conversions by four models.

A touchpoint is where a visit came from: a campaign (``context.campaign``, or ``utm_*`` in
the page URL), a click id (``gclid``, ``fbclid``, ``msclkid``, ``ttclid``, ``li_fat_id``)
or an outside referrer. Each becomes a channel label (``google / cpc``,
``newsletter / email / spring``, ``example.org / referral``); a visit with none of them is
direct and adds no touchpoint. The ``attribution`` computed trait keeps the last ``limit``
touchpoints (consecutive repeats of a channel are one touchpoint) and, at each conversion
event, credits the conversion's value over the touchpoints that led to it:

- ``first``: all to the first touchpoint;
- ``last``: all to the last one;
- ``linear``: shared equally;
- ``position``: 40 % to the first, 40 % to the last, 20 % shared by those between (half
  each with two touchpoints).

A conversion with no touchpoint is credited to ``direct``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .._errors import EventValidationError
from ..events import Message, to_epoch
from ._computed_kinds import Kind, _dig, _number

if TYPE_CHECKING:
    from ..config import ComputedTraitConfig

__all__ = [
    "MODELS",
    "Attribution",
    "attribution_credit",
    "attribution_from_events",
    "channel_of",
    "channel_of_context",
    "merge_reports",
]

#: the credit models
MODELS = ("first", "last", "linear", "position")
DIRECT = "direct"
_CLICK_IDS = {
    "gclid": "google / cpc",
    "gbraid": "google / cpc",
    "wbraid": "google / cpc",
    "fbclid": "facebook / paid_social",
    "msclkid": "bing / cpc",
    "ttclid": "tiktok / paid_social",
    "li_fat_id": "linkedin / paid_social",
}
_MAX_CHANNELS = 100  # credit kept per model for at most this many channels
_MAX_LABEL = 120


def attribution_credit(channels: Sequence[str], value: float, model: str) -> dict[str, float]:
    """Credit ``value`` over the ``channels`` of one conversion path by ``model``.

    Usage::

        attribution_credit(["google / cpc", "newsletter / email"], 100.0, "position")
        # {"google / cpc": 50.0, "newsletter / email": 50.0}
    """
    if model not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
    if not channels:
        return {DIRECT: value}
    n = len(channels)
    shares: list[float]
    if model == "first":
        shares = [1.0] + [0.0] * (n - 1)
    elif model == "last":
        shares = [0.0] * (n - 1) + [1.0]
    elif model == "linear" or n <= 2:
        shares = [1.0 / n] * n
    else:
        middle = 0.2 / (n - 2)
        shares = [0.4] + [middle] * (n - 2) + [0.4]
    out: dict[str, float] = {}
    for ch, share in zip(channels, shares, strict=True):
        if share:
            out[ch] = out.get(ch, 0.0) + value * share
    return out


def channel_of(msg: Message) -> str | None:
    """The channel a message's visit came from, or None (direct, or not a visit's event)."""
    return channel_of_context(msg.context or {})


def channel_of_context(ctx: Mapping[str, Any]) -> str | None:
    """``channel_of`` for a Segment event's ``context`` object (as an event file holds it)."""
    page = ctx.get("page") if isinstance(ctx.get("page"), dict) else None
    params: dict[str, str] = {}
    url = page.get("url") if page else None
    if isinstance(url, str) and len(url) < 4096:
        try:
            params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)[:50]}
        except ValueError:
            params = {}
    campaign = ctx.get("campaign")
    if isinstance(campaign, dict) and (campaign.get("source") or campaign.get("medium")):
        parts = [campaign.get("source"), campaign.get("medium"), campaign.get("name")]
    elif params.get("utm_source") or params.get("utm_medium"):
        parts = [params.get("utm_source"), params.get("utm_medium"), params.get("utm_campaign")]
    else:
        parts = []
    label = " / ".join(str(p) for p in parts if p)
    if label:
        return label[:_MAX_LABEL]
    for key, channel in _CLICK_IDS.items():
        if params.get(key):
            return channel
    referrer = (page.get("referrer") if page else None) or ctx.get("referrer")
    if isinstance(referrer, dict):
        referrer = referrer.get("url") or referrer.get("link")
    if isinstance(referrer, str) and referrer:
        try:
            host = (urlsplit(referrer).hostname or "").removeprefix("www.")
            own = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
            own = own.removeprefix("www.")
        except ValueError:
            return None
        if host and host != own:
            return f"{host[:_MAX_LABEL]} / referral"
    return None


def _new_state() -> list[Any]:
    return [[], 0, 0.0, {m: {} for m in MODELS}]


def _touch(touch: list[list[Any]], channel: str, ts: float, limit: int) -> None:
    # consecutive visits from one channel are one touchpoint (its latest time)
    if touch and touch[-1][1] == channel:
        touch[-1][0] = max(touch[-1][0], ts)
    else:
        touch.append([ts, channel])
        touch.sort(key=lambda t: t[0])
        del touch[:-limit]


def _convert(st: list[Any], value: float | None, ts: float) -> None:
    value = 1.0 if value is None else value
    path = [ch for t, ch in st[0] if t <= ts]
    st[1] += 1
    st[2] += value
    for model in MODELS:
        _add(st[3][model], attribution_credit(path, value, model))


def _add(into: dict[str, float], credit: Mapping[str, float]) -> None:
    for ch, v in credit.items():
        into[ch] = into.get(ch, 0.0) + v
    if len(into) > _MAX_CHANNELS:
        for ch in sorted(into, key=lambda c: into[c])[: len(into) - _MAX_CHANNELS]:
            del into[ch]


class Attribution(Kind):
    """Touchpoints and credit: ``[touchpoints [[ts, channel]], conversions, value,
    {model: {channel: credit}}]``."""

    def __init__(self, cfg: ComputedTraitConfig, path: tuple[str, ...]) -> None:
        super().__init__(cfg, path)
        self.conversion = cfg.conversion
        self.limit = min(cfg.limit, 50)

    def update(self, state: Any, msg: Message) -> Any:
        st: list[Any] = _new_state() if state is None else state
        channel = channel_of(msg)
        if channel is not None:
            _touch(st[0], channel, msg.timestamp, self.limit)
        if msg.type == "track" and msg.event == self.conversion:
            _convert(st, _number(_dig(msg.properties, self.path or ("revenue",))), msg.timestamp)
        elif state is None and channel is None:
            return None  # nothing learned yet
        return st

    def read(self, state: Any, now: float) -> Any:
        channels = [ch for _, ch in state[0]]
        return {
            "first_touch": channels[0] if channels else None,
            "last_touch": channels[-1] if channels else None,
            "touchpoints": channels,
            "conversions": state[1],
            "value": round(state[2], 2),
            "credit": {
                m: {ch: round(v, 4) for ch, v in sorted(c.items(), key=lambda kv: -kv[1])}
                for m, c in state[3].items()
            },
        }

    def merge(self, a: Any, b: Any) -> Any:
        seen = {(ts, ch) for ts, ch in a[0]}
        touch = sorted([list(t) for t in a[0]] + [list(t) for t in b[0] if tuple(t) not in seen])
        credit = {m: dict(a[3].get(m, {})) for m in MODELS}
        for m in MODELS:
            _add(credit[m], b[3].get(m, {}))
        return [touch[-self.limit :], a[1] + b[1], a[2] + b[2], credit]

    def copy(self, state: Any) -> Any:
        return [[list(t) for t in state[0]], state[1], state[2],
                {m: dict(c) for m, c in state[3].items()}]  # fmt: skip

    def from_wire(self, wire: Any) -> Any:
        touch, n, value, credit = wire
        return [
            [[float(ts), str(ch)] for ts, ch in touch][-self.limit :],
            int(n),
            float(value),
            {m: {str(ch): float(v) for ch, v in credit.get(m, {}).items()} for m in MODELS},
        ]


def merge_reports(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum ``attribution`` trait values (of many visitors) into one report:
    ``{"conversions", "value", "credit": {model: {channel: credit}}}``, channels by credit."""
    conversions = 0
    value = 0.0
    credit: dict[str, dict[str, float]] = {m: {} for m in MODELS}
    for r in reports:
        conversions += int(r.get("conversions", 0))
        value += float(r.get("value", 0.0))
        for m in MODELS:
            for ch, v in (r.get("credit", {}).get(m) or {}).items():
                credit[m][ch] = credit[m].get(ch, 0.0) + v
    return {
        "conversions": conversions,
        "value": round(value, 2),
        "credit": {
            m: {ch: round(v, 2) for ch, v in sorted(c.items(), key=lambda kv: -kv[1])}
            for m, c in credit.items()
        },
    }


def _epoch(event: Mapping[str, Any]) -> float | None:
    stamp = event.get("timestamp") or event.get("receivedAt")
    if stamp is None:
        return None
    try:
        return to_epoch(stamp)
    except EventValidationError:
        return None


def attribution_from_events(
    events: Iterable[Mapping[str, Any]],
    *,
    conversion: str = "Order Completed",
    value: str = "revenue",
    limit: int = 20,
) -> dict[str, Any]:
    """Attribution over Segment-shaped events (an event file, an export): each person's
    touchpoints and conversions replayed in time order, credited by every model as the
    ``attribution`` computed trait does, and summed.

    A person is a ``userId``; events under an ``anonymousId`` that some event links to a
    ``userId`` (a login, an ``identify``) count as that user's, so touchpoints before a login
    lead to a conversion after it. ``value`` is the conversion's property holding its value
    (dotted path; 1 when absent). Returns ``merge_reports``' shape plus ``conversion``,
    ``people`` and ``people_converted``.

    Usage::

        from persona_sdk.content import read_events
        attribution_from_events(read_events(["var/events"]), conversion="Order Completed")

    .. versionadded:: 0.2.0
    """
    if limit < 1:
        raise ValueError("limit: must be at least 1")
    kept, link = _in_time_order(events)
    path = tuple(value.split(".")) if value else ("revenue",)
    people: dict[str, list[Any]] = {}
    for ts, _, uid, aid, event in kept:
        who = uid or link.get(aid or "", aid)
        assert who is not None
        st = people.get(who)
        if st is None:
            st = people[who] = _new_state()
        ctx = event.get("context")
        channel = channel_of_context(ctx) if isinstance(ctx, Mapping) else None
        if channel is not None:
            _touch(st[0], channel, ts, limit)
        if event.get("type", "track") == "track" and event.get("event") == conversion:
            props = event.get("properties")
            _convert(st, _number(_dig(props if isinstance(props, dict) else {}, path)), ts)
    report = merge_reports(
        {"conversions": st[1], "value": st[2], "credit": st[3]} for st in people.values()
    )
    return {
        "conversion": conversion,
        "people": len(people),
        "people_converted": sum(1 for st in people.values() if st[1]),
        **report,
    }


_Kept = tuple[float, int, str | None, str | None, Mapping[str, Any]]


def _in_time_order(
    events: Iterable[Mapping[str, Any]],
) -> tuple[list[_Kept], dict[str, str]]:
    """The events with an id and a time, in time order (file order among equals), and the
    links from an ``anonymousId`` to the ``userId`` an event gave it."""
    link: dict[str, str] = {}
    kept: list[_Kept] = []
    for n, event in enumerate(events):
        uid, aid = event.get("userId"), event.get("anonymousId")
        uid = uid if isinstance(uid, str) and uid else None
        aid = aid if isinstance(aid, str) and aid else None
        if uid is None and aid is None:
            continue
        if uid is not None and aid is not None:
            link.setdefault(aid, uid)
        ts = _epoch(event)
        if ts is not None:
            kept.append((ts, n, uid, aid, event))
    kept.sort(key=lambda k: (k[0], k[1]))
    return kept, link
