"""Where the stream is: ``nats://host:port/STREAM?subject=...&durable=...&ack_wait=...``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from persona_sdk import ConfigError

__all__ = ["StreamOptions"]


class StreamOptions:
    """A JetStream stream and subject on a NATS server, and the worker's durable consumer.

    ``url`` (``nats://127.0.0.1:4222``), ``stream`` (``PERSONA``), ``subject``
    (``persona.events``), ``durable`` (``persona-workers``: workers sharing it share the work),
    ``ack_wait`` (seconds before an unacknowledged event is delivered again), ``timeout``
    (seconds to wait for a publish acknowledgement), ``create`` (add the stream when missing),
    ``duplicate_window`` (seconds JetStream remembers a ``Nats-Msg-Id``), ``pack`` (events per
    message the destination publishes: 1 sends one message per event with its messageId as
    ``Nats-Msg-Id``; more sends newline-separated events in one message, which is what makes
    tens of thousands of events per second possible from one Python process).
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = "PERSONA",
        subject: str = "persona.events",
        durable: str = "persona-workers",
        ack_wait: float = 30.0,
        timeout: float = 2.0,
        create: bool = True,
        duplicate_window: float = 120.0,
        pack: int = 100,
    ) -> None:
        problems = []
        if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
            problems.append("url: must be a nats:// or tls:// URL")
        for name, value in (("stream", stream), ("subject", subject), ("durable", durable)):
            if not isinstance(value, str) or not value or " " in value:
                problems.append(f"{name}: must be a non-empty name without spaces")
        for name, num in (
            ("ack_wait", ack_wait), ("timeout", timeout), ("duplicate_window", duplicate_window)
        ):
            if isinstance(num, bool) or not isinstance(num, (int, float)) or num <= 0:
                problems.append(f"{name}: must be a positive number")
        if isinstance(pack, bool) or not isinstance(pack, int) or not 1 <= pack <= 10_000:
            problems.append("pack: must be an integer from 1 to 10000")
        if problems:
            raise ConfigError(problems)
        self.pack = pack
        self.url = url
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.ack_wait = float(ack_wait)
        self.timeout = float(timeout)
        self.create = bool(create)
        self.duplicate_window = float(duplicate_window)

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> StreamOptions:
        """From a container's destination options."""
        keys = {"url", "stream", "subject", "durable", "ack_wait", "timeout", "create",
                "duplicate_window", "pack"}
        unknown = set(options) - keys
        if unknown:
            raise ConfigError([f"{k}: unknown field" for k in sorted(unknown)])
        return cls(**options)

    @classmethod
    def from_url(cls, url: str) -> StreamOptions:
        """From ``nats://host:port/STREAM?subject=...&durable=...&ack_wait=...``."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options: dict[str, Any] = {"url": f"{parts.scheme}://{parts.netloc}"}
        if parts.path.strip("/"):
            options["stream"] = parts.path.strip("/")
        for key, value in query.items():
            if key in ("ack_wait", "timeout", "duplicate_window"):
                try:
                    options[key] = float(value)
                except ValueError:
                    raise ConfigError(f"{key}: must be a positive number") from None
            elif key == "pack":
                try:
                    options[key] = int(value)
                except ValueError:
                    raise ConfigError("pack: must be an integer from 1 to 10000") from None
            else:
                options[key] = value
        return cls.parse(options)

    async def ensure_stream(self, js: Any) -> None:
        """Add the stream when it is missing (and ``create`` is on)."""
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            if not self.create:
                raise
            await js.add_stream(StreamConfig(
                name=self.stream, subjects=[self.subject],
                duplicate_window=self.duplicate_window,
            ))
