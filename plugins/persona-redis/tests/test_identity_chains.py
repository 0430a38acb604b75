"""Identity chains through a shared profile store, one conformance suite run on the core's
``InMemoryProfileStore``, on Redis and on a 3-node Redis Cluster: each ``Persona`` here
stands for another process (its own alias map), so a chain of merges made by several of
them is only known through the store. Chains of any length resolve to their last id
(bounded, cycle-safe), and ``forget`` from any process erases the whole chain."""

from __future__ import annotations

from typing import Any

from persona_redis import RedisOptions, RedisProfileStore

from persona_sdk import Persona
from persona_sdk.profiles import InMemoryProfileStore
from persona_sdk.testing import CaptureDestination

CONTAINER: dict[str, Any] = {
    "profiles": {"deadline": 2.0, "computed_flush_interval": 0.01},
    "computed_traits": {
        "spent": {"kind": "sum", "event": "Order Completed", "property": "revenue"}
    },
    "tags": [{"name": "all", "destination": "capture"}],
}


class World:
    """Processes sharing one store (the backend under test)."""

    def __init__(self, opts: RedisOptions | None) -> None:
        self.shared = InMemoryProfileStore() if opts is None else None
        self.opts = opts
        self.made: list[Persona] = []

    def process(self) -> Persona:
        store = self.shared if self.opts is None else RedisProfileStore(self.opts)
        p = Persona(CONTAINER, profile_store=store,
                    destinations={"capture": CaptureDestination(name="capture")})
        self.made.append(p)
        return p

    def close(self) -> None:
        for p in self.made:
            p.close()


def test_a_chain_of_merges_resolves_to_its_last_id(redis_backend: RedisOptions | None) -> None:
    """anonymous → user (one process), user → merged user (another): a third process that
    saw neither resolves the anonymous id and the old user id to the merged user, with the
    merged user's computed traits."""
    world = World(redis_backend)
    try:
        first, second, third = world.process(), world.process(), world.process()
        first.identify("u-1", anonymous_id="a-1")
        assert first.flush(timeout=5.0)
        second.alias("u-2", previous_id="u-1")
        second.track("Order Completed", user_id="u-2", properties={"revenue": 150.0})
        assert second.flush(timeout=5.0)
        anon = third.visitor(anonymous_id="a-1").profile
        assert (anon.canonical_id, dict(anon.computed)) == ("u-2", {"spent": 150.0})
        assert third.visitor(user_id="u-1").profile.canonical_id == "u-2"
        assert third.visitor(user_id="u-2").profile.canonical_id == "u-2"
    finally:
        world.close()


def test_long_chains_and_cycles_are_bounded(redis_backend: RedisOptions | None) -> None:
    """Ten merges made alternately by two processes resolve to the last id in a third;
    links that form a cycle (two processes merging each way at once) end the lookup
    where the cycle closes instead of looping."""
    world = World(redis_backend)
    try:
        a, b, reader = world.process(), world.process(), world.process()
        for i in range(10):
            writer = a if i % 2 else b
            writer.alias(f"x-{i + 1}", previous_id=f"x-{i}")
            assert writer.flush(timeout=5.0)
        assert reader.visitor(anonymous_id="x-0").profile.canonical_id == "x-10"
        assert reader.visitor(user_id="x-4").profile.canonical_id == "x-10"

        a.alias("c-2", previous_id="c-1")
        assert a.flush(timeout=5.0)
        b.alias("c-1", previous_id="c-2")  # b never saw the first link
        assert b.flush(timeout=5.0)
        assert world.process().visitor(anonymous_id="c-1").profile.canonical_id in {"c-1", "c-2"}
    finally:
        world.close()


def test_forget_from_any_process_erases_the_whole_chain(
    redis_backend: RedisOptions | None,
) -> None:
    """A process that never saw the links forgets the merged user: the anonymous id, the
    old user id and the merged user are all gone for every process (no link, no computed
    traits), and a person outside the chain is kept."""
    world = World(redis_backend)
    try:
        first, second = world.process(), world.process()
        first.identify("u-1", anonymous_id="a-1")
        first.track("Order Completed", user_id="u-1", properties={"revenue": 30.0})
        first.track("Order Completed", user_id="other", properties={"revenue": 5.0})
        assert first.flush(timeout=5.0)
        second.alias("u-2", previous_id="u-1")
        second.track("Order Completed", user_id="u-2", properties={"revenue": 150.0})
        assert second.flush(timeout=5.0)
        first.close()
        second.close()

        world.process().forget(user_id="u-2")
        fresh = world.process()
        for kw in ({"anonymous_id": "a-1"}, {"user_id": "u-1"}, {"user_id": "u-2"}):
            profile = fresh.visitor(**kw).profile
            assert profile.canonical_id == next(iter(kw.values())), kw
            assert dict(profile.computed) == {}, kw
        assert dict(fresh.visitor(user_id="other").profile.computed) == {"spent": 5.0}
    finally:
        world.close()
