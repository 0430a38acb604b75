"""One lookup's algorithm, written once: L2 store, breaker, source, one retry, fallback.

``plan`` is a generator that yields operations (``StoreGet``, ``Fetch``, ``Sleep``) and
returns an ``Outcome``; it holds every decision and does no I/O. The drivers
(``_lookup_drive``) run it: ``drive_async`` on the resolver's I/O loop (with ``aget``),
``drive_sync`` inline (with ``get``, for in-process sources). Remote lookups from sync and
async callers therefore share one algorithm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import msgspec
from attrs import frozen

from .._breaker import CircuitBreaker
from .._retry_after import bounded_delay
from ..config import ProfilesConfig
from ._store import WireEntry, decode_entry
from ._types import (
    EMPTY,
    FetchErrorKind,
    FetchResult,
    Profile,
    ProfileReason,
    ProfileSource,
    ProfileSourceKind,
    ProfileStore,
)

__all__ = [
    "Entry",
    "Fetch",
    "Outcome",
    "Sleep",
    "StoreGet",
    "plan",
]

#: A retry is only worth it with at least this much of the deadline left (seconds).
MIN_ATTEMPT = 0.005
#: identity links followed at most in the store (a chain of merges; a cycle stops earlier)
MAX_HOPS = 16

_KINDS = tuple(ProfileSourceKind)
KIND_INDEX = {k: i for i, k in enumerate(_KINDS)}
_blob_decoder = msgspec.json.Decoder(dict[str, Any])


class Entry:
    """One cached lookup in the L1 cache: found or not found, fresh until, kept until."""

    __slots__ = ("expires_at", "found", "fresh_until", "refresh_at", "traits", "views")

    def __init__(
        self, found: bool, traits: Mapping[str, Any], fresh_until: float, expires_at: float
    ) -> None:
        self.found = found
        self.traits = traits
        self.fresh_until = fresh_until
        self.expires_at = expires_at
        self.refresh_at = fresh_until  # the first stale hit may start a refresh
        # Profiles built from this entry, per (source kind, personalization granted)
        self.views: list[Profile | None] = [None] * (2 * len(_KINDS))

    @classmethod
    def from_result(cls, result: FetchResult, now: float, cfg: ProfilesConfig) -> Entry:
        """A fresh entry for what the source answered."""
        found = result.status.value == "found"
        fresh = now + (cfg.ttl if found else cfg.negative_ttl)
        # read-only: every request shares this mapping
        traits = MappingProxyType(dict(result.traits)) if found else EMPTY
        return cls(found, traits, fresh, fresh + cfg.stale_grace)

    @classmethod
    def from_wire(cls, wire: WireEntry) -> Entry:
        """An entry read back from the L2 store."""
        traits = MappingProxyType(wire.traits) if wire.found else EMPTY
        return cls(wire.found, traits, wire.fresh_until, wire.expires_at)

    def to_wire(self) -> WireEntry:
        """The entry as the L2 store keeps it."""
        return WireEntry(
            found=self.found,
            traits=dict(self.traits),
            fresh_until=self.fresh_until,
            expires_at=self.expires_at,
        )


@frozen
class Outcome:
    """What one lookup produced, for every caller waiting on it."""

    kind: ProfileSourceKind
    entry: Entry | None
    reasons: tuple[ProfileReason, ...] = ()
    peers: Mapping[str, Any] | None = None  # other processes' computed traits (L2)
    store_error: bool = False  # the L2 store failed (read as a miss; counted)
    canonical: str | None = None  # another process linked this anonymous id to this user id

    @classmethod
    def fallback(cls, reason: ProfileReason) -> Outcome:
        """Nothing usable, for ``reason``."""
        return cls(ProfileSourceKind.FALLBACK, None, (reason,))


@frozen
class StoreGet:
    """Read these keys from the L2 store; the reply is a tuple of ``bytes | None``.

    The key at index ``fields_at`` (if any) is a hash read with ``get_fields``; its reply is
    the fields as one JSON object (``{"<field>": <value>, ...}``), the shape a plain ``get``
    of a blob gives."""

    keys: tuple[str, ...]
    timeout: float
    fields_at: int = -1


@frozen
class Fetch:
    """Ask the source; the reply is ``(FetchResult, elapsed seconds)``."""

    profile_id: str
    id_type: str
    timeout: float


@frozen
class Sleep:
    """Wait before the retry (a server's Retry-After that fits the deadline)."""

    seconds: float


Op = StoreGet | Fetch | Sleep
Plan = Generator[Op, Any, Outcome]


@frozen(kw_only=True)
class PlanContext:
    """What ``plan`` needs from the resolver's current settings."""

    cfg: ProfilesConfig
    source: ProfileSource | None
    store: ProfileStore | None
    breaker: CircuitBreaker
    clock: Callable[[], float]
    entry_key: Callable[[str], str]
    computed_key: Callable[[str], str]
    wants_peers: bool
    link_key: Callable[[str], str] | None = None  #: where identity links live in the store
    fields: bool = False  #: the store keeps computed traits as hashes (``get_fields``)
    #: where the ids linked to an id are listed in the store (a hash: ``forget`` walks it)
    back_key: Callable[[str], str] | None = None


def _decode_blob(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        return _blob_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


#: what a driver replies for a key the store failed to read (``plan`` reads it as a miss)
STORE_FAILED: Any = object()


def plan(ctx: PlanContext, key: str, id_type: str, *, wait_until: float, give_up_at: float) -> Plan:
    """The lookup of ``key`` (see ``_plan``); an L2 read that failed is a miss, and the
    outcome says so (``store_error``) for the resolver to count."""
    inner = _plan(ctx, key, id_type, wait_until=wait_until, give_up_at=give_up_at)
    failed = False
    reply: Any = None
    try:
        while True:
            op = inner.send(reply)
            reply = yield op
            if isinstance(op, StoreGet) and any(r is STORE_FAILED for r in reply):
                failed = True
                reply = tuple(None if r is STORE_FAILED else r for r in reply)
    except StopIteration as stop:
        outcome: Outcome = stop.value
    finally:
        inner.close()
    if failed:
        outcome = attrs.evolve(outcome, store_error=True)
    return outcome


def _plan(
    ctx: PlanContext, key: str, id_type: str, *, wait_until: float, give_up_at: float
) -> Plan:
    """The lookup of ``key``, or of the id another process linked it to: identity links kept
    in the store are followed to the end of their chain (``MAX_HOPS`` at most, stopping
    where a cycle closes; ``Outcome.canonical`` then names that id). Each hop reads the link
    together with the entry it would otherwise need: no link costs no extra round trip."""
    canonical: str | None = None
    prefetched: tuple[Any, ...] | None = None
    if ctx.store is not None and ctx.link_key is not None:
        seen = {key}
        for _ in range(MAX_HOPS):
            keys = _entry_keys(ctx, key)
            raw = yield StoreGet(
                (ctx.link_key(key), *keys),
                max(0.0, wait_until - time.monotonic()),
                fields_at=len(keys) if ctx.wants_peers and ctx.fields else -1,
            )
            link = raw[0]
            target = link.decode("utf-8", "replace") if isinstance(link, bytes) else ""
            if not target or target in seen:
                prefetched = raw[1:]
                break
            seen.add(target)
            canonical = key = target
            id_type = "user_id"
    outcome = yield from _lookup(
        ctx, key, id_type, wait_until=wait_until, give_up_at=give_up_at, prefetched=prefetched
    )
    return attrs.evolve(outcome, canonical=canonical) if canonical else outcome


def _entry_keys(ctx: PlanContext, key: str) -> tuple[str, ...]:
    if ctx.wants_peers:
        return (ctx.entry_key(key), ctx.computed_key(key))
    return (ctx.entry_key(key),)


def _lookup(
    ctx: PlanContext,
    key: str,
    id_type: str,
    *,
    wait_until: float,
    give_up_at: float,
    prefetched: tuple[Any, ...] | None = None,
) -> Plan:
    """The lookup of ``key``.

    ``wait_until`` is when the caller stops waiting (a retry must fit before it);
    ``give_up_at`` is when the lookup itself stops (``time.monotonic`` both).
    ``prefetched``: the store's replies for ``key``'s entry keys, already read.
    """
    stale: Entry | None = None
    peers: dict[str, Any] | None = None
    if ctx.store is not None:
        raw = prefetched
        if raw is None:
            raw = yield StoreGet(
                _entry_keys(ctx, key),
                max(0.0, wait_until - time.monotonic()),
                fields_at=1 if ctx.wants_peers and ctx.fields else -1,
            )
        if ctx.wants_peers:
            peers = _decode_blob(raw[1])
        wire = decode_entry(raw[0])
        if wire is not None:
            now = ctx.clock()
            if now < wire.fresh_until:
                return Outcome(ProfileSourceKind.L2, Entry.from_wire(wire), (), peers)
            if now < wire.expires_at:
                stale = Entry.from_wire(wire)
    if ctx.source is None:
        return _failed(ProfileReason.NO_SOURCE, stale, peers)
    result = yield from _fetch(ctx, key, id_type, wait_until=wait_until, give_up_at=give_up_at)
    if isinstance(result, ProfileReason):
        return _failed(result, stale, peers)
    if result.ok:
        return Outcome(
            ProfileSourceKind.REMOTE, Entry.from_result(result, ctx.clock(), ctx.cfg), (), peers
        )
    # a plugin source may hand over any float: never hold for longer than configured
    wait = bounded_delay(result.retry_after, ctx.cfg.breaker.max_hold)
    if result.error is FetchErrorKind.RATE_LIMITED and wait:
        ctx.breaker.hold(ctx.clock() + wait)
    return _failed(ProfileReason(result.error.value), stale, peers)  # type: ignore[union-attr]


def _fetch(
    ctx: PlanContext, key: str, id_type: str, *, wait_until: float, give_up_at: float
) -> Generator[Op, Any, FetchResult | ProfileReason]:
    """The source's answer for ``key``: one attempt, and one retry when it may help and
    fits; the breaker's reason when it refused the first attempt."""
    result: FetchResult | None = None
    for attempt in (1, 2):
        refusal = ctx.breaker.admit()
        if refusal is not None:
            if result is None:
                return ProfileReason.RATE_LIMITED if refusal.held else ProfileReason.CIRCUIT_OPEN
            break  # keep the first attempt's error
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            result = result or FetchResult.failed(FetchErrorKind.TIMEOUT, "no time left")
            break
        result, elapsed = yield Fetch(key, id_type, remaining)
        ctx.breaker.record(
            ok=result.ok, elapsed=elapsed, timed_out=result.error is FetchErrorKind.TIMEOUT
        )
        if result.ok or attempt == 2 or not ctx.cfg.retry or not result.retryable:
            break
        delay = bounded_delay(result.retry_after, ctx.cfg.breaker.max_hold) or 0.0
        if delay > wait_until - time.monotonic() - MIN_ATTEMPT:
            break  # no time left for the caller, or Retry-After asks for more
        if delay > 0:
            yield Sleep(delay)
    assert result is not None
    return result


def _failed(reason: ProfileReason, stale: Entry | None, peers: dict[str, Any] | None) -> Outcome:
    if stale is not None:
        return Outcome(ProfileSourceKind.STALE, stale, (reason,), peers)
    return Outcome(ProfileSourceKind.FALLBACK, None, (reason,), peers)
