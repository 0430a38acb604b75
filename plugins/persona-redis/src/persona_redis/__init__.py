"""persona-redis: shared state and an event stream for persona-sdk on Redis and Redis Cluster.

- ``RedisProfileStore``: the resolver's shared L2 tier (entries, computed traits as per-process
  hash fields written atomically); entry point ``persona_sdk.stores: redis``.
- ``RedisStickyBucketStore``, ``RedisCounterStore``, ``RedisDedupStore``: sticky buckets,
  caps and bandit counters, exposure de-duplication; each degrades to a local tier.
- ``RedisStreamDestination``: ``XADD`` with approximate ``MAXLEN``, messageId as the
  idempotency key; entry point ``persona_sdk.destinations: redis_stream``.
- ``ReloadBroadcaster``: container reloads broadcast over pub/sub.

Written only against ``persona_sdk`` and ``persona_sdk.plugins``.
"""

from ._conn import Guard, RedisOptions
from ._profile import RedisProfileStore, StoreUnavailable
from ._reload import ReloadBroadcaster
from ._state import RedisCounterStore, RedisDedupStore, RedisStickyBucketStore
from ._stream import RedisStreamDestination

__all__ = [
    "Guard",
    "RedisCounterStore",
    "RedisDedupStore",
    "RedisOptions",
    "RedisProfileStore",
    "RedisStickyBucketStore",
    "RedisStreamDestination",
    "ReloadBroadcaster",
    "StoreUnavailable",
]
