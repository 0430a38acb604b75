"""``NatsWorker``: ``persona worker --from nats://...`` consumes the stream with a durable pull
consumer and delivers each event through the ``Persona``'s destinations.

A fetched batch is handed to ``Persona.ingest`` event by event (the normal path: profiles,
tags, consent, outboxes; a message of ``JetStreamDestination``'s packs holds several events,
newline-separated), then ``Persona.aflush`` waits until the destinations accepted it; only
then is each message acknowledged. A worker killed before that loses nothing: after
``ack_wait`` JetStream delivers the unacknowledged events to another worker (receivers de-
duplicate by messageId; the repeats are what at-least-once costs). A flush that does not
finish (a destination down) asks for redelivery later (``nak`` with a delay) instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msgspec

from ._destination import PACK_HEADER
from ._options import StreamOptions

__all__ = ["NatsWorker"]

log = logging.getLogger("persona_nats")
_decoder = msgspec.json.Decoder(dict[str, Any])


class NatsWorker:
    """Consume ``opts``' stream until ``stop()``; see the module docstring."""

    def __init__(
        self, persona: Any, opts: StreamOptions, *, batch: int = 200, flush_timeout: float = 10.0
    ) -> None:
        self.persona = persona
        self.opts = opts
        self.batch = batch
        self.flush_timeout = flush_timeout
        self._stop = threading.Event()
        self.counts = {"received": 0, "acked": 0, "rejected": 0, "redelivered": 0, "naks": 0}

    @classmethod
    def from_url(cls, *, url: str, persona: Any) -> NatsWorker:
        """The ``persona_sdk.workers`` factory (``nats``)."""
        return cls(persona, StreamOptions.from_url(url))

    def stop(self) -> None:
        """Ask ``run`` to return after the batch in hand."""
        self._stop.set()

    def run(self) -> int:
        """Consume until ``stop()``; 0 on an orderly stop."""
        asyncio.run(self.arun())
        return 0

    async def arun(self) -> None:
        """The asyncio form of ``run``."""
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import ConsumerConfig

        nc = await nats.connect(
            servers=[self.opts.url], max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        try:
            js = nc.jetstream(timeout=self.opts.timeout)
            await self.opts.ensure_stream(js)
            sub = await js.pull_subscribe(
                self.opts.subject,
                durable=self.opts.durable,
                stream=self.opts.stream,
                config=ConsumerConfig(ack_wait=self.opts.ack_wait),
            )
            while not self._stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch, timeout=0.5)
                except (NatsTimeout, asyncio.TimeoutError):
                    continue
                except Exception as exc:  # server gone: the client reconnects
                    log.warning("fetch failed (%s); retrying", exc)
                    await asyncio.sleep(0.2)
                    continue
                await self._deliver(msgs)
        finally:
            await nc.close()

    async def _deliver(self, msgs: list[Any]) -> None:
        accepted = []
        for msg in msgs:
            self.counts["received"] += 1
            if msg.metadata.num_delivered > 1:
                self.counts["redelivered"] += 1
            packed = msg.headers is not None and PACK_HEADER in msg.headers
            lines = msg.data.split(b"\n") if packed else (msg.data,)
            refused = 0
            for line in lines:
                try:
                    results = self.persona.ingest(_decoder.decode(line))
                except Exception as exc:
                    log.warning("event refused (%s); acknowledged and dropped", exc)
                    refused += 1
                    continue
                if not all(getattr(r, "ok", True) for r in results):
                    refused += 1
            self.counts["rejected"] += refused
            if refused == len(lines) and not packed:
                await msg.term()  # nothing in it can ever be delivered
                continue
            accepted.append(msg)
        if not accepted:
            return
        if await self.persona.aflush(timeout=self.flush_timeout):
            for msg in accepted:
                await msg.ack()
            self.counts["acked"] += len(accepted)
        else:
            for msg in accepted:
                await msg.nak(delay=1.0)
            self.counts["naks"] += len(accepted)
