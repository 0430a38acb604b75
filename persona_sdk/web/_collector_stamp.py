"""What the collector adds to each message from its request: ids, IP, user agent, consent."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

import msgspec

from ..config import CollectorConfig
from ..privacy import truncate_ip
from ._collector_http import RequestHead
from ._consent import gpc_enabled, read_consent_cookie
from ._cookie import new_visitor_id
from ._ua import is_bot

__all__ = ["RequestFacts", "client_address", "rate_key", "stamp_messages", "stamp_room"]


@lru_cache(maxsize=4096)
def _truncated(ip: str) -> str | None:
    # the same few addresses repeat; ipaddress parsing is the costly part
    return truncate_ip(ip)


@lru_cache(maxsize=4096)
def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def rate_key(client: str | None) -> str:
    """The rate limiter's key for a client address: IPv6 clients by /64 (one host commonly
    holds a whole /64, so per-address buckets would not limit it); an IPv4-mapped IPv6
    address (``::ffff:203.0.113.7``, what a dual-stack socket reports) by its IPv4 address."""
    if not client:
        return "-"
    if ":" in client:
        try:
            mapped = ipaddress.IPv6Address(client.strip("[]")).ipv4_mapped
        except ValueError:
            mapped = None
        if mapped is not None:
            return str(mapped)
        return truncate_ip(client, v6_prefix=64) or client
    return client


def _text(value: str | None) -> str | None:
    # Header text from a server is latin-1 and always encodable; a direct caller of the core
    # could pass lone surrogates, which must not reach JSON encoding.
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


def client_address(head: RequestHead, header: str | None) -> str | None:
    """The client's address: from ``header`` (set by a trusted proxy; the right-most entry of
    a list, the one that proxy appended) when configured and valid, else the peer address."""
    if header:
        value = head.headers.get(header.lower())
        if value:
            ip = _valid_ip(value.rsplit(",", 1)[-1][:64])
            if ip is not None:
                return ip
    return head.client


class RequestFacts:
    """Per-request facts stamped onto every message the request carries."""

    __slots__ = (
        "_config", "_consent", "_consent_cookie", "cookie_value", "gpc", "ip", "minted",
        "user_agent", "visitor_id",
    )

    def __init__(
        self,
        config: CollectorConfig,
        *,
        ip: str | None,
        user_agent: str | None,
        gpc: str | None,
        consent_cookie: str | None,
        visitor_id: str | None,
    ) -> None:
        self._config = config
        self.ip = _truncated(ip) if ip and config.truncate_ip else ip
        self.user_agent = _text(user_agent)
        self.gpc = gpc_enabled(gpc)
        self._consent_cookie = consent_cookie
        self._consent: dict[str, bool] | bool | None = False  # False: not parsed yet
        self.visitor_id = visitor_id
        self.minted: str | None = None
        # the visitor id to (re)write in the cookie: refreshed whenever the browser sent it
        self.cookie_value: str | None = visitor_id

    @property
    def consent(self) -> dict[str, bool] | None:
        """The consent cookie's purposes, parsed on first use."""
        if self._consent is False:
            self._consent = read_consent_cookie(self._consent_cookie)
        return self._consent  # type: ignore[return-value]

    def is_bot(self) -> bool:
        """Whether bot filtering is on and this request's user agent is a bot."""
        return self._config.filter_bots and is_bot(self.user_agent)

    def anonymous_id(self, has_user: bool) -> str | None:
        """The id for a message that carries no ``anonymousId``: the cookie's, else (for a
        message with no user id either) one minted for this request and set as the cookie."""
        if self.visitor_id is not None:
            return self.visitor_id
        if has_user:
            return None
        if self.minted is None:
            self.minted = self.cookie_value = new_visitor_id()
        return self.minted


def stamp_messages(
    batch: list[Any], facts: RequestFacts, envelope: dict[str, Any] | None
) -> None:
    """Fill each message (in place) from the request and the batch envelope.

    Adds ``anonymousId`` from the visitor cookie, ``context.ip`` (truncated when configured,
    including an IP the sender gave), ``context.userAgent``, ``context.gpc`` from ``Sec-GPC``,
    and ``context.consent`` from the consent cookie when the message has none; the envelope's
    ``context``, ``integrations`` and ``sentAt`` apply to messages without their own. Items
    that are not objects are left for validation to reject with their index.
    """
    shared_ctx = shared_int = sent_at = None
    if envelope is not None:
        c, i = envelope.get("context"), envelope.get("integrations")
        shared_ctx = c if type(c) is dict else None
        shared_int = i if type(i) is dict else None
        sent_at = envelope.get("sentAt")
    truncate = facts._config.truncate_ip
    consent = facts.consent
    for msg in batch:
        if type(msg) is not dict:
            continue
        msg.pop("writeKey", None)
        ctx = msg.get("context")
        if ctx is None:
            ctx = msg["context"] = {}
        elif type(ctx) is not dict:
            continue
        if shared_ctx:
            for key, value in shared_ctx.items():
                ctx.setdefault(key, value)
        if "ip" in ctx:
            if truncate:
                given = ctx["ip"]
                short = _truncated(given) if type(given) is str else None
                if short is None:
                    del ctx["ip"]
                else:
                    ctx["ip"] = short
        elif facts.ip:
            ctx["ip"] = facts.ip
        if facts.user_agent and "userAgent" not in ctx:
            ctx["userAgent"] = facts.user_agent
        if facts.gpc:
            ctx["gpc"] = True
        if consent is not None:
            given = ctx.get("consent")
            if type(given) is not dict:
                ctx["consent"] = {"categoryPreferences": dict(consent)}
            elif "categoryPreferences" not in given:
                ctx["consent"] = {**given, "categoryPreferences": dict(consent)}
        if not msg.get("anonymousId"):
            anon = facts.anonymous_id(bool(msg.get("userId")))
            if anon is not None:
                msg["anonymousId"] = anon
        if sent_at is not None and "sentAt" not in msg:
            msg["sentAt"] = sent_at
        if shared_int is not None and "integrations" not in msg:
            msg["integrations"] = shared_int


#: An ``anonymousId`` the stamp may add (a visitor id from the cookie or a minted one), key
#: and quotes included, with room to spare.
_ANONYMOUS_ID_ROOM = 96


def stamp_room(facts: RequestFacts, envelope: dict[str, Any] | None) -> int:
    """The most bytes ``stamp_messages`` can add to one message's JSON for this request: an
    empty message with a user id stamped the same way, measured, plus room for an
    ``anonymousId`` (the stamp only adds keys a message lacks, or replaces an IP with a
    shorter one)."""
    probe: dict[str, Any] = {"userId": "u"}  # a user id: nothing is minted for the probe
    stamp_messages([probe], facts, envelope)
    return len(msgspec.json.encode(probe)) + _ANONYMOUS_ID_ROOM
