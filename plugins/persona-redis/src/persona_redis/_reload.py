"""``ReloadBroadcaster``: every process switches container together, over Redis pub/sub.

``publish(container)`` sends the container (JSON) on a channel; each process' listener thread
receives it and calls ``persona.reload`` with it. A process that refuses the container (a
``ConfigError``) keeps its last good one and counts the refusal. Started explicitly
(``start()``); restarted lazily in a forked child by calling ``start()`` again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from ._conn import FAILURES, Link, RedisOptions

__all__ = ["ReloadBroadcaster"]

log = logging.getLogger("persona_redis")


class ReloadBroadcaster:
    """Broadcast container reloads to every process subscribed to ``channel``.

    Usage::

        bus = ReloadBroadcaster(persona, RedisOptions(url))
        bus.start()                       # in each process (gunicorn: post_fork)
        bus.publish(new_container_dict)   # from any one process: every process reloads
    """

    def __init__(
        self, persona: Any, opts: RedisOptions | None = None, *, channel: str = "persona:reload"
    ) -> None:
        self.persona = persona
        self.link = Link(opts or RedisOptions(timeout=1.0))
        self.channel = channel
        self.applied = 0
        self.refused = 0
        self.errors = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        self._ready = threading.Event()

    def start(self) -> None:
        """Subscribe (in this process) and apply what arrives; returns once subscribed."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="persona-reload", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self.link.sync.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._ready.set()
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.2)
                    if msg is not None and msg.get("type") == "message":
                        self._apply(msg["data"])
                pubsub.close()
            except FAILURES as exc:
                self.errors += 1
                log.warning("reload channel lost (%s); resubscribing", exc)
                self._stop.wait(0.5)

    def _apply(self, data: bytes) -> None:
        try:
            container = json.loads(data)
            self.persona.reload(container)
        except Exception as exc:
            self.refused += 1
            log.warning("broadcast container refused: %s", exc)
            return
        self.applied += 1

    def publish(self, container: Mapping[str, Any]) -> int:
        """Send ``container`` to every subscribed process; how many received it."""
        return int(self.link.sync.publish(self.channel, json.dumps(container)))

    def stats(self) -> dict[str, int]:
        """``applied``, ``refused`` (invalid containers) and ``errors`` (lost channels)."""
        return {"applied": self.applied, "refused": self.refused, "errors": self.errors}

    def close(self) -> None:
        """Stop listening and close the client."""
        self._stop.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(2.0)
        self._thread = None
        self.link.close()
