"""One conformance suite for the store Protocols of ``persona_sdk.plugins``, run against the
core's in-memory stores, Redis and a 3-node Redis Cluster (``redis_backend``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from persona_redis import (
    RedisCounterStore,
    RedisDedupStore,
    RedisOptions,
    RedisProfileStore,
    RedisStickyBucketStore,
)

from persona_sdk import InMemoryCounterStore, InMemoryDedupStore, InMemoryStickyBucketStore
from persona_sdk.plugins import (
    AsyncCounterStore,
    CounterStore,
    DedupStore,
    ListableProfileStore,
    ProfileStore,
    StickyAssignments,
)
from persona_sdk.profiles import InMemoryProfileStore

Opts = RedisOptions | None


def profile_store(opts: Opts) -> Any:
    return InMemoryProfileStore() if opts is None else RedisProfileStore(opts)


def sticky_store(opts: Opts) -> Any:
    return InMemoryStickyBucketStore() if opts is None else RedisStickyBucketStore(opts)


def counter_store(opts: Opts) -> Any:
    return InMemoryCounterStore() if opts is None else RedisCounterStore(opts)


def dedup_store(opts: Opts) -> Any:
    return InMemoryDedupStore() if opts is None else RedisDedupStore(opts)


def together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` on ``n`` threads released at once; their results in order."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- ProfileStore -------------------------------------------------------------------------


def test_profile_store_round_trip(redis_backend: Opts) -> None:
    """get returns what set stored, None for a missing key; delete ignores missing keys."""
    store = profile_store(redis_backend)
    assert isinstance(store, ProfileStore)
    assert store.get("persona:p:u-1") is None
    store.set("persona:p:u-1", b'{"a":1}', ttl=60)
    store.set("persona:p:u-2", b"two", ttl=60)
    assert store.get("persona:p:u-1") == b'{"a":1}'
    store.delete(["persona:p:u-1", "persona:p:missing"])
    assert store.get("persona:p:u-1") is None
    assert store.get("persona:p:u-2") == b"two"
    store.set("persona:p:u-2", b"two", ttl=0)
    assert store.get("persona:p:u-2") is None
    store.close()


def test_profile_store_entries_expire(redis_backend: Opts) -> None:
    """An entry is gone once its ttl has passed."""
    store = profile_store(redis_backend)
    store.set("persona:p:short", b"x", ttl=0.05)
    store.set("persona:p:long", b"y", ttl=60)
    assert eventually(lambda: store.get("persona:p:short") is None)
    assert store.get("persona:p:long") == b"y"
    store.close()


def test_profile_store_fields_are_written_atomically(redis_backend: Opts) -> None:
    """Concurrent writers of different fields of one hash never lose each other's fields,
    and a rewrite of a field replaces only that field."""
    store = profile_store(redis_backend)
    key = "persona:c:u-1"

    def write(i: int) -> None:
        for j in range(20):
            store.set_field(key, f"w{i}", b"[%d]" % j, ttl=60)

    together(8, write)
    fields = store.get_fields(key)
    assert fields == {f"w{i}": b"[19]" for i in range(8)}
    assert store.get_fields("persona:c:nobody") == {}
    store.delete([key])
    assert store.get_fields(key) == {}
    store.close()


def test_profile_store_async_forms(redis_backend: Opts) -> None:
    """aget/aset/adelete/aset_field/aget_fields behave as their sync forms."""
    store = profile_store(redis_backend)

    async def run() -> tuple[Any, ...]:
        await store.aset("persona:p:a", b"1", ttl=60)
        got = await store.aget("persona:p:a")
        await store.aset_field("persona:c:a", "slot", b"{}", ttl=60)
        fields = await store.aget_fields("persona:c:a")
        await store.adelete(["persona:p:a", "persona:c:a"])
        gone = (await store.aget("persona:p:a"), await store.aget_fields("persona:c:a"))
        if hasattr(store, "aclose"):
            await store.aclose()
        return got, fields, gone

    assert asyncio.run(run()) == (b"1", {"slot": b"{}"}, (None, {}))
    store.close()


def test_profile_store_lists_keys_under_a_prefix_in_pages(redis_backend: Opts) -> None:
    """scan_keys yields every live key under the prefix (glob characters in it matched
    literally), in pages no larger than asked on the in-memory store, and skips the rest."""
    store = profile_store(redis_backend)
    assert isinstance(store, ListableProfileStore)
    wanted = {f"ls*[1]:p:{{u-{i}}}" for i in range(25)}
    for key in wanted:
        store.set(key, b"x", ttl=60)
    store.set_field("ls*[1]:c:{u-0}", "w", b"{}", ttl=60)
    store.set("lsX[1]:p:{other}", b"x", ttl=60)  # '*' of the prefix is not a wildcard
    store.set("ls*[1]:p:{gone}", b"x", ttl=60)
    store.delete(["ls*[1]:p:{gone}"])
    pages = list(store.scan_keys("ls*[1]:p:", batch=10))
    assert set().union(*pages) == wanted
    assert all(pages)
    if redis_backend is None:
        assert [len(p) for p in pages] == [10, 10, 5]
    assert list(store.scan_keys("ls*[1]:nothing:", batch=10)) == []
    store.delete([*wanted, "ls*[1]:c:{u-0}", "lsX[1]:p:{other}"])
    store.close()


# -- StickyBucketStore --------------------------------------------------------------------


def doc(value: str, **assignments: str) -> StickyAssignments:
    return StickyAssignments(attribute_name="id", attribute_value=value, assignments=assignments)


def test_sticky_store_round_trip(redis_backend: Opts) -> None:
    """Saved documents load back keyed "name||value"; unknown identifiers are absent; a save
    replaces the document."""
    store = sticky_store(redis_backend)
    store.save(doc("u-1", exp__0="1"))
    store.save(doc("u-2", exp__0="0"))
    store.save(doc("u-1", exp__0="1", other__1="2"))
    got = store.load({"id": "u-1", "deviceId": "d-9"})
    assert got == {"id||u-1": doc("u-1", exp__0="1", other__1="2")}
    assert store.load({"id": "u-3"}) == {}


def test_sticky_store_async_forms(redis_backend: Opts) -> None:
    """aload/asave see the same documents as load/save."""
    store = sticky_store(redis_backend)

    async def run() -> Any:
        await store.asave(doc("u-7", exp__0="1"))
        got = await store.aload({"id": "u-7"})
        if hasattr(store, "aclose"):
            await store.aclose()
        return got

    assert asyncio.run(run()) == {"id||u-7": doc("u-7", exp__0="1")}
    assert store.load({"id": "u-7"}) == {"id||u-7": doc("u-7", exp__0="1")}


# -- CounterStore -------------------------------------------------------------------------


def test_counter_store_increments(redis_backend: Opts) -> None:
    """incr adds (floats too) and returns the new value; get_all returns every field;
    delete forgets the key."""
    store: CounterStore = counter_store(redis_backend)
    assert store.incr("bandit:{x}", "a:shown") == 1.0
    assert store.incr("bandit:{x}", "a:shown", 2) == 3.0
    assert store.incr("bandit:{x}", "a:reward", 0.5) == 0.5
    assert store.get_all("bandit:{x}") == {"a:shown": 3.0, "a:reward": 0.5}
    assert store.get_all("bandit:{y}") == {}
    store.delete("bandit:{x}")
    assert store.get_all("bandit:{x}") == {}


def test_counter_store_increments_are_atomic(redis_backend: Opts) -> None:
    """Concurrent increments all count."""
    store: CounterStore = counter_store(redis_backend)
    together(8, lambda _i: [store.incr("n:{k}", "f") for _ in range(25)])
    assert store.get_all("n:{k}") == {"f": 200.0}


def test_counter_store_window_holds_a_cap_exactly_under_concurrency(redis_backend: Opts) -> None:
    """window_hit checks and adds in one step: 16 threads racing for a cap of 3 get exactly
    3 hits."""
    store: CounterStore = counter_store(redis_backend)
    results = together(16, lambda _i: store.window_hit("cap:{u-1}:p", now=1000.0, window=60.0,
                                                       limit=3))
    assert sorted(results) == [False] * 13 + [True] * 3
    assert store.window_count("cap:{u-1}:p", now=1000.0, window=60.0) == 3


def test_counter_store_window_slides(redis_backend: Opts) -> None:
    """Hits older than the window no longer count (``now`` is given: no wall clock)."""
    store: CounterStore = counter_store(redis_backend)
    k = "cap:{u-2}:p"
    assert store.window_hit(k, now=100.0, window=10.0, limit=2)
    assert store.window_hit(k, now=105.0, window=10.0, limit=2)
    assert not store.window_hit(k, now=109.0, window=10.0, limit=2)
    assert store.window_count(k, now=109.0, window=10.0) == 2
    assert store.window_count(k, now=110.0, window=10.0) == 1  # the hit at 100 left at 110
    assert store.window_hit(k, now=110.0, window=10.0, limit=2)
    store.delete(k)
    assert store.window_count(k, now=110.0, window=10.0) == 0


def test_counter_store_async_forms(redis_backend: Opts) -> None:
    """aincr/aget_all/awindow_hit (``AsyncCounterStore``) act on the same keys as the sync
    methods, and 16 tasks racing for a cap of 3 get exactly 3 hits."""
    if redis_backend is None:
        pytest.skip("the in-memory store has no asyncio side (adecide calls it directly)")
    store = counter_store(redis_backend)
    assert isinstance(store, AsyncCounterStore)
    k = "cap:{u-8}:p"

    async def run() -> Any:
        assert await store.aincr("stats:{u-8}", "a|n") == 1.0
        store.incr("stats:{u-8}", "a|n", 2.0)
        fields = await store.aget_all("stats:{u-8}")
        hits = await asyncio.gather(
            *(store.awindow_hit(k, now=500.0, window=60.0, limit=3) for _ in range(16))
        )
        await store.aclose()
        return fields, hits

    fields, hits = asyncio.run(run())
    assert fields == {"a|n": 3.0}
    assert sorted(hits) == [False] * 13 + [True] * 3
    assert store.window_count(k, now=500.0, window=60.0) == 3
    assert not store.window_hit(k, now=500.0, window=60.0, limit=3)


# -- DedupStore ---------------------------------------------------------------------------


def test_dedup_store_adds_once(redis_backend: Opts) -> None:
    """add is True the first time only, per key."""
    store = dedup_store(redis_backend)
    assert isinstance(store, DedupStore)
    assert store.add("exposure:{u-1}:e:1", ttl=60)
    assert not store.add("exposure:{u-1}:e:1", ttl=60)
    assert store.add("exposure:{u-1}:e:2", ttl=60)


def test_dedup_store_is_atomic(redis_backend: Opts) -> None:
    """16 threads adding one key: exactly one is first."""
    store = dedup_store(redis_backend)
    assert sum(together(16, lambda _i: store.add("exposure:{u-9}:e:0", ttl=60))) == 1


def test_dedup_store_keys_expire(redis_backend: Opts) -> None:
    """After its ttl a key may be added again."""
    store = dedup_store(redis_backend)
    assert store.add("exposure:{u-3}:e:0", ttl=0.05)
    assert eventually(lambda: store.add("exposure:{u-3}:e:0", ttl=60))


# -- forget -------------------------------------------------------------------------------


def test_forget_erases_a_person_everywhere(redis_backend: Opts) -> None:
    """forget(ids) erases every counter, window, dedup key and sticky document naming one of
    the ids, and nothing of anybody else."""
    counters, dedup, sticky = (
        counter_store(redis_backend), dedup_store(redis_backend), sticky_store(redis_backend)
    )
    for who in ("u-1", "a-1", "u-2"):
        counters.incr(f"bandit:{{{who}}}", "f")
        counters.window_hit(f"cap:{{{who}}}:p", now=1.0, window=60.0, limit=5)
        dedup.add(f"exposure:{{{who}}}:e:1", ttl=60)
    sticky.save(doc("u-1", e__0="1"))
    sticky.save(doc("u-2", e__0="1"))
    if hasattr(sticky, "forget"):
        sticky.forget(["u-1", "a-1"])
    counters.forget(["u-1", "a-1"])
    dedup.forget(["u-1", "a-1"])
    for who, kept in (("u-1", False), ("a-1", False), ("u-2", True)):
        assert bool(counters.get_all(f"bandit:{{{who}}}")) is kept
        assert (counters.window_count(f"cap:{{{who}}}:p", now=1.0, window=60.0) == 1) is kept
        assert dedup.add(f"exposure:{{{who}}}:e:1", ttl=60) is not kept
    if redis_backend is not None:  # the in-memory sticky store is per request (no forget)
        assert sticky.load({"id": "u-1"}) == {}
    assert sticky.load({"id": "u-2"}) != {}


@pytest.mark.parametrize("cluster", [False, True])
def test_options_are_checked(cluster: bool) -> None:
    """Bad options raise ConfigError naming each field (no connection is made)."""
    from persona_sdk import ConfigError

    with pytest.raises(ConfigError) as err:
        RedisProfileStore.from_options(
            options={"url": "http://x", "timeout": 0, "cluster": cluster, "bogus": 1}
        )
    assert "bogus: unknown field" in str(err.value)
    with pytest.raises(ConfigError) as err:
        RedisProfileStore.from_options(options={"url": "http://x", "timeout": 0})
    assert "url:" in str(err.value)
    assert "timeout: must be a positive number" in str(err.value)


@pytest.mark.parametrize("backend", ["redis_server", "redis_cluster"])
def test_cap_check_and_counter_in_one_script(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """hit_and_incr (a Redis extra) counts only the hits under the cap, atomically, in one
    script (on the cluster too: the keys share a hash tag)."""
    server = request.getfixturevalue(backend)
    server.flush()
    store = RedisCounterStore(
        RedisOptions(server.url, cluster=backend == "redis_cluster", timeout=2.0))
    results = together(12, lambda _i: store.hit_and_incr(
        "cap:{u-5}:p", "stats:{u-5}", "shown", now=50.0, window=60.0, limit=4))
    assert sorted(hit for hit, _ in results) == [False] * 8 + [True] * 4
    assert store.get_all("stats:{u-5}") == {"shown": 4.0}
    assert max(v for _, v in results) == 4.0
