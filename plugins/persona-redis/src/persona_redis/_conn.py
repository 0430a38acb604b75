"""Connections (Redis or Redis Cluster, sync and asyncio) and the guard that degrades.

Every store of this package talks to Redis through a ``Link``: one sync client (thread-safe,
fork-safe: redis-py's pool reconnects in a child), one asyncio client per event loop and
process, and a ``Guard``. A failed or slow call (a ``socket_timeout`` of ``timeout`` seconds,
no client-side retries) opens the guard for ``cooldown`` seconds; while it is open, calls are
not even tried and the stores answer from their local tier. Every fallback is counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from persona_sdk import ConfigError

__all__ = ["FAILURES", "Guard", "Link", "RedisOptions"]

log = logging.getLogger("persona_redis")

#: what a store falls back on: Redis errors (down, timeout, refused) and socket errors
FAILURES: tuple[type[BaseException], ...] = (redis.RedisError, OSError, asyncio.TimeoutError)


class Guard:
    """Counts calls and failures, and keeps Redis out of the way for ``cooldown`` seconds
    after a failure, so a dead Redis costs one timeout, not one per request."""

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._down_until = 0.0
        self._logged_at = -1e9
        self.counts: dict[str, int] = {"calls": 0, "errors": 0, "fallbacks": 0}

    def open(self) -> bool:
        """Whether Redis may be tried now (counts a fallback when not)."""
        if self._down_until and self._clock() < self._down_until:
            self.counts["fallbacks"] += 1
            return False
        self.counts["calls"] += 1
        return True

    def failed(self, exc: BaseException) -> None:
        """Note a failure: count it, log it at most once a minute, and back off."""
        now = self._clock()
        self.counts["errors"] += 1
        self.counts["fallbacks"] += 1
        self._down_until = now + self.cooldown
        if now - self._logged_at >= 60.0:
            self._logged_at = now
            log.warning(
                "redis unavailable (%s: %s); using local tiers for %.1fs",
                type(exc).__name__, exc, self.cooldown,
            )

    def ok(self) -> None:
        """A call succeeded: Redis is back."""
        self._down_until = 0.0

    @property
    def down(self) -> bool:
        """Whether the guard is holding Redis off now."""
        return bool(self._down_until) and self._clock() < self._down_until


class RedisOptions:
    """Connection options shared by every store: ``url`` (``redis://host:port/db``),
    ``cluster`` (use the cluster client; the URL names any node), ``prefix`` of every key,
    ``timeout`` (seconds per call; a slower Redis counts as down) and ``cooldown``."""

    KEYS = frozenset({"url", "cluster", "prefix", "timeout", "cooldown"})

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        cluster: bool = False,
        prefix: str = "persona:",
        timeout: float = 0.05,
        cooldown: float = 1.0,
    ) -> None:
        problems = _check(url, cluster, prefix, timeout, cooldown)
        if problems:
            raise ConfigError(problems)
        self.url = url
        self.cluster = cluster
        self.prefix = prefix
        self.timeout = float(timeout)
        self.cooldown = float(cooldown)

    @classmethod
    def parse(cls, options: Mapping[str, Any], extra: frozenset[str] = frozenset()) -> RedisOptions:
        """Options from a container mapping; ``ConfigError`` names each bad field."""
        unknown = set(options) - cls.KEYS - extra
        if unknown:
            raise ConfigError([f"{k}: unknown field" for k in sorted(unknown)])
        return cls(**{k: v for k, v in options.items() if k in cls.KEYS})


def _check(url: Any, cluster: Any, prefix: Any, timeout: Any, cooldown: Any) -> list[str]:
    # options come from containers too: check each as the user wrote it
    problems = []
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        problems.append("url: must be a redis://, rediss:// or unix:// URL")
    if not isinstance(cluster, bool):
        problems.append("cluster: must be true or false")
    if not isinstance(prefix, str):
        problems.append("prefix: must be a string")
    for name, value in (("timeout", timeout), ("cooldown", cooldown)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"{name}: must be a positive number")
    return problems


class Link:
    """The clients of one Redis deployment, shared by several stores."""

    def __init__(self, opts: RedisOptions) -> None:
        self.opts = opts
        self.prefix = opts.prefix
        self.guard = Guard(opts.cooldown)
        self._lock = threading.Lock()
        self._sync: Any = None
        self._async: dict[tuple[int, int], Any] = {}

    def _kwargs(self, asyncio_client: bool = False) -> dict[str, Any]:
        t = self.opts.timeout
        retry = (AsyncRetry if asyncio_client else Retry)(NoBackoff(), 0)
        return {
            "socket_timeout": t,
            "socket_connect_timeout": t,
            # no client-side retries: the guard decides, within the caller's deadline
            "retry": retry,
        }

    @property
    def sync(self) -> Any:
        """The blocking client (``redis.Redis`` or ``redis.cluster.RedisCluster``)."""
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    cls = redis.cluster.RedisCluster if self.opts.cluster else redis.Redis
                    self._sync = cls.from_url(self.opts.url, **self._kwargs())
                client = self._sync
        return client

    def aclient(self) -> Any:
        """The asyncio client for the running loop (one per loop and process)."""
        key = (os.getpid(), id(asyncio.get_running_loop()))
        client = self._async.get(key)
        if client is None:
            cls = (
                redis.asyncio.cluster.RedisCluster if self.opts.cluster else redis.asyncio.Redis
            )
            client = self._async[key] = cls.from_url(self.opts.url, **self._kwargs(True))
        return client

    def key(self, kind: str, person: str, *rest: str) -> str:
        """``<prefix><kind>:{<person>}:<rest>``: a key ``forget`` finds by its person."""
        return self.prefix + ":".join((kind, f"{{{person}}}", *rest))

    def forget(self, ids: Any) -> int:
        """Delete every key of this prefix naming one of ``ids`` as ``{id}``; how many."""
        client = self.sync
        gone = 0
        for i in ids:
            pattern = self.prefix + "*{" + _glob_escape(i) + "}*"
            keys = list(client.scan_iter(match=pattern, count=1000))
            for k in keys:
                gone += int(client.delete(k))
        return gone

    def close(self) -> None:
        """Close the sync client (asyncio clients close with ``aclose``)."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        key = (os.getpid(), id(asyncio.get_running_loop()))
        client = self._async.pop(key, None)
        if client is not None:
            await client.aclose()


def _glob_escape(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)
