"""Per-visitor state on Redis: sticky buckets, counters (caps, bandit statistics) and the
exposure de-duplication set. Each store degrades: when Redis fails or is held off by the
guard, it answers from its local in-memory tier (counted in ``stats()``), never raising into
a request, and goes back to Redis when the guard's cooldown has passed.
"""

from __future__ import annotations

import atexit
import os
import random
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec
import redis
import redis.cluster

from persona_sdk import InMemoryCounterStore, InMemoryDedupStore, InMemoryStickyBucketStore
from persona_sdk.plugins import StickyAssignments, sticky_key

from ._conn import FAILURES, Link, RedisOptions

#: redis-py 8.1 (the last release for Python 3.10) refuses EVALSHA in a cluster pipeline
_CLUSTER_PIPELINES_SCRIPTS = "EVALSHA" not in redis.cluster.PIPELINE_BLOCKED_COMMANDS

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

    ``add`` (bandit statistics: increments nobody waits for) only queues the increment; the
    queue goes to Redis in the same pipeline as the next call that needs Redis anyway (a
    cap check: a decision with a cap costs one round trip in all), or within
    ``flush_interval`` seconds from a background thread, or on ``flush()`` (and at exit).
    While Redis is down the queue is kept (up to ``max_pending`` fields; beyond, increments
    are counted as ``lost`` in ``stats()``) and sent when it is back.

    Usage::

        counters = RedisCounterStore(RedisOptions("redis://127.0.0.1:6379/0"))
        persona = Persona(container, counter_store=counters)
        counters.window_hit("cap:{u-1}:promo", now=time.time(), window=86_400, limit=3)
    """

    def __init__(
        self,
        opts: RedisOptions | None = None,
        *,
        ttl: float = 30 * 86_400.0,
        flush_interval: float = 0.2,
        max_pending: int = 100_000,
    ) -> None:
        super().__init__(Link(opts or RedisOptions()))
        self.ttl = ttl
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.local = InMemoryCounterStore()
        self._both: Any = None
        self._sha: str | None = None
        self._plock = threading.Lock()
        self._pending: dict[tuple[str, str], float] = {}
        self._pid = os.getpid()
        self._flusher: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed = False
        self.lost = 0

    def _k(self, key: str) -> str:
        return self.link.prefix + key

    # -- queued increments ----------------------------------------------------------------

    def add(self, key: str, field: str, amount: float = 1.0) -> None:
        """Queue ``amount`` for ``field`` of ``key``: sent with the next round trip, or
        within ``flush_interval`` seconds. No I/O here."""
        with self._plock:
            if self._pid != os.getpid():
                self._after_fork()
            pending = self._pending
            slot = (key, field)
            if slot in pending:
                pending[slot] += amount
            elif len(pending) >= self.max_pending:
                self.lost += 1
                return
            else:
                pending[slot] = amount
            if self._flusher is None and not self._closed:
                self._start_flusher()

    def _after_fork(self) -> None:
        # a child inherits its parent's queue (the parent sends it) but not its thread
        self._pid = os.getpid()
        self._pending = {}
        self._flusher = None
        self._wake = threading.Event()

    def _start_flusher(self) -> None:
        # holds a weak reference: a store nobody uses any more is not kept alive by it
        ref = weakref.ref(self)
        wake = self._wake

        def run() -> None:
            while True:
                store = ref()
                if store is None or store._closed:
                    return
                interval = store.flush_interval
                del store
                wake.wait(interval)
                store = ref()
                if store is None:
                    return
                store.flush()
                del store

        self._flusher = threading.Thread(target=run, name="persona-redis-counters", daemon=True)
        self._flusher.start()
        atexit.register(_flush_at_exit, ref)

    def _take(self) -> dict[tuple[str, str], float]:
        with self._plock:
            if not self._pending or self._pid != os.getpid():
                return {}
            pending, self._pending = self._pending, {}
            return pending

    def _requeue(self, pending: dict[tuple[str, str], float]) -> None:
        # Redis failed: keep the increments for the next attempt (bounded)
        with self._plock:
            mine = self._pending
            for slot, amount in pending.items():
                if slot in mine:
                    mine[slot] += amount
                elif len(mine) < self.max_pending:
                    mine[slot] = amount
                else:
                    self.lost += 1

    def _queue(self, pipe: Any, pending: dict[tuple[str, str], float]) -> None:
        ms = int(self.ttl * 1000)
        keys = set()
        for (key, field), amount in pending.items():
            k = self._k(key)
            pipe.hincrbyfloat(k, field, amount)
            keys.add(k)
        for k in keys:
            pipe.pexpire(k, ms)

    def flush(self) -> bool:
        """Send queued increments now; False when Redis failed (they stay queued)."""
        pending = self._take()
        if not pending:
            return True
        if not self.guard.open():
            self._requeue(pending)
            return False
        try:
            pipe = self.link.sync.pipeline(transaction=False)
            self._queue(pipe, pending)
            pipe.execute()
        except FAILURES as exc:
            self.guard.failed(exc)
            self._requeue(pending)
            return False
        self.guard.ok()
        return True

    def _with_pending(self, c: Any, build: Callable[[Any], None]) -> list[Any]:
        """Run ``build``'s commands after the queued increments, in one pipeline: one round
        trip (on a cluster, one per node the pipeline touches). ``build``'s replies."""
        pending = self._take()
        pipe = c.pipeline(transaction=False)
        try:
            if pending:
                self._queue(pipe, pending)
            build(pipe)
            out: list[Any] = pipe.execute()
        except FAILURES:
            if pending:
                self._requeue(pending)
            raise
        return out[len(out) - 1:] if pending else out

    def _scripts_pipeline(self) -> bool:
        """Whether a script can ride in a pipeline: always on one server; on a cluster only
        where redis-py allows it (8.2 and later; 8.1, the last for Python 3.10, refuses)."""
        return not self.link.opts.cluster or _CLUSTER_PIPELINES_SCRIPTS

    def _evalsha(self, c: Any, keys: list[str], args: list[Any]) -> Any:
        """The sliding-window script with the queued increments: one round trip (two on a
        cluster with an older redis-py: the increments, then the script)."""
        if self._sha is None:
            self._sha = str(c.script_load(_WINDOW_HIT))
        sha = self._sha
        try:
            if not self._scripts_pipeline():
                self._with_pending(c, lambda p: None)
                return c.evalsha(sha, len(keys), *keys, *args)
            (out,) = self._with_pending(c, lambda p: p.evalsha(sha, len(keys), *keys, *args))
        except redis.exceptions.NoScriptError:
            # Redis restarted (scripts are not kept): load it again; the queue went through
            self._sha = None
            return self._evalsha(c, keys, args)
        return out

    def close(self) -> None:
        """Send queued increments, stop the flusher, close the sync client."""
        self._closed = True
        self._wake.set()
        self.flush()
        self.link.close()

    def stats(self) -> dict[str, Any]:
        """As the other stores, with ``pending`` (queued increments) and ``lost``."""
        with self._plock:
            pending = len(self._pending)
        return {**super().stats(), "pending": pending, "lost": self.lost}

    # -- CounterStore -----------------------------------------------------------------------

    def incr(self, key: str, field: str, amount: float = 1.0) -> float:
        """Add ``amount`` to ``field`` of ``key``; the new value (local while Redis is down)."""
        k, ms = self._k(key), int(self.ttl * 1000)

        def remote(c: Any) -> float:
            pending = self._take()
            pipe = c.pipeline(transaction=False)
            try:
                if pending:
                    self._queue(pipe, pending)
                pipe.hincrbyfloat(k, field, amount)
                pipe.pexpire(k, ms)
                out = pipe.execute()
            except FAILURES:
                if pending:
                    self._requeue(pending)
                raise
            return float(out[-2])

        return self._try(remote, lambda: self.local.incr(key, field, amount))

    async def _awith_pending(self, c: Any, build: Callable[[Any], None]) -> list[Any]:
        """``_with_pending`` on the asyncio client: the queued increments ride along."""
        pending = self._take()
        pipe = c.pipeline(transaction=False)
        try:
            if pending:
                self._queue(pipe, pending)
            build(pipe)
            out: list[Any] = await pipe.execute()
        except FAILURES:
            if pending:
                self._requeue(pending)
            raise
        return out[len(out) - 1:] if pending else out

    async def aincr(self, key: str, field: str, amount: float = 1.0) -> float:
        """The asyncio form of ``incr`` (``AsyncCounterStore``: ``visitor.adecide``)."""
        k, ms = self._k(key), int(self.ttl * 1000)

        async def remote(c: Any) -> float:
            pending = self._take()
            pipe = c.pipeline(transaction=False)
            try:
                if pending:
                    self._queue(pipe, pending)
                pipe.hincrbyfloat(k, field, amount)
                pipe.pexpire(k, ms)
                out = await pipe.execute()
            except FAILURES:
                if pending:
                    self._requeue(pending)
                raise
            return float(out[-2])

        return await self._atry(remote, lambda: self.local.incr(key, field, amount))

    async def aget_all(self, key: str) -> dict[str, float]:
        """The asyncio form of ``get_all`` (the queued increments first)."""
        k = self._k(key)

        async def remote(c: Any) -> dict[str, float]:
            (raw,) = await self._awith_pending(c, lambda p: p.hgetall(k))
            return {f.decode(): float(v) for f, v in raw.items()}

        return await self._atry(remote, lambda: self.local.get_all(key))

    async def awindow_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """The asyncio form of ``window_hit`` (the same Lua script: as atomic)."""
        k = self._k(key)
        member = f"{now!r}:{os.getpid()}:{random.getrandbits(48):012x}"
        args = [repr(now), repr(now - window), limit, member, max(1, int(window * 1000))]

        def evalsha(sha: str) -> Callable[[Any], None]:
            return lambda p: p.evalsha(sha, 1, k, *args)

        async def remote(c: Any) -> bool:
            for _ in range(2):
                if self._sha is None:
                    self._sha = str(await c.script_load(_WINDOW_HIT))
                try:
                    if not self._scripts_pipeline():
                        await self._awith_pending(c, lambda p: None)
                        return bool(await c.evalsha(self._sha, 1, k, *args))
                    (out,) = await self._awith_pending(c, evalsha(self._sha))
                except redis.exceptions.NoScriptError:
                    self._sha = None  # Redis restarted (scripts are not kept): load it again
                    continue
                return bool(out)
            raise redis.exceptions.NoScriptError("the window script could not be loaded")

        return await self._atry(
            remote, lambda: self.local.window_hit(key, now=now, window=window, limit=limit)
        )

    def get_all(self, key: str) -> dict[str, float]:
        """Every field of ``key``."""
        k = self._k(key)

        def remote(c: Any) -> dict[str, float]:
            # the queued increments first: a process reads its own statistics back
            (raw,) = self._with_pending(c, lambda p: p.hgetall(k))
            return {f.decode(): float(v) for f, v in raw.items()}

        return self._try(remote, lambda: self.local.get_all(key))

    def window_hit(self, key: str, *, now: float, window: float, limit: int) -> bool:
        """Record a hit at ``now`` when fewer than ``limit`` hits fall in the window; whether
        it was recorded. Atomic across processes (one Lua script)."""
        k = self._k(key)
        member = f"{now!r}:{os.getpid()}:{random.getrandbits(48):012x}"

        def remote(c: Any) -> bool:
            args = [repr(now), repr(now - window), limit, member, max(1, int(window * 1000))]
            return bool(self._evalsha(c, [k], args))

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


def _flush_at_exit(ref: weakref.ref[RedisCounterStore]) -> None:
    # the flusher is a daemon thread: what it has not sent yet goes now
    store = ref()
    if store is not None and not store._closed:
        store.flush()


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
