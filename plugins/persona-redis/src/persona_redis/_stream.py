"""``RedisStreamDestination``: events appended to a Redis Stream (``XADD``).

Each event is one stream entry ``{"messageId": ..., "event": <JSON>}`` added with an
approximate ``MAXLEN`` (``~``, cheap trimming). The
``messageId`` is the idempotency key: within ``dedupe_window`` seconds an id the stream already
holds is not added again (a retried batch after a lost reply), and consumers may de-duplicate
by it beyond that. A batch is one Lua script: one round trip. On Redis Cluster, give the stream
a hash tag (``{events}``) so the stream and its ``<stream>:seen`` set share a slot.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import msgspec

from persona_sdk import ConfigError
from persona_sdk.plugins import BatchConfig, SendResult

from ._conn import FAILURES, Link, RedisOptions

__all__ = ["RedisStreamDestination"]

class _Id(msgspec.Struct):
    messageId: str = ""


# reads only the messageId: the rest of each event is skipped, not built into a dict
_id_decoder = msgspec.json.Decoder(_Id)

# One script per batch. The batch comes as three strings, not two arguments per event: the
# messageIds joined by newlines, the events back to back, and their lengths (packing a
# thousand arguments costs redis-py's Python packer more than the script costs Redis).
# Forget ids older than the window, look every id up at once (ZMSCORE), append each new
# one (also new within the batch) to the stream, remember them (one ZADD) and trim the
# stream once (MAXLEN ~). Slices of 1000: Lua's unpack has a bounded stack.
_XADD_BATCH = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]) / 1000)
local ids, events = {}, {}
for id in string.gmatch(ARGV[4], '[^\\n]+') do ids[#ids + 1] = id end
local body, pos = ARGV[5], 1
for len in string.gmatch(ARGV[6], '%d+') do
  local n = tonumber(len)
  events[#events + 1] = string.sub(body, pos, pos + n - 1)
  pos = pos + n
end
local added = 0
local taken = {}
for first = 1, #ids, 1000 do
  local slice = {}
  for j = first, math.min(#ids, first + 999) do slice[#slice + 1] = ids[j] end
  local known = redis.call('ZMSCORE', KEYS[2], unpack(slice))
  local remember = {}
  for k, id in ipairs(slice) do
    if not known[k] and not taken[id] then
      taken[id] = true
      redis.call('XADD', KEYS[1], '*', 'messageId', id, 'event', events[first + k - 1])
      remember[#remember + 1] = now
      remember[#remember + 1] = id
      added = added + 1
    end
  end
  if #remember > 0 then redis.call('ZADD', KEYS[2], unpack(remember)) end
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return added
"""


class RedisStreamDestination:
    """A ``persona_sdk.plugins.Destination`` appending events to a Redis Stream.

    Container options (``[destinations.stream] type = "redis_stream"``): ``url``,
    ``cluster``, ``prefix``, ``timeout``, ``cooldown`` (see ``RedisOptions``), ``stream``
    (the key, default ``persona:events``), ``maxlen`` (approximate cap, default 1,000,000),
    ``dedupe_window`` (seconds an accepted messageId is remembered, default 3600).
    """

    passthrough = True
    handles_pii = False

    def __init__(
        self,
        *,
        name: str,
        opts: RedisOptions,
        stream: str = "persona:events",
        maxlen: int = 1_000_000,
        dedupe_window: float = 3600.0,
        batch: BatchConfig | None = None,
    ) -> None:
        self.name = name
        self.batch = batch or BatchConfig()
        self.link = Link(opts)
        self.stream = stream
        self.seen = f"{stream}:seen"  # the same slot as the stream when it has a hash tag
        self.maxlen = maxlen
        self.dedupe_ms = max(1, int(dedupe_window * 1000))
        self.duplicates = 0
        self._script: Any = None

    @classmethod
    def from_options(
        cls, *, name: str, options: Mapping[str, Any], pii: Any = None
    ) -> RedisStreamDestination:
        """The ``persona_sdk.destinations`` factory (``type = "redis_stream"``)."""
        own = {"stream", "maxlen", "dedupe_window"}
        opts = RedisOptions.parse({"timeout": 1.0, **options}, extra=frozenset(own))
        problems = []
        stream = options.get("stream", "persona:events")
        if not isinstance(stream, str) or not stream:
            problems.append("stream: must be a non-empty string")
        maxlen = options.get("maxlen", 1_000_000)
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            problems.append("maxlen: must be a positive integer")
        window = options.get("dedupe_window", 3600.0)
        if isinstance(window, bool) or not isinstance(window, (int, float)) or window <= 0:
            problems.append("dedupe_window: must be a positive number")
        if problems:
            raise ConfigError(problems)
        return cls(name=name, opts=opts, stream=stream, maxlen=maxlen, dedupe_window=window)

    def transform(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Events go as they are."""
        return event

    async def send(self, items: Sequence[bytes], client: httpx.AsyncClient) -> SendResult:
        """Append the batch with one script (one round trip); a Redis failure is retried."""
        ids = []
        for i, item in enumerate(items):
            try:
                mid = _id_decoder.decode(item).messageId
            except (msgspec.DecodeError, msgspec.ValidationError):
                mid = ""
            if not mid or "\n" in mid:  # no usable id: this one is never a duplicate
                mid = f"no-id:{time.time_ns()}:{i}"
            ids.append(mid)
        args = [
            repr(time.time()), self.dedupe_ms, self.maxlen,
            "\n".join(ids), b"".join(items), ",".join(str(len(i)) for i in items),
        ]
        try:
            c = self.link.aclient()
            if self._script is None:
                self._script = c.register_script(_XADD_BATCH)
            added = int(await self._script(keys=[self.stream, self.seen], args=args, client=c))
        except FAILURES as exc:
            return SendResult.retry(f"redis: {type(exc).__name__}: {exc}")
        self.duplicates += len(items) - added
        return SendResult.ok()

    def close(self) -> None:
        """Close the sync client (the asyncio one closes with the delivery loop)."""
        self.link.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop."""
        await self.link.aclose()
