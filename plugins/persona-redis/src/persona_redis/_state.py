"""Per-visitor state on Redis: sticky buckets, counters (caps, bandit statistics) and the
exposure de-duplication set. Each store degrades: when Redis fails or is held off by the
guard, it answers from its local in-memory tier (counted in ``stats()``), never raising into
a request, and goes back to Redis when the guard's cooldown has passed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from persona_sdk import InMemoryCounterStore, InMemoryDedupStore, InMemoryStickyBucketStore
from persona_sdk.plugins import StickyAssignments, sticky_key

from ._conn import FAILURES, Link, RedisOptions

__all__ = ["RedisCounterStore", "RedisDedupStore", "RedisStickyBucketStore"]

T = TypeVar("T")

_doc_decoder = msgspec.json.Decoder(StickyAssignments)

# Sliding window, check and add in one step: drop hits older than the window, count, add the
# hit when under the limit, keep the key as long as the window.
_WINDOW_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


# The window check above, then on a hit the counter increment, in one step.
_HIT_AND_INCR = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return {0, redis.call('HGET', KEYS[2], ARGV[6]) or '0'}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local value = redis.call('HINCRBYFLOAT', KEYS[2], ARGV[6], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return {1, value}
"""


class _Guarded:
    """Runs a Redis call, or the local tier when Redis fails or is held off."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.guard = link.guard

    def _try(self, remote: Callable[[Any], T], local: Callable[[], T]) -> T:
        guard = self.guard
        if not guard.open():
            return local()
        try:
            out = remote(self.link.sync)
        except FAILURES as exc:
            guard.failed(exc)
            return local()
        guard.ok()
        return out

    async def _atry(self, remote: Callable[[Any], Any], local: Callable[[], T]) -> T:
        guard = self.guard
        if not guard.open():
            return local()
        try:
            out: T = await remote(self.link.aclient())
        except FAILURES as exc:
            guard.failed(exc)
            return local()
        guard.ok()
        return out

    def forget(self, ids: Iterable[str]) -> int:
        """Delete every key naming one of ``ids`` (``Persona.forget`` calls it)."""
        ids = list(ids)
        self._forget_local(ids)
        return int(self.link.forget(ids))

    def _forget_local(self, ids: list[str]) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        """``calls``, ``errors``, ``fallbacks`` (answered by the local tier), ``down``."""
        return {**self.guard.counts, "down": self.guard.down}

    def close(self) -> None:
        """Close the sync client."""
        self.link.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        await self.link.aclose()


class RedisStickyBucketStore(_Guarded):
    """A ``StickyBucketStore`` and ``AsyncStickyBucketStore`` on Redis (Cluster).

    One string per identifier (``persona:s:{u-1}:id``) holding GrowthBook's document JSON.
    Saved documents are kept in a local tier too, which answers while Redis is down.

    Usage::

        sticky = RedisStickyBucketStore(RedisOptions("redis://127.0.0.1:6379/0"))
        persona = Persona(container, sticky_store=sticky)
    """

    def __init__(self, opts: RedisOptions | None = None, *, ttl: float = 90 * 86_400.0) -> None:
        super().__init__(Link(opts or RedisOptions()))
        self.ttl = ttl
        self.local = InMemoryStickyBucketStore()

    def _key(self, name: str, value: str) -> str:
        return self.link.key("s", value, name)

    def load(self, attributes: Mapping[str, str]) -> dict[str, StickyAssignments]:
        """Documents for ``{attribute name: attribute value}``, keyed ``"name||value"``."""
        pairs = list(attributes.items())

        def remote(c: Any) -> dict[str, StickyAssignments]:
            pipe = c.pipeline(transaction=False)
            for name, value in pairs:
                pipe.get(self._key(name, value))
            return self._decode(pairs, pipe.execute())

        return self._try(remote, lambda: self.local.load(attributes))

    async def aload(self, attributes: Mapping[str, str]) -> dict[str, StickyAssignments]:
        """The asyncio form of ``load``."""
        pairs = list(attributes.items())

        async def remote(c: Any) -> dict[str, StickyAssignments]:
            pipe = c.pipeline(transaction=False)
            for name, value in pairs:
                pipe.get(self._key(name, value))
            return self._decode(pairs, await pipe.execute())

        return await self._atry(remote, lambda: self.local.load(attributes))

    def _decode(
        self, pairs: list[tuple[str, str]], raws: list[Any]
    ) -> dict[str, StickyAssignments]:
        out: dict[str, StickyAssignments] = {}
        for (name, value), raw in zip(pairs, raws, strict=False):
            if raw is None:
                continue
            try:
                out[sticky_key(name, value)] = _doc_decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # another writer's junk: as if absent
        return out

    def save(self, doc: StickyAssignments) -> None:
        """Insert or replace one document (in Redis, and in the local tier)."""
        self.local.save(doc)
        raw = msgspec.json.encode(doc)
        key = self._key(doc.attribute_name, doc.attribute_value)
        ms = int(self.ttl * 1000)
        self._try(lambda c: c.set(key, raw, px=ms), lambda: None)

    async def asave(self, doc: StickyAssignments) -> None:
        """The asyncio form of ``save``."""
        self.local.save(doc)
        raw = msgspec.json.encode(doc)
        key = self._key(doc.attribute_name, doc.attribute_value)
        ms = int(self.ttl * 1000)
        await self._atry(lambda c: c.set(key, raw, px=ms), lambda: None)


class RedisCounterStore(_Guarded):
    """A ``persona_sdk.plugins.CounterStore`` on Redis (Cluster): ``HINCRBYFLOAT`` fields
    and a Lua sliding window (a sorted set of hits) checked and added in one round trip.
    Keys expire ``ttl`` seconds after their last increment (windows: after the window).

    Usage::

        counters = RedisCounterStore(RedisOptions("redis://127.0.0.1:6379/0"))
        counters.window_hit("cap:{u-1}:promo", now=time.time(), window=86_400, limit=3)
    """

    def __init__(self, opts: RedisOptions | None = None, *, ttl: float = 30 * 86_400.0) -> None:
        super().__init__(Link(opts or RedisOptions()))
        self.ttl = ttl
        self.local = InMemoryCounterStore()
        self._script: Any = None
        self._ascript: Any = None
        self._both: Any = None

    def _k(self, key: str) -> str:
        return self.link.prefix + key

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        """Add ``amount`` to ``field`` of ``key``; the new value (local while Redis is down)."""
        k, ms = self._k(key), int(self.ttl * 1000)

        def remote(c: Any) -> float:
            pipe = c.pipeline(transaction=True)
            pipe.hincrbyfloat(k, field, amount)
            pipe.pexpire(k, ms)
            return float(pipe.execute()[0])

        return self._try(remote, lambda: self.local.incr(key, field, amount))

    async def aincr(self, key: str, field: str, amount: float = 1.0) -> float:
        """The asyncio form of ``incr`` (``AsyncCounterStore``: ``visitor.adecide``)."""
        k, ms = self._k(key), int(self.ttl * 1000)

        async def remote(c: Any) -> float:
            pipe = c.pipeline(transaction=True)
            pipe.hincrbyfloat(k, field, amount)
            pipe.pexpire(k, ms)
            return float((await pipe.execute())[0])

        return await self._atry(remote, lambda: self.local.incr(key, field, amount))

    async def aget_all(self, key: str) -> dict[str, float]:
        """The asyncio form of ``get_all``."""
        k = self._k(key)

        async def remote(c: Any) -> dict[str, float]:
            return {f.decode(): float(v) for f, v in (await c.hgetall(k)).items()}

        return await self._atry(remote, lambda: self.local.get_all(key))

    async def awindow_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """The asyncio form of ``window_hit`` (the same Lua script: as atomic)."""
        k = self._k(key)
        member = f"{now!r}:{os.getpid()}:{random.getrandbits(48):012x}"

        async def remote(c: Any) -> bool:
            if self._ascript is None:
                self._ascript = c.register_script(_WINDOW_HIT)
            args = [repr(now), repr(now - window), limit, member, max(1, int(window * 1000))]
            return bool(await self._ascript(keys=[k], args=args, client=c))

        return await self._atry(
            remote, lambda: self.local.window_hit(key, now=now, window=window, limit=limit)
        )

    def get_all(self, key: str) -> dict[str, float]:
        """Every field of ``key``."""
        k = self._k(key)

        def remote(c: Any) -> dict[str, float]:
            return {f.decode(): float(v) for f, v in c.hgetall(k).items()}

        return self._try(remote, lambda: self.local.get_all(key))

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """Record a hit at ``now`` when fewer than ``limit`` hits fall in the window; whether
        it was recorded. Atomic across processes (one Lua script)."""
        k = self._k(key)
        member = f"{now!r}:{os.getpid()}:{random.getrandbits(48):012x}"

        def remote(c: Any) -> bool:
            if self._script is None:
                self._script = c.register_script(_WINDOW_HIT)
            args = [repr(now), repr(now - window), limit, member, max(1, int(window * 1000))]
            return bool(self._script(keys=[k], args=args, client=c))

        return self._try(
            remote, lambda: self.local.window_hit(key, now=now, window=window, limit=limit)
        )

    def hit_and_incr(
        self,
        cap_key: str,
        counter_key: str,
        field: str,
        *,
        now: float,
        window: float,
        limit: int,
        amount: float = 1.0,
    ) -> tuple[bool, float]:
        """A cap check (``window_hit``) and, when under the cap, a counter increment
        (``incr``): one script, one round trip, atomic. Returns ``(hit, counter value)``.
        On a cluster both keys must share a hash tag (``cap:{u-1}:promo``,
        ``stats:{u-1}``)."""
        ck, kk = self._k(cap_key), self._k(counter_key)
        member = f"{now!r}:{os.getpid()}:{random.getrandbits(48):012x}"
        args = [repr(now), repr(now - window), limit, member, max(1, int(window * 1000)),
                field, repr(float(amount)), int(self.ttl * 1000)]

        def remote(c: Any) -> tuple[bool, float]:
            if self._both is None:
                self._both = c.register_script(_HIT_AND_INCR)
            hit, value = self._both(keys=[ck, kk], args=args, client=c)
            return bool(hit), float(value)

        def local() -> tuple[bool, float]:
            hit = self.local.window_hit(cap_key, now=now, window=window, limit=limit)
            value = self.local.incr(counter_key, field, amount if hit else 0.0)
            return hit, value

        return self._try(remote, local)

    def window_count(self, key: str, *, now: float, window: float) -> int:
        """How many hits fall in ``(now - window, now]``."""
        k = self._k(key)
        return self._try(
            lambda c: int(c.zcount(k, f"({now - window!r}", now)),
            lambda: self.local.window_count(key, now=now, window=window),
        )

    def delete(self, key: str) -> None:
        """Forget ``key``'s fields and window."""
        self.local.delete(key)
        k = self._k(key)
        self._try(lambda c: c.delete(k), lambda: None)

    def _forget_local(self, ids: list[str]) -> None:
        self.local.forget(ids)


class RedisDedupStore(_Guarded):
    """A ``persona_sdk.plugins.DedupStore`` on Redis (Cluster): ``SET key 1 NX PX ttl``.

    While Redis is down, the local tier answers: an exposure may then be logged once per
    process (never lost). Usage::

        persona = Persona(container, dedup_store=RedisDedupStore(RedisOptions(url)))
    """

    def __init__(self, opts: RedisOptions | None = None) -> None:
        super().__init__(Link(opts or RedisOptions()))
        self.local = InMemoryDedupStore()

    def add(self, key: str, *, ttl: float) -> bool:
        """Add ``key`` for ``ttl`` seconds; True when it was not there."""
        k, ms = self.link.prefix + key, max(1, int(ttl * 1000))
        return self._try(
            lambda c: bool(c.set(k, b"1", nx=True, px=ms)),
            lambda: self.local.add(key, ttl=ttl),
        )

    def _forget_local(self, ids: list[str]) -> None:
        self.local.forget(ids)
