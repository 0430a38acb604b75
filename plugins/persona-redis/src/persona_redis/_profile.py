"""``RedisProfileStore``: the shared (L2) profile tier of ``persona_sdk``'s resolver.

Profile entries are strings with a TTL (``SET ... PX``); computed traits are hashes with one
field per process, written with ``HSET`` + ``PEXPIRE`` in one ``MULTI`` (atomic: no
read-modify-write, so processes never lose each other's updates). Every key names its person
in a hash tag (``persona:p:{u-1}``), which keeps a person's keys on one cluster slot and lets
``forget`` find them. Errors raise (the resolver counts them and treats them as misses); while
the guard holds a failed Redis off, calls fail at once instead of waiting for a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis

from ._conn import FAILURES, Link, RedisOptions

__all__ = ["RedisProfileStore", "StoreUnavailable"]


class StoreUnavailable(redis.ConnectionError):
    """Redis failed recently; the guard holds it off until its cooldown passes."""


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisProfileStore:
    """A ``persona_sdk.plugins.ProfileStore`` on Redis or Redis Cluster (sync and asyncio).

    Usage (in code, or ``[profiles.store] type = "redis"`` with the same options)::

        store = RedisProfileStore(RedisOptions("redis://127.0.0.1:6379/0"))
        persona = Persona.from_file("persona.toml", profile_store=store)

    The resolver writes keys under its own ``store_prefix`` (``persona:`` by default); this
    store adds nothing to them, so ``prefix`` here only scopes ``forget``'s scan.
    """

    def __init__(self, opts: RedisOptions | None = None) -> None:
        self.link = Link(opts or RedisOptions())
        self.guard = self.link.guard

    @classmethod
    def from_options(cls, *, options: Mapping[str, Any]) -> RedisProfileStore:
        """The ``persona_sdk.stores`` factory (``type = "redis"``)."""
        return cls(RedisOptions.parse(options))

    # -- the guard ---------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.guard.open():
            raise StoreUnavailable("redis is held off after a failure")
        try:
            out = fn(*args, **kwargs)
        except FAILURES as exc:
            self.guard.failed(exc)
            raise
        self.guard.ok()
        return out

    async def _acall(self, make: Any) -> Any:
        if not self.guard.open():
            raise StoreUnavailable("redis is held off after a failure")
        try:
            out = await make(self.link.aclient())
        except FAILURES as exc:
            self.guard.failed(exc)
            raise
        self.guard.ok()
        return out

    # -- ProfileStore -------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None."""
        value: bytes | None = self._call(self.link.sync.get, key)
        return value

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (a ``ttl`` ≤ 0 deletes it)."""
        if ttl <= 0:
            self._call(self.link.sync.delete, key)
        else:
            self._call(self.link.sync.set, key, value, px=_ms(ttl))

    def delete(self, keys: Sequence[str]) -> None:
        """Remove these keys (one command each: they may live on different cluster slots)."""
        if keys:
            self._call(self._delete_all, list(keys))

    def _delete_all(self, keys: list[str]) -> None:
        pipe = self.link.sync.pipeline(transaction=False)
        for k in keys:
            pipe.delete(k)
        pipe.execute()

    def set_field(self, key: str, field: str, value: bytes, *, ttl: float) -> None:
        """Set one field of the hash under ``key`` and its expiry, in one transaction."""
        self._call(self._set_field, key, field, value, ttl)

    def _set_field(self, key: str, field: str, value: bytes, ttl: float) -> None:
        pipe = self.link.sync.pipeline(transaction=True)
        pipe.hset(key, field, value)
        pipe.pexpire(key, _ms(ttl))
        pipe.execute()

    def get_fields(self, key: str) -> dict[str, bytes]:
        """Every field of the hash under ``key``."""
        raw: dict[bytes, bytes] = self._call(self.link.sync.hgetall, key)
        return {k.decode(): v for k, v in raw.items()}

    async def aget(self, key: str) -> bytes | None:
        """The asyncio form of ``get``."""
        value: bytes | None = await self._acall(lambda c: c.get(key))
        return value

    async def aset(self, key: str, value: bytes, *, ttl: float) -> None:
        """The asyncio form of ``set``."""
        if ttl <= 0:
            await self._acall(lambda c: c.delete(key))
        else:
            await self._acall(lambda c: c.set(key, value, px=_ms(ttl)))

    async def adelete(self, keys: Sequence[str]) -> None:
        """The asyncio form of ``delete``."""
        if not keys:
            return

        async def run(c: Any) -> None:
            pipe = c.pipeline(transaction=False)
            for k in keys:
                pipe.delete(k)
            await pipe.execute()

        await self._acall(run)

    async def aset_field(self, key: str, field: str, value: bytes, *, ttl: float) -> None:
        """The asyncio form of ``set_field``."""

        async def run(c: Any) -> None:
            pipe = c.pipeline(transaction=True)
            pipe.hset(key, field, value)
            pipe.pexpire(key, _ms(ttl))
            await pipe.execute()

        await self._acall(run)

    async def aget_fields(self, key: str) -> dict[str, bytes]:
        """The asyncio form of ``get_fields``."""
        raw: dict[bytes, bytes] = await self._acall(lambda c: c.hgetall(key))
        return {k.decode(): v for k, v in raw.items()}

    # -- erasure, stats, lifecycle ------------------------------------------------------

    def forget(self, ids: Iterable[str]) -> int:
        """Delete every key of ``prefix`` naming one of ``ids`` (``Persona.forget`` calls
        it); how many keys were deleted. Raises when Redis is down: erasure must not be
        reported done when it was not."""
        wanted = list(ids)
        gone = int(self.link.forget(wanted))
        # identity links (``<prefix>a:<earlier id>`` = user id) pointing at the person
        client, targets = self.link.sync, {i.encode() for i in wanted}
        for key in list(client.scan_iter(match=self.link.prefix + "a:*", count=1000)):
            if client.get(key) in targets:
                gone += int(client.delete(key))
        return gone

    def stats(self) -> dict[str, Any]:
        """``calls``, ``errors``, ``fallbacks`` (calls not tried while held off), ``down``."""
        return {**self.guard.counts, "down": self.guard.down}

    def close(self) -> None:
        """Close the sync client."""
        self.link.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        await self.link.aclose()
