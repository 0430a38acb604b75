"""``RedisProfileStore``: the shared (L2) profile tier of ``persona_sdk``'s resolver.

Profile entries are strings with a TTL (``SET ... PX``); computed traits are hashes with one
field per process, written with ``HSET`` + ``PEXPIRE`` in one script (atomic: no
read-modify-write, so processes never lose each other's updates). Every key names its person
in a hash tag (``persona:p:{u-1}``), which keeps a person's keys on one cluster slot and lets
``forget`` find them. Errors raise (the resolver counts them and treats them as misses); while
the guard holds a failed Redis off, calls fail at once instead of waiting for a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import redis

from ._conn import FAILURES, Link, RedisOptions

__all__ = ["RedisProfileStore", "StoreUnavailable"]


class StoreUnavailable(redis.ConnectionError):
    """Redis failed recently; the guard holds it off until its cooldown passes."""


# one field and the hash's expiry, atomically, in one round trip: a script rather than MULTI,
# which redis-py's asyncio cluster client runs on a helper thread, blocking the event loop
_SET_FIELD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
"""


def _queue_reads(pipe: Any, keys: Sequence[str], fields_at: int) -> None:
    for i, k in enumerate(keys):
        if i == fields_at:
            pipe.hgetall(k)
        else:
            pipe.get(k)


def _decode_reads(replies: list[Any], fields_at: int) -> list[Any]:
    if 0 <= fields_at < len(replies):
        replies[fields_at] = {k.decode(): v for k, v in replies[fields_at].items()}
    return replies


def _glob_escape(text: str) -> str:
    # SCAN's MATCH is a glob: a prefix is matched literally
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


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
        self.link.sync.eval(_SET_FIELD, 1, key, field, value, _ms(ttl))

    def get_fields(self, key: str) -> dict[str, bytes]:
        """Every field of the hash under ``key``."""
        raw: dict[bytes, bytes] = self._call(self.link.sync.hgetall, key)
        return {k.decode(): v for k, v in raw.items()}

    def get_many(self, keys: Sequence[str], fields_at: int = -1) -> list[Any]:
        """Several keys in one round trip (one pipeline); the key at ``fields_at`` is a hash,
        answered with its fields. A lookup reads a visitor's link, entry and computed traits
        with it."""
        pipe = self.link.sync.pipeline(transaction=False)
        _queue_reads(pipe, keys, fields_at)
        return _decode_reads(self._call(pipe.execute), fields_at)

    async def aget_many(self, keys: Sequence[str], fields_at: int = -1) -> list[Any]:
        """The asyncio form of ``get_many``."""

        async def run(c: Any) -> Any:
            pipe = c.pipeline(transaction=False)
            _queue_reads(pipe, keys, fields_at)
            return await pipe.execute()

        return _decode_reads(await self._acall(run), fields_at)

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

        await self._acall(lambda c: c.eval(_SET_FIELD, 1, key, field, value, _ms(ttl)))

    async def aget_fields(self, key: str) -> dict[str, bytes]:
        """The asyncio form of ``get_fields``."""
        raw: dict[bytes, bytes] = await self._acall(lambda c: c.hgetall(key))
        return {k.decode(): v for k, v in raw.items()}

    # -- listing (ListableProfileStore) --------------------------------------------------

    def scan_keys(self, prefix: str, *, batch: int = 500) -> Iterator[list[str]]:
        """The live keys starting with ``prefix``, in pages of about ``batch``: ``SCAN``
        with ``MATCH`` and ``COUNT``, over every primary on a Redis Cluster. SCAN may list
        a key twice; a key live for the whole walk is listed at least once."""
        step = max(1, batch)
        if not self.guard.open():
            raise StoreUnavailable("redis is held off after a failure")
        page: list[str] = []
        try:
            for raw in self.link.sync.scan_iter(match=_glob_escape(prefix) + "*", count=step):
                page.append(raw.decode("utf-8", "replace"))
                if len(page) >= step:
                    yield page
                    page = []
        except FAILURES as exc:
            self.guard.failed(exc)
            raise
        if page:
            yield page

    # -- erasure, stats, lifecycle ------------------------------------------------------

    def forget(self, ids: Iterable[str]) -> int:
        """Delete every key of ``prefix`` naming one of ``ids`` (``Persona.forget`` calls
        it), and every id linked to them through identity links, however long the chain
        (``<prefix>a:<earlier id>`` = later id): their links, entries, computed traits and
        back-links. How many keys were deleted. Raises when Redis is down: erasure must not
        be reported done when it was not."""
        wanted = set(ids)
        client, prefix = self.link.sync, self.link.prefix
        links = {
            key[len(prefix) + 2:].decode("utf-8", "replace"): value.decode("utf-8", "replace")
            for key in client.scan_iter(match=prefix + "a:*", count=1000)
            if (value := client.get(key)) is not None
        }
        grew = True
        while grew:  # both ways along the links, until no id is added
            grew = False
            for src, dst in links.items():
                if (src in wanted) != (dst in wanted):
                    wanted.update((src, dst))
                    grew = True
        gone = int(self.link.forget(sorted(wanted)))
        pipe = client.pipeline(transaction=False)
        for i in sorted(wanted):
            for kind in ("a", "p", "c", "r"):
                pipe.delete(f"{prefix}{kind}:{i}")
        return gone + sum(int(n) for n in pipe.execute())

    def stats(self) -> dict[str, Any]:
        """``calls``, ``errors``, ``fallbacks`` (calls not tried while held off), ``down``."""
        return {**self.guard.counts, "down": self.guard.down}

    def close(self) -> None:
        """Close the sync client."""
        self.link.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        await self.link.aclose()
