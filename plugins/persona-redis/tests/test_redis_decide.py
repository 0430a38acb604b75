"""Caps and bandit statistics through the public path, ``visitor.decide``, on a
``RedisCounterStore``: a decision with a cap costs one round trip to Redis (the cap's script
with the queued bandit increments in the same pipeline), counted on a real connection; the
queued increments reach Redis and survive Redis being down."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from persona_redis import RedisCounterStore, RedisOptions
from redis_servers import RedisServer

from persona_sdk import InMemoryDedupStore, Persona
from persona_sdk.testing import CaptureDestination


class CountingConnection(redis.Connection):
    """A real connection that counts what it writes to the socket: one call per command
    sent alone, one per pipeline (every command of it packed together): round trips."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def counting(store: RedisCounterStore, url: str) -> None:
    """Give ``store`` a client whose connections count round trips."""
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    store.link._sync = redis.Redis(connection_pool=pool)


CONTENT: dict[str, Any] = {
    "content": [{"id": "h1"}, {"id": "h2"}, {"id": "plain"}],
    "placements": {
        "promo": {
            "strategy": "bandit",
            "items": ["h1", "h2"],
            "fallback": "plain",
            "caps": [{"per": "item", "limit": 3, "window": 3600}],
            # statistics read once a minute: a decision reads none of them
            "bandit": {"refresh": 60},
        }
    },
    "tags": [{"name": "all", "destination": "capture"}],
}


def make(store: RedisCounterStore) -> Persona:
    return Persona(
        CONTENT,
        counter_store=store,
        dedup_store=InMemoryDedupStore(),
        destinations={"capture": CaptureDestination(name="capture")},
    )


def test_a_capped_bandit_decision_is_one_round_trip(redis_server: RedisServer) -> None:
    """200 visitors, one decision each on a capped bandit placement: one cap script per
    decision carries the exposures queued by the decisions before it, so Redis sees one
    round trip per decision (plus the statistics' first read and the script's load); after
    ``flush`` the exposures in Redis add up to the decisions."""
    redis_server.flush()
    store = RedisCounterStore(RedisOptions(redis_server.url, timeout=2.0), flush_interval=60)
    counting(store, redis_server.url)
    persona = make(store)
    persona.visitor(anonymous_id="warm").decide("promo")  # statistics read, script loaded
    CountingConnection.sent = 0
    shown = [persona.visitor(anonymous_id=f"v-{i}").decide("promo").ids()[0]
             for i in range(200)]
    assert set(shown) <= {"h1", "h2"}
    assert CountingConnection.sent == 200
    assert store.flush()
    stats = RedisCounterStore(RedisOptions(redis_server.url)).get_all("bandit:promo:*")
    assert stats["h1|n"] + stats["h2|n"] == 201
    assert store.stats()["pending"] == 0
    persona.close()


def test_the_cap_holds_through_decide_on_two_instances(redis_server: RedisServer) -> None:
    """Two Persona instances (two processes' worth) on one Redis: a visitor's cap of 3 on
    the item counts decisions made by both, then the fallback is shown."""
    redis_server.flush()
    opts = RedisOptions(redis_server.url, timeout=2.0)
    a, b = make(RedisCounterStore(opts)), make(RedisCounterStore(opts))
    items = [(a if i % 2 else b).visitor(user_id="u-1").decide("promo").ids()[0]
             for i in range(12)]
    assert items.count("h1") <= 3
    assert items.count("h2") <= 3
    assert items.count("plain") == 12 - items.count("h1") - items.count("h2") == 6
    a.close()
    b.close()


@pytest.mark.parametrize("backend", ["redis_server", "redis_cluster"])
def test_queued_increments_reach_redis(backend: str, request: pytest.FixtureRequest) -> None:
    """``add`` queues; another store (another process) sees the sums after ``flush``, or
    after ``flush_interval`` from the background thread; ``get_all`` reads its own queue
    back."""
    server = request.getfixturevalue(backend)
    server.flush()
    opts = RedisOptions(server.url, cluster=backend == "redis_cluster", timeout=2.0)
    writer = RedisCounterStore(opts, flush_interval=60)
    reader = RedisCounterStore(opts)
    for i in range(10):
        writer.add("bandit:p:*", f"h{i % 2}|n")
    assert reader.get_all("bandit:p:*") == {}
    assert writer.get_all("bandit:p:*") == {"h0|n": 5.0, "h1|n": 5.0}  # sent with the read
    writer.add("bandit:p:*", "h0|s", 2.0)
    assert writer.flush()
    assert reader.get_all("bandit:p:*") == {"h0|n": 5.0, "h1|n": 5.0, "h0|s": 2.0}
    writer.add("bandit:p:*", "h1|s", 3.0)  # goes with the cap check's script
    assert writer.window_hit("cap:{v-1}:h1", now=1.0, window=60.0, limit=1)
    assert not writer.window_hit("cap:{v-1}:h1", now=2.0, window=60.0, limit=1)
    assert reader.get_all("bandit:p:*")["h1|s"] == 3.0
    timed = RedisCounterStore(opts, flush_interval=0.01)
    timed.add("bandit:p:*", "h1|s")
    assert wait_until(lambda: reader.get_all("bandit:p:*").get("h1|s") == 4.0)
    for s in (writer, reader, timed):
        s.close()


def test_queued_increments_wait_for_redis(own_redis: RedisServer) -> None:
    """With Redis down, queued increments stay queued (``flush`` says False, none lost) and
    go through once it is back."""
    opts = RedisOptions(own_redis.url, timeout=0.2, cooldown=0.05)
    store = RedisCounterStore(opts, flush_interval=60)
    own_redis.kill()
    for _ in range(3):
        store.add("bandit:p:*", "h|n")
    assert not store.flush()
    assert store.stats()["pending"] == 1
    assert store.stats()["lost"] == 0
    own_redis.start()
    assert wait_until(store.flush)
    assert RedisCounterStore(opts).get_all("bandit:p:*") == {"h|n": 3.0}
    store.close()


def test_queued_increments_are_sent_when_the_process_exits(redis_server: RedisServer) -> None:
    """A process that queued increments and exits (no flush, a long flush interval) sends
    them on its way out."""
    import subprocess
    import sys

    redis_server.flush()
    code = (
        "from persona_redis import RedisCounterStore, RedisOptions\n"
        f"s = RedisCounterStore(RedisOptions({redis_server.url!r}), flush_interval=3600)\n"
        "for _ in range(7): s.add('bandit:p:*', 'h|n')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    reader = RedisCounterStore(RedisOptions(redis_server.url))
    assert reader.get_all("bandit:p:*") == {"h|n": 7.0}
    reader.close()


def wait_until(check: Any, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False
