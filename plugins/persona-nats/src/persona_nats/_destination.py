"""``JetStreamDestination``: events published to a NATS JetStream stream.

A batch is cut into packs of ``pack`` events; each pack is one message, its events separated
by newlines (encoded JSON holds none), with a ``Persona-Events: <count>`` header and, as
``Nats-Msg-Id``, a digest of its bytes: a batch retried after a lost acknowledgement is cut
the same way, so JetStream drops the repeat within its duplicate window (the acknowledgement
says ``duplicate``, and it is counted). With ``pack = 1`` each event is its own message and
its ``Nats-Msg-Id`` is its messageId. Per-message work in the NATS client (a reply inbox, a
future, an acknowledgement to parse) is what limits one Python process, hence packs.

A batch's messages are in flight together and every acknowledgement is awaited; any failure
(server down, no acknowledgement in ``timeout``) makes the batch a RETRY, so the outbox (and
the spool, when on) keeps the events until NATS is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import msgspec

from persona_sdk.plugins import BatchConfig, SendResult

from ._options import StreamOptions

__all__ = ["PACK_HEADER", "JetStreamDestination"]

#: the header of a message holding several newline-separated events: how many
PACK_HEADER = "Persona-Events"

_decoder = msgspec.json.Decoder(dict[str, Any])


class JetStreamDestination:
    """A ``persona_sdk.plugins.Destination`` publishing to JetStream.

    Container options (``[destinations.stream] type = "jetstream"``): see ``StreamOptions``.
    Point a collector's tags at it and run ``persona worker --from nats://...`` elsewhere:
    web nodes only collect, workers deliver.
    """

    passthrough = True
    handles_pii = False

    def __init__(self, *, name: str, opts: StreamOptions, batch: BatchConfig | None = None):
        self.name = name
        self.opts = opts
        self.batch = batch or BatchConfig(max_events=500)
        self.duplicates = 0
        self.published = 0
        self._conn: dict[tuple[int, int], Any] = {}
        self._connecting: dict[tuple[int, int], asyncio.Lock] = {}

    @classmethod
    def from_options(
        cls, *, name: str, options: Mapping[str, Any], pii: Any = None
    ) -> JetStreamDestination:
        """The ``persona_sdk.destinations`` factory (``type = "jetstream"``)."""
        return cls(name=name, opts=StreamOptions.parse(options))

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Events go as they are."""
        return event

    async def _js(self) -> Any:
        key = (os.getpid(), id(asyncio.get_running_loop()))
        found = self._conn.get(key)
        if found is not None and found[0].is_connected:
            return found[1]
        # the first batches are sent concurrently: one connects, the others wait for it
        # (each connecting on its own left all but the last connection open)
        async with self._connecting.setdefault(key, asyncio.Lock()):
            found = self._conn.get(key)
            if found is not None and found[0].is_connected:
                return found[1]
            return await self._connect(key, found)

    async def _connect(self, key: tuple[int, int], found: Any) -> Any:
        import nats

        nc = await nats.connect(
            servers=[self.opts.url],
            connect_timeout=self.opts.timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            allow_reconnect=True,
        )
        js = nc.jetstream(timeout=self.opts.timeout)
        await self.opts.ensure_stream(js)
        if found is not None:
            await _quiet_close(found[0])
        self._conn[key] = (nc, js)
        return js

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Publish the batch and await every acknowledgement; RETRY on any failure."""
        try:
            js = await self._js()
        except Exception as exc:
            return SendResult.retry(f"nats: {type(exc).__name__}: {exc}")
        subject, timeout, pack = self.opts.subject, self.opts.timeout, self.opts.pack

        async def one(item: bytes) -> Any:
            try:
                mid = str(_decoder.decode(item).get("messageId") or "")
            except msgspec.DecodeError:
                mid = ""
            headers = {"Nats-Msg-Id": mid} if mid else None
            return await js.publish(subject, bytes(item), timeout=timeout, headers=headers)

        async def packed(chunk: Sequence[bytes]) -> Any:
            body = b"\n".join(chunk)
            headers = {
                "Nats-Msg-Id": "pack-" + hashlib.blake2b(body, digest_size=16).hexdigest(),
                PACK_HEADER: str(len(chunk)),
            }
            return await js.publish(subject, body, timeout=timeout, headers=headers)

        if pack == 1:
            sends = [one(i) for i in items]
        else:
            sends = [packed(items[i:i + pack]) for i in range(0, len(items), pack)]
        acks = await asyncio.gather(*sends, return_exceptions=True)
        failed = [a for a in acks if isinstance(a, BaseException)]
        done = [a for a in acks if not isinstance(a, BaseException)]
        self.duplicates += sum(1 for a in done if getattr(a, "duplicate", False))
        self.published += len(done)
        if failed:
            first = failed[0]
            return SendResult.retry(
                f"nats: {len(failed)} of {len(sends)} messages unacknowledged "
                f"({type(first).__name__}: {first})"
            )
        return SendResult.ok()

    def close(self) -> None:
        """Nothing to do synchronously (connections close in ``aclose``)."""

    async def aclose(self) -> None:
        """Drain and close this loop's connection."""
        key = (os.getpid(), id(asyncio.get_running_loop()))
        found = self._conn.pop(key, None)
        self._connecting.pop(key, None)
        if found is not None:
            await _quiet_close(found[0])


async def _quiet_close(nc: Any) -> None:
    try:
        await nc.close()
    except Exception:
        pass
