"""Helpers for the profile tests: an injectable clock and a sync/async lookup driver."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from servers.cdp import CdpServer

from persona_sdk.profiles import Profile, ProfileResolver

__all__ = ["START", "Driver", "FakeClock", "Many", "segment_source"]

START = 1_700_000_000.0


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Many:
    """Concurrent lookups under way; ``result()`` waits for all of them."""

    def __init__(self, wait: Callable[[], list[Profile]]) -> None:
        self._wait = wait

    def result(self) -> list[Profile]:
        return self._wait()


class Driver:
    """Runs lookups with threads (``sync``) or asyncio tasks (``async``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        if mode == "async":
            self.loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
            self._thread.start()

    def resolve(self, resolver: ProfileResolver, **ids: Any) -> Profile:
        if self.loop is None:
            return resolver.resolve(**ids)
        return asyncio.run_coroutine_threadsafe(resolver.aresolve(**ids), self.loop).result(30)

    def start_many(self, resolver: ProfileResolver, n: int, **ids: Any) -> Many:
        if self.loop is None:
            results: list[Profile | None] = [None] * n
            barrier = threading.Barrier(n)

            def one(i: int) -> None:
                barrier.wait(10)
                results[i] = resolver.resolve(**ids)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()

            def wait() -> list[Profile]:
                for t in threads:
                    t.join(30)
                return [r for r in results if r is not None]

            return Many(wait)

        async def gather() -> list[Profile]:
            return list(await asyncio.gather(*(resolver.aresolve(**ids) for _ in range(n))))

        fut = asyncio.run_coroutine_threadsafe(gather(), self.loop)
        return Many(lambda: fut.result(30))

    def close(self) -> None:
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()


def segment_source(cdp: CdpServer, **extra: Any) -> dict[str, Any]:
    """Container options for the ``segment`` source pointed at ``cdp``."""
    return {
        "type": "segment",
        "space_id": cdp.space,
        "access_token": cdp.token,
        "base_url": cdp.url,
        **extra,
    }
