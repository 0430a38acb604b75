"""The resolver's I/O thread: one asyncio loop, started on the first remote lookup.

Remote lookups, background refreshes and L2 writes run here, so a request thread only ever
waits on a future with a timeout, and an asyncio caller awaits the same future from its own
loop. Nothing starts at import or construction. In a forked child the thread does not exist:
the next use starts a new one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["IoLoop"]

T = TypeVar("T")


class IoLoop:
    """A lazily started daemon thread running an asyncio event loop."""

    def __init__(self, name: str = "persona-profiles") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the thread has been started (in this process) and not closed."""
        return self._loop is not None and self._pid == os.getpid() and not self._closed

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the profile I/O loop is closed")
            if self._pid != os.getpid():
                # forked: the parent's thread is not here; its loop must not be touched
                self._loop = None
                self._thread = None
                self._pid = os.getpid()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._run, args=(loop,), name=self._name, daemon=True
                )
                self._loop, self._thread = loop, thread
                thread.start()
            return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                # as asyncio.run does: nothing may be left pending on a closed loop
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the returned future is safe to wait on from any thread."""
        try:
            loop = self._ensure()
        except RuntimeError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` on the loop thread (starting it if needed)."""
        self._ensure().call_soon_threadsafe(fn)

    def close(
        self,
        timeout: float = 2.0,
        before_stop: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Cancel what runs, await ``before_stop()`` on the loop, stop and join. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
            if self._pid != os.getpid():
                loop = thread = None
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
            if before_stop is not None:
                try:
                    await asyncio.wait_for(before_stop(), timeout)
                except Exception:
                    pass
            asyncio.get_running_loop().stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        except RuntimeError:
            return  # the loop already stopped
        if thread is not threading.current_thread():
            thread.join(timeout * 2 + 1.0)

